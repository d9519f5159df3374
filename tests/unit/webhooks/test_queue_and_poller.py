"""MemoryQueue's SQS semantics, the queue constants, the local poller and the redrive command."""

from __future__ import annotations

import itertools
import json
import threading
import time
from typing import Any

import pytest

from chalicelib.admin import run
from chalicelib.bootstrap import Services
from chalicelib.core.contract import WEBHOOK_CONSUMER
from chalicelib.core.errors import QueueUnavailable
from chalicelib.core.queue import lambda_event
from chalicelib.local.poller import WebhookPoller, poll_once, start_webhook_poller
from chalicelib.webhooks import queue_config
from chalicelib.webhooks.models import DeliveryMessage
from chalicelib.webhooks.policy import MAX_VISIBILITY_STEP, SQS_MAX_DELAY_SECONDS
from chalicelib.webhooks.sender import DEFAULT_TIMEOUT
from tests.support.fakes import ManualClock
from tests.support.memory import MemoryQueue
from tests.unit.webhooks.harness import HOST, ScriptedSender, build


def _queues(clock: ManualClock, max_receive_count: int = 3) -> tuple[MemoryQueue, MemoryQueue]:
    dlq = MemoryQueue(clock=clock.time, retention_seconds=1_209_600)
    return MemoryQueue(clock=clock.time, visibility_timeout=60, max_receive_count=max_receive_count,
                       dead_letters=dlq), dlq


def test_memory_queue_models_delay_visibility_and_receive_counts() -> None:
    clock = ManualClock()
    queue, _ = _queues(clock)
    queue.send("later", delay_seconds=30)
    queue.send("now")
    [first] = queue.receive(10)
    assert first.body == "now" and first.receive_count == 1 and queue.receive(10) == []
    clock.advance(30)
    [later] = queue.receive(10)
    assert later.body == "later"
    clock.advance(31)  # "now" was not deleted: visible again after 60 s
    again = queue.receive(10)
    assert [m.body for m in again] == ["now"] and again[0].receive_count == 2
    queue.delete_batch([first.receipt_handle])  # a stale handle deletes nothing
    assert len(queue) == 2
    queue.delete_batch([again[0].receipt_handle])
    assert queue.bodies() == ["later"]


def test_memory_queue_dead_letters_after_max_receives_and_caps_visibility_at_12_hours() -> None:
    clock = ManualClock()
    queue, dlq = _queues(clock, max_receive_count=2)
    queue.send("poison")
    for _ in range(2):
        assert len(queue.receive(1)) == 1
        clock.advance(61)
    assert queue.receive(1) == [] and dlq.bodies() == ["poison"]
    queue.send("long wait")
    [message] = queue.receive(1)
    queue.change_visibility(message.receipt_handle, MAX_VISIBILITY_STEP)
    clock.advance(10)
    with pytest.raises(QueueUnavailable):
        queue.change_visibility(message.receipt_handle, 43_200)  # 12 h from the receive is the limit
    with pytest.raises(QueueUnavailable):
        queue.send("x", delay_seconds=901)


def test_memory_queue_drops_messages_past_retention_and_counts_them() -> None:
    clock = ManualClock()
    queue = MemoryQueue(clock=clock.time, retention_seconds=100)
    queue.send("old")
    clock.advance(101)
    assert queue.receive(10) == [] and queue.expired == 1


def test_queue_constants_keep_their_rules() -> None:
    assert queue_config.check() == []
    assert queue_config.CONSUMER_TIMEOUT_SECONDS == WEBHOOK_CONSUMER.timeout == 60
    assert 6 * WEBHOOK_CONSUMER.timeout <= queue_config.VISIBILITY_TIMEOUT_SECONDS
    assert queue_config.DLQ_RETENTION_SECONDS > queue_config.MESSAGE_RETENTION_SECONDS
    assert SQS_MAX_DELAY_SECONDS + MAX_VISIBILITY_STEP < 43_200 + SQS_MAX_DELAY_SECONDS
    assert queue_config.MAX_MESSAGE_LIFETIME_SECONDS < queue_config.MESSAGE_RETENTION_SECONDS
    attributes = queue_config.queue_attributes("arn:aws:sqs:us-east-1:123456789012:dlq")
    assert json.loads(attributes["RedrivePolicy"])["maxReceiveCount"] == str(queue_config.MAX_RECEIVE_COUNT)


