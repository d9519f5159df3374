"""The webhook outbox on moto DynamoDB + SQS: an event whose send failed, or whose message was lost, arrives once."""

from __future__ import annotations

from typing import Any

from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.aws.sqs import SqsQueue
from chalicelib.local.provision import Resources
from chalicelib.webhooks.models import DeliveryStatus
from chalicelib.webhooks.outbox import GRACE, WebhookOutbox
from tests.integration.webhooks.conftest import ScriptedReceiver, moto_next_visible, moto_queue_counts
from tests.support.fakes import ManualClock
from tests.unit.webhooks.harness import HOST, build


def test_a_failed_send_and_a_lost_message_are_both_delivered_once(
        aws: dict[str, Any], webhook_resources: Resources, moto_clock: ManualClock,
        scripted_receiver: ScriptedReceiver) -> None:
    store = DynamoDBStore(webhook_resources.table, aws["dynamodb"])
    queue = SqsQueue(webhook_resources.queue_url, aws["sqs"])
    h = build(clock=moto_clock, store=store, queue=SqsQueue("", aws["sqs"]),  # no queue URL: every send fails
              dlq=SqsQueue(webhook_resources.dlq_url, aws["sqs"]), timeout=1.0)
    endpoint, _ = h.register(f"http://{HOST}:{scripted_receiver.port}/hook")
    [unsent] = h.service.publish("acme", "scan.completed", {"scan_token": "scn_1"})  # the send fails, logged
    h.service._queue = queue
    [lost] = h.service.publish("acme", "scan.completed", {"scan_token": "scn_2"})
    aws["sqs"].purge_queue(QueueUrl=webhook_resources.queue_url)  # the message is lost
    assert moto_queue_counts(aws["sqs"], webhook_resources.queue_url) == (0, 0, 0)

    h.consumer._queue = h.queue = queue
    outbox = WebhookOutbox(h.repo, queue, h.dlq, clock=moto_clock.now)
    assert outbox.sweep() == 1  # the unsent one at once
    h.drain(next_visible=moto_next_visible(webhook_resources.queue_url))
    moto_clock.advance(GRACE.total_seconds() + 1)
    assert outbox.sweep() == 1  # the lost one after the grace period
    h.drain(next_visible=moto_next_visible(webhook_resources.queue_url))

    tokens = sorted(r.body.decode() for r in scripted_receiver.requests)
    assert len(tokens) == 2 and '"scn_1"' in tokens[0] and '"scn_2"' in tokens[1]
    for delivery_id in (unsent, lost):
        assert h.delivery("acme", endpoint.webhook_id, delivery_id).status is DeliveryStatus.DELIVERED
    assert h.repo.due_outbox(None, limit=10) == []
    assert outbox.sweep() == 0
