"""The webhook outbox: an event recorded is delivered even when its queue message is never sent or is lost."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.bootstrap import Services
from chalicelib.core.errors import QueueUnavailable
from chalicelib.core.queue import lambda_event
from chalicelib.core.settings import Settings
from chalicelib.webhooks.models import DeliveryMessage, DeliveryStatus
from chalicelib.webhooks.outbox import GRACE, MAX_RESENDS, UNDELIVERABLE, WebhookOutbox
from chalicelib.webhooks.queue_config import MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECONDS
from chalicelib.webhooks.redrive import redrive
from tests.conftest import PEPPER
from tests.support.fakes import ManualClock
from tests.support.memory import MemoryQueue, MemoryStore
from tests.unit.webhooks.harness import HOST, Harness, ScriptedSender, build

URL = f"http://{HOST}:8080/hook"
GRACE_SECONDS = GRACE.total_seconds()


class SwitchableQueue(MemoryQueue):
    """A MemoryQueue whose sends fail while `down` (as SQS does in an outage)."""

    down = False

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        if self.down:
            raise QueueUnavailable("down")
        return super().send(body, delay_seconds=delay_seconds)

    def send_batch(self, bodies: Any) -> None:
        if self.down:
            raise QueueUnavailable("down")
        super().send_batch(bodies)


def lose_every_message(queue: MemoryQueue) -> None:
    """What a restart of the embedded stack does to its in-memory queue."""
    queue._messages.clear()


def _setup(respond: Any = None, **outbox: Any) -> tuple[Harness, ScriptedSender, WebhookOutbox, SwitchableQueue]:
    clock = ManualClock()
    sender = ScriptedSender(clock, respond)
    dlq = MemoryQueue(clock=clock.time, name="dlq")
    queue = SwitchableQueue(clock=clock.time, visibility_timeout=VISIBILITY_TIMEOUT_SECONDS,
                            max_receive_count=MAX_RECEIVE_COUNT, dead_letters=dlq, name="queue")
    h = build(clock=clock, deliver_fn=sender, queue=queue, dlq=dlq)
    return h, sender, WebhookOutbox(h.repo, h.queue, h.dlq, clock=clock.now, **outbox), queue


def test_publishing_with_the_queue_down_records_the_event_and_the_sweeper_delivers_it() -> None:
    h, sender, outbox, queue = _setup()
    endpoint, _ = h.register(URL)
    queue.down = True
    [delivery_id] = h.service.publish("acme", "scan.completed", {"scan_token": "scn_1"})  # does not raise
    assert h.delivery("acme", endpoint.webhook_id, delivery_id).status is DeliveryStatus.PENDING
    assert len(queue) == 0
    assert outbox.sweep() == 0  # still down: nothing sent, nothing lost
    queue.down = False
    assert outbox.sweep() == 1  # the send failed, so no grace period is needed
    h.drain()
    assert len(sender.calls) == 1 and json.loads(sender.calls[0].body)["scan_token"] == "scn_1"
    assert h.delivery("acme", endpoint.webhook_id, delivery_id).status is DeliveryStatus.DELIVERED
    assert h.repo.due_outbox(None, limit=10) == []
    assert outbox.sweep() == 0


def test_a_lost_message_is_sent_again_after_the_grace_period_only() -> None:
    h, sender, outbox, queue = _setup()
    endpoint, _ = h.register(URL)
    [delivery_id] = h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    lose_every_message(queue)
    h.clock.advance(GRACE_SECONDS - 1)
    assert outbox.sweep() == 0  # the message might still be on its way
    h.clock.advance(2)
    assert outbox.sweep() == 1
    h.drain()
    assert len(sender.calls) == 1
    assert h.delivery("acme", endpoint.webhook_id, delivery_id).status is DeliveryStatus.DELIVERED


def test_the_grace_period_outlasts_every_receive_sqs_may_still_make() -> None:
    assert GRACE.total_seconds() > MAX_RECEIVE_COUNT * VISIBILITY_TIMEOUT_SECONDS


@pytest.mark.parametrize("original_first", [True, False])
def test_a_resent_attempt_is_never_delivered_twice(original_first: bool) -> None:
    h, sender, outbox, queue = _setup()
    endpoint, _ = h.register(URL)
    [delivery_id] = h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    [original] = queue.receive(10)  # stuck somewhere, not lost
    h.clock.advance(GRACE_SECONDS + 1)
    assert outbox.sweep() == 1
    [resent] = [m for m in queue.receive(10) if DeliveryMessage.decode(m.body).resend == 1]
    assert DeliveryMessage.decode(original.body).resend == 0
    for message in ([original, resent] if original_first else [resent, original]):
        assert h.consumer.handle(lambda_event([message])) == {"batchItemFailures": []}
    assert len(sender.calls) == 1
    assert h.delivery("acme", endpoint.webhook_id, delivery_id).status is DeliveryStatus.DELIVERED


def test_the_lost_retry_of_a_failing_delivery_is_resent_and_the_attempts_stay_in_order() -> None:
    answers = iter([(500, None), (200, None)])
    h, sender, outbox, queue = _setup(lambda url, headers: next(answers))
    endpoint, _ = h.register(URL)
    [delivery_id] = h.service.publish("acme", "scan.failed", {"scan_token": "scn_1"})
    h.step()  # attempt 1 fails; attempt 2 is queued 5 s out
    lose_every_message(queue)
    h.clock.advance(GRACE_SECONDS + 10)
    assert outbox.sweep() == 1
    h.drain()
    delivery = h.delivery("acme", endpoint.webhook_id, delivery_id)
    assert delivery.status is DeliveryStatus.DELIVERED and [a.attempt for a in delivery.attempts] == [1, 2]
    assert len(sender.calls) == 2


def test_a_fresh_queue_recovers_every_pending_delivery_at_once_however_many_runs_it_takes() -> None:
    h, sender, _, queue = _setup()
    h.register(URL)
    for n in range(5):
        h.service.publish("acme", "scan.started", {"n": n})
    h.clock.advance(1)
    lose_every_message(queue)  # the stack restarted: a new process, a new empty queue
    outbox = WebhookOutbox(h.repo, h.queue, h.dlq, clock=h.clock.now, fresh_queue=True, limit=2)
    [later] = h.service.publish("acme", "scan.started", {"n": 5})  # after the restart: its message is queued
    runs = [outbox.sweep() for _ in range(8)]
    assert sum(runs) == 5 and runs[:3] == [2, 2, 1]  # no grace period; the entries they moved are not resent
    assert not outbox._recovering  # recovered: later sweeps wait for the grace period again
    h.drain()
    assert sorted(json.loads(c.body)["n"] for c in sender.calls) == [0, 1, 2, 3, 4, 5] and later


def test_a_delivery_that_reaches_a_final_state_leaves_the_outbox() -> None:
    h, _, _, _ = _setup(lambda url, headers: (410, None))
    h.register(URL)
    h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    assert len(h.repo.due_outbox(None, limit=10)) == 1
    h.drain()
    assert h.repo.due_outbox(None, limit=10) == []


def test_each_sweep_is_bounded() -> None:
    h, _, outbox, queue = _setup(limit=3)
    h.register(URL)
    for n in range(5):
        h.service.publish("acme", "scan.started", {"n": n})
    lose_every_message(queue)
    h.clock.advance(GRACE_SECONDS + 1)
    assert [outbox.sweep(), outbox.sweep(), outbox.sweep()] == [3, 2, 0]
    assert len(queue) == 5


def test_an_attempt_lost_again_and_again_fails_as_undeliverable_and_can_be_redriven() -> None:
    h, sender, outbox, queue = _setup()
    endpoint, _ = h.register(URL)
    [delivery_id] = h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    for _ in range(MAX_RESENDS):
        lose_every_message(queue)
        h.clock.advance(GRACE_SECONDS + 1)
        assert outbox.sweep() == 1
    lose_every_message(queue)
    h.clock.advance(GRACE_SECONDS + 1)
    assert outbox.sweep() == 0
    delivery = h.delivery("acme", endpoint.webhook_id, delivery_id)
    assert (delivery.status, delivery.failure_reason) == (DeliveryStatus.FAILED, UNDELIVERABLE)
    assert h.repo.due_outbox(None, limit=10) == [] and len(h.dlq) == 1  # type: ignore[arg-type]
    assert redrive(h.dlq, h.queue, h.repo, clock=h.clock.now, wait_seconds=0).moved == 1
    assert len(h.repo.due_outbox(None, limit=10)) == 1  # pending again, so in the outbox again
    h.drain()
    assert h.delivery("acme", endpoint.webhook_id, delivery_id).status is DeliveryStatus.DELIVERED
    assert len(sender.calls) == 1 and h.repo.due_outbox(None, limit=10) == []


def test_a_second_sweeper_does_not_send_the_same_attempt_again() -> None:
    h, _, outbox, queue = _setup()
    h.register(URL)
    h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    lose_every_message(queue)
    h.clock.advance(GRACE_SECONDS + 1)
    other = WebhookOutbox(h.repo, h.queue, h.dlq, clock=h.clock.now)
    assert outbox.sweep() + other.sweep() == 1 and len(queue) == 1


def test_services_expose_the_outbox() -> None:
    services = Services(Settings.from_env({}, key_pepper=PEPPER), store=MemoryStore())
    services.webhook_queue = MemoryQueue()
    services.webhook_dlq = MemoryQueue()
    assert isinstance(services.webhook_outbox, WebhookOutbox)
    assert services.webhook_outbox is services.webhook_outbox
    assert services.webhook_outbox.sweep() == 0