def test_the_production_consumer_sends_with_the_10_second_timeout_and_a_full_batch_of_workers(
        services: Services) -> None:
    services.webhook_queue = MemoryQueue()
    services.webhook_dlq = MemoryQueue()
    consumer = services.webhook_consumer
    assert consumer.timeout == DEFAULT_TIMEOUT == queue_config.SEND_TIMEOUT_SECONDS == 10.0
    assert consumer._workers == queue_config.BATCH_SIZE == 10


def test_poll_once_deletes_what_succeeded_and_keeps_reported_failures() -> None:
    clock = ManualClock()
    queue, _ = _queues(clock)
    for body in ("a", "b", "c"):
        queue.send(body)

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in event["Records"]
                                      if r["body"] == "b"]}

    assert poll_once(queue, handler, wait_seconds=0) == 3
    assert queue.bodies() == ["b"]


@pytest.mark.parametrize("outcome", ["raise", "unknown-id"])
def test_a_failed_handler_or_a_foreign_failure_id_keeps_the_whole_batch(outcome: str) -> None:
    clock = ManualClock()
    queue, _ = _queues(clock)
    queue.send("a")
    queue.send("b")

    def handler(event: dict[str, Any]) -> dict[str, Any]:
        if outcome == "raise":
            raise RuntimeError("boom")
        return {"batchItemFailures": [{"itemIdentifier": ""}]}

    assert poll_once(queue, handler, wait_seconds=0) == 2
    assert len(queue) == 2


def test_lambda_event_has_the_sqs_record_shape() -> None:
    clock = ManualClock()
    queue, _ = _queues(clock)
    queue.send('{"x":1}')
    [record] = lambda_event(queue.receive(1), source_arn="arn:q")["Records"]
    assert set(record) >= {"messageId", "receiptHandle", "body", "attributes", "md5OfBody", "eventSource",
                           "eventSourceARN"}
    assert record["eventSource"] == "aws:sqs" and record["attributes"]["ApproximateReceiveCount"] == "1"


def test_the_poller_thread_delivers_and_stops_fast() -> None:
    clock = ManualClock()
    sender = ScriptedSender(clock)
    h = build(clock=clock, deliver_fn=sender)
    h.register(f"http://{HOST}:8080/hook")
    poller = WebhookPoller(h.queue, h.consumer.handle, wait_seconds=1).start()
    try:
        h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
        deadline = time.monotonic() + 5
        while not sender.calls and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(sender.calls) == 1
    finally:
        started = time.monotonic()
        poller.stop()
    assert not poller.running and time.monotonic() - started < 2.5
    assert len(h.queue) == 0  # type: ignore[arg-type]


class _Watching(MemoryQueue):
    def __init__(self) -> None:
        super().__init__()
        self.received = threading.Event()

    def receive(self, max_messages: int = 10, *, wait_seconds: int = 0) -> Any:
        got = super().receive(max_messages, wait_seconds=wait_seconds)
        if got:
            self.received.set()
        return got


def test_start_webhook_poller_uses_the_services_queue_and_consumer(services: Services) -> None:
    queue = _Watching()
    services.webhook_queue = queue
    services.webhook_dlq = MemoryQueue()
    queue.send("not a delivery")  # the consumer reports it as failed: it stays in the queue
    poller = start_webhook_poller(services)
    try:
        assert queue.received.wait(5)
    finally:
        poller.stop()
    assert not poller.running and queue.bodies() == ["not a delivery"]


def test_admin_redrive_moves_dead_letters_back_as_a_new_cycle(services: Services) -> None:
    clock = ManualClock()
    queue, dlq = MemoryQueue(clock=clock.time), MemoryQueue(clock=clock.time)
    services.webhook_queue, services.webhook_dlq = queue, dlq
    services.auth.create_tenant("acme", "Acme")
    from chalicelib.webhooks.service import CreateWebhook

    endpoint, _ = services.webhooks.create("acme", CreateWebhook(url="https://example.com/h", events=["*"]))
    ids = [services.webhooks.publish("acme", "scan.failed", {"n": i})[0] for i in range(3)]
    for message in queue.receive(10):
        dlq.send(message.body)
        queue.delete_batch([message.receipt_handle])
    dlq.send("garbage")
    out = run(["redrive-webhooks", "--max", "2"], services)
    assert out["moved"] == 2 and len(queue) == 2 and len(dlq) == 2
    out = run(["redrive-webhooks"], services)
    assert out == {"moved": 1, "unreadable": 1, "missing": 0, "already_delivered": 0}
    cycles = {DeliveryMessage.decode(b).delivery_id: DeliveryMessage.decode(b).cycle for b in queue.bodies()}
    assert sorted(cycles) == sorted(ids) and set(cycles.values()) == {2}
    assert all(services.webhooks.get_delivery("acme", endpoint.webhook_id, i).cycle == 2 for i in ids)


def test_the_poller_sweeps_the_outbox_at_once_and_then_every_interval() -> None:
    calls: list[float] = []

    def sweep() -> int:
        calls.append(time.monotonic())
        if len(calls) == 2:
            raise RuntimeError("a failing sweep does not stop the poller")
        return 0

    started = time.monotonic()
    poller = WebhookPoller(MemoryQueue(), lambda event: {"batchItemFailures": []}, wait_seconds=0, sweep=sweep,
                           sweep_interval=0.2).start()
    try:
        deadline = time.monotonic() + 5
        while len(calls) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        poller.stop()
    assert len(calls) >= 4 and calls[0] - started < 1.0
    assert all(later - earlier >= 0.19 for earlier, later in itertools.pairwise(calls))


def test_after_a_restart_the_local_poller_delivers_the_events_the_lost_queue_held(services: Services) -> None:
    """The embedded stack's queue is in memory: a restart empties it; the outbox (in the table) does not."""
    from chalicelib.webhooks.consumer import WebhookConsumer
    from chalicelib.webhooks.service import CreateWebhook

    assert services.settings.stage == "local"
    services.webhook_queue, services.webhook_dlq = MemoryQueue(), MemoryQueue()
    services.auth.create_tenant("acme", "Acme")
    endpoint, _ = services.webhooks.create("acme", CreateWebhook(url="https://example.com/h", events=["*"]))
    ids = [services.webhooks.publish("acme", "scan.completed", {"n": i})[0] for i in range(3)]

    time.sleep(0.005)  # a restart takes time: nothing the old process wrote shares the new one's start millisecond
    restarted = Services(services.settings, store=services.store, resolver=services.resolver)  # same table
    queue = MemoryQueue()  # the new process's queue: empty
    restarted.webhook_queue, restarted.webhook_dlq = queue, MemoryQueue()
    sender = ScriptedSender(ManualClock())
    restarted.webhook_consumer = WebhookConsumer(restarted.webhooks, queue, restarted.webhook_dlq,
                                                 restarted.resolver, restarted.settings.allow_private_targets,
                                                 deliver_fn=sender)
    poller = start_webhook_poller(restarted)
    try:
        deadline = time.monotonic() + 10
        while len(sender.calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        poller.stop()
    assert sorted(json.loads(c.body)["n"] for c in sender.calls) == [0, 1, 2]
    for delivery_id in ids:
        assert restarted.webhooks.get_delivery("acme", endpoint.webhook_id, delivery_id).status.value == "delivered"


def test_stop_abandons_a_delivery_stuck_on_a_slow_receiver_and_keeps_its_message() -> None:
    queue = MemoryQueue(visibility_timeout=60)
    queue.send("a delivery")
    entered, release = threading.Event(), threading.Event()

    def stuck(event: dict[str, Any]) -> dict[str, Any]:
        entered.set()
        release.wait(30)  # a receiver that accepts the connection and never answers
        return {"batchItemFailures": []}

    poller = WebhookPoller(queue, stuck, wait_seconds=1).start()
    try:
        assert entered.wait(5)
        poller.stop(timeout=0.2)  # the stack's shutdown does not wait for the receiver
        assert poller.running  # the daemon thread is left behind with the process
        assert queue.bodies() == ["a delivery"]  # never deleted: received again after its visibility timeout
    finally:
        release.set()
        poller.stop()
    assert not poller.running
