"""The webhook consumer on fakes: schedule, Retry-After, SQS hops, stale and poison messages, disabling, DLQ."""

from __future__ import annotations

import json
import threading
import time
from datetime import timedelta
from typing import Any

from chalicelib.core.queue import QueueMessage, lambda_event
from chalicelib.webhooks.models import DeliveryMessage, DeliveryStatus, DisabledReason, EndpointStatus
from chalicelib.webhooks.policy import RETRY_SCHEDULE
from chalicelib.webhooks.queue_config import MAX_RECEIVE_COUNT, RECEIVES_BY_DESIGN
from chalicelib.webhooks.redrive import redrive
from tests.support.fakes import ManualClock
from tests.support.memory import MemoryQueue
from tests.support.webhook_receiver import verify, verify_perimeter_signature
from tests.unit.webhooks.harness import HOST, Harness, ScriptedSender, build

URL = f"http://{HOST}:8080/hook"


def _setup(respond: Any = None, **kwargs: Any) -> tuple[Harness, ScriptedSender]:
    clock = ManualClock()
    sender = ScriptedSender(clock, respond)
    return build(clock=clock, deliver_fn=sender, **kwargs), sender


def test_a_delivery_is_signed_sent_once_and_logged() -> None:
    h, sender = _setup()
    endpoint, secret = h.register(URL, ["scan.completed"])
    [delivery_id] = h.service.publish("acme", "scan.completed", {"scan_token": "scn_1", "score": 91, "grade": "A"})
    h.drain()
    [call] = sender.calls
    body = json.loads(call.body)
    assert body["event"] == "scan.completed" and body["scan_token"] == "scn_1" and body["id"].startswith("evt_")
    verify([secret], call.headers, call.body, now=int(h.clock.time()))
    verify_perimeter_signature([secret], call.headers["X-Perimeter-Signature"], call.body)
    assert call.headers["webhook-id"] == body["id"] and call.headers["X-Perimeter-Event"] == "scan.completed"
    delivery = h.delivery("acme", endpoint.webhook_id, delivery_id)
    assert delivery.status is DeliveryStatus.DELIVERED and len(delivery.attempts) == 1
    assert delivery.attempts[0].status_code == 200 and delivery.attempts[0].latency_ms == 3
    assert len(h.queue) == 0 and len(h.dlq) == 0  # type: ignore[arg-type]


def test_failures_follow_the_schedule_then_dead_letter_once() -> None:
    h, sender = _setup(lambda url, headers: (500, None))
    endpoint, _ = h.register(URL)
    [delivery_id] = h.service.publish("acme", "scan.failed", {"scan_token": "scn_1"})
    start = h.clock.time()
    h.drain()
    offsets = [round(c.at - start) for c in sender.calls]
    expected, total = [], 0.0
    for pause in RETRY_SCHEDULE:
        total += pause.total_seconds()
        expected.append(round(total))
    assert offsets == expected  # now, 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h (jitter factor 1)
    assert len({c.headers["webhook-id"] for c in sender.calls}) == 1  # one event id for every attempt
    delivery = h.delivery("acme", endpoint.webhook_id, delivery_id)
    assert delivery.status is DeliveryStatus.FAILED and delivery.failure_reason == "retries-exhausted"
    assert [a.attempt for a in delivery.attempts] == list(range(1, 11))
    assert all(a.error == "HTTP 500" for a in delivery.attempts)
    assert isinstance(h.dlq, MemoryQueue) and len(h.dlq) == 1
    assert DeliveryMessage.decode(h.dlq.bodies()[0]).attempt == 10


def test_every_message_is_received_at_most_twice_by_design() -> None:
    h, _ = _setup(lambda url, headers: (503, None))
    h.register(URL)
    h.service.publish("acme", "scan.failed", {"scan_token": "scn_1"})
    h.drain()
    counts = [int(r["attributes"]["ApproximateReceiveCount"]) for r in h.handled]
    assert max(counts) <= RECEIVES_BY_DESIGN < MAX_RECEIVE_COUNT
    assert isinstance(h.queue, MemoryQueue) and h.queue.expired == 0


def test_retry_after_longer_than_the_schedule_is_honoured() -> None:
    answers = iter([(429, "3600"), (200, None)])
    h, sender = _setup(lambda url, headers: next(answers))
    endpoint, _ = h.register(URL)
    [delivery_id] = h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    h.drain()
    assert [round(c.at - sender.calls[0].at) for c in sender.calls] == [0, 3600]
    delivery = h.delivery("acme", endpoint.webhook_id, delivery_id)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempts[0].next_attempt_at == delivery.attempts[0].at + timedelta(seconds=3600)


def test_retry_after_is_ignored_on_a_plain_failure() -> None:
    answers = iter([(500, "3600"), (200, None)])
    h, sender = _setup(lambda url, headers: next(answers))
    h.register(URL)
    h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    h.drain()
    assert [round(c.at - sender.calls[0].at) for c in sender.calls] == [0, 5]


def _message(h: Harness, delivery_id: str, webhook_id: str, *, attempt: int, due_in: float) -> str:
    return DeliveryMessage(tenant_id="acme", webhook_id=webhook_id, delivery_id=delivery_id, cycle=1,
                           attempt=attempt, not_before=h.clock.now() + timedelta(seconds=due_in)).encode()


def test_an_early_first_receive_hides_the_message_until_due() -> None:
    h, sender = _setup()
    endpoint, _ = h.register(URL)
    body = _message(h, "whd_x", endpoint.webhook_id, attempt=2, due_in=6 * 3600)
    received = QueueMessage("m1", "r1", body, {"ApproximateReceiveCount": "1"})
    changed: list[tuple[str, int]] = []
    h.consumer._queue = _Recorder(changed)  # type: ignore[assignment]
    result = h.consumer.handle(lambda_event([received]))
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert changed == [("visibility", 6 * 3600)] and sender.calls == []


def test_a_second_early_receive_requeues_a_fresh_copy_and_acks() -> None:
    h, sender = _setup()
    endpoint, _ = h.register(URL)
    body = _message(h, "whd_x", endpoint.webhook_id, attempt=9, due_in=20 * 3600)
    received = QueueMessage("m1", "r1", body, {"ApproximateReceiveCount": "2"})
    calls: list[tuple[str, int]] = []
    h.consumer._queue = _Recorder(calls)  # type: ignore[assignment]
    assert h.consumer.handle(lambda_event([received])) == {"batchItemFailures": []}
    assert calls == [("send", 900)] and sender.calls == []


def test_a_refused_visibility_change_falls_back_to_a_fresh_copy() -> None:
    h, _ = _setup()
    endpoint, _ = h.register(URL)
    body = _message(h, "whd_x", endpoint.webhook_id, attempt=2, due_in=3600)
    calls: list[tuple[str, int]] = []
    h.consumer._queue = _Recorder(calls, refuse_visibility=True)  # type: ignore[assignment]
    result = h.consumer.handle(lambda_event([QueueMessage("m1", "r1", body, {"ApproximateReceiveCount": "1"})]))
    assert result == {"batchItemFailures": []} and calls == [("send", 900)]


class _Recorder:
    def __init__(self, calls: list[tuple[str, int]], *, refuse_visibility: bool = False) -> None:
        self.calls = calls
        self.refuse = refuse_visibility

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        from chalicelib.core.errors import QueueUnavailable

        if self.refuse:
            raise QueueUnavailable("refused")
        self.calls.append(("visibility", seconds))

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        self.calls.append(("send", delay_seconds))
        return "m2"


def test_a_stale_duplicate_of_an_earlier_attempt_is_acked_without_sending() -> None:
    answers = iter([(500, None), (200, None)])
    h, sender = _setup(lambda url, headers: next(answers))
    endpoint, _ = h.register(URL)
    [delivery_id] = h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    first = h.queue.receive(10)
    h.consumer.handle(lambda_event(first))  # attempt 1 fails; attempt 2 is queued
    duplicate = h.consumer.handle(lambda_event([QueueMessage("dup", "rdup", first[0].body,
                                                             {"ApproximateReceiveCount": "1"})]))
    assert duplicate == {"batchItemFailures": []} and len(sender.calls) == 1
    assert h.delivery("acme", endpoint.webhook_id, delivery_id).next_attempt == 2


def test_a_deleted_endpoint_skips_its_queued_deliveries() -> None:
    h, sender = _setup()
    endpoint, _ = h.register(URL)
    [delivery_id] = h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    h.service.delete("acme", endpoint.webhook_id)
    h.drain()
    assert sender.calls == []
    delivery = h.delivery("acme", endpoint.webhook_id, delivery_id)
    assert (delivery.status, delivery.failure_reason) == (DeliveryStatus.SKIPPED, "endpoint-deleted")


def test_410_disables_the_endpoint_and_later_deliveries_are_skipped() -> None:
    h, sender = _setup(lambda url, headers: (410, None))
    endpoint, _ = h.register(URL)
    [first] = h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    h.drain()
    disabled = h.service.get("acme", endpoint.webhook_id)
    assert (disabled.status, disabled.disabled_reason) == (EndpointStatus.DISABLED, DisabledReason.GONE)
    assert h.delivery("acme", endpoint.webhook_id, first).failure_reason == "endpoint-gone"
    assert h.service.publish("acme", "scan.started", {"scan_token": "scn_2"}) == []  # no longer subscribed
    assert len(sender.calls) == 1 and len(h.dlq) == 0  # type: ignore[arg-type]


def test_an_endpoint_failing_for_five_days_is_disabled_and_a_success_resets_the_count() -> None:
    healthy = threading.Event()
    h, _ = _setup(lambda url, headers: (200, None) if healthy.is_set() else (500, None))
    endpoint, _ = h.register(URL)
    h.service.publish("acme", "scan.started", {"scan_token": "scn_0"})
    h.drain()
    assert h.service.get("acme", endpoint.webhook_id).failing_since is not None
    healthy.set()
    h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    h.drain()
    assert h.service.get("acme", endpoint.webhook_id).failing_since is None  # one success resets it
    healthy.clear()
    for day in range(6):
        h.service.publish("acme", "scan.started", {"scan_token": f"scn_d{day}"})
        h.drain()
        h.clock.advance(24 * 3600)
    disabled = h.service.get("acme", endpoint.webhook_id)
    assert (disabled.status, disabled.disabled_reason) == (EndpointStatus.DISABLED, DisabledReason.FAILING)


def test_a_poison_message_is_retried_alone_and_its_batch_mates_are_acked() -> None:
    h, sender = _setup()
    h.register(URL)
    for i in range(3):
        h.service.publish("acme", "scan.started", {"scan_token": f"scn_{i}"})
    h.queue.send("{this is not ours")
    assert h.step() == 4
    assert len(sender.calls) == 3 and len(h.queue) == 1  # type: ignore[arg-type]
    for _ in range(MAX_RECEIVE_COUNT + 1):  # it keeps failing alone, then SQS dead-letters it
        h.clock.advance(3600)
        h.step()
    assert len(h.queue) == 0 and h.dlq.bodies() == ["{this is not ours"]  # type: ignore[arg-type,attr-defined]


def test_an_exception_on_one_message_fails_only_that_message() -> None:
    h, _ = _setup()
    h.register(URL)
    ids = [h.service.publish("acme", "scan.started", {"scan_token": f"scn_{i}"})[0] for i in range(3)]
    original = h.repo.get_delivery

    def flaky(tenant: str, webhook_id: str, delivery_id: str) -> Any:
        if delivery_id == ids[1]:
            raise RuntimeError("table throttled")
        return original(tenant, webhook_id, delivery_id)

    h.repo.get_delivery = flaky  # type: ignore[method-assign,assignment]
    messages = h.queue.receive(10)
    result = h.consumer.handle(lambda_event(messages))
    failed_body = next(m.body for m in messages if m.message_id == result["batchItemFailures"][0]["itemIdentifier"])
    assert len(result["batchItemFailures"]) == 1 and DeliveryMessage.decode(failed_body).delivery_id == ids[1]


def test_a_batch_is_delivered_concurrently() -> None:
    clock = ManualClock()

    def slow(url: str, headers: dict[str, str]) -> tuple[int, None]:
        time.sleep(0.3)
        return 200, None

    h = build(clock=clock, deliver_fn=ScriptedSender(clock, slow))
    h.register(URL)
    for i in range(10):
        h.service.publish("acme", "scan.started", {"scan_token": f"scn_{i}"})
    started = time.monotonic()
    assert h.step() == 10
    assert time.monotonic() - started < 1.5  # ten 0.3 s sends, side by side


def test_exhausted_delivery_is_redriven_as_a_new_cycle_and_delivered_with_the_same_event_id() -> None:
    healthy = threading.Event()
    h, sender = _setup(lambda url, headers: (200, None) if healthy.is_set() else (500, None))
    endpoint, _ = h.register(URL)
    [delivery_id] = h.service.publish("acme", "scan.completed", {"scan_token": "scn_1"})
    h.drain()
    assert h.delivery("acme", endpoint.webhook_id, delivery_id).status is DeliveryStatus.FAILED
    healthy.set()
    report = redrive(h.dlq, h.queue, h.repo, wait_seconds=0, clock=h.clock.now)
    assert report.moved == 1 and len(h.dlq) == 0  # type: ignore[arg-type]
    h.drain()
    delivery = h.delivery("acme", endpoint.webhook_id, delivery_id)
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.cycle == 2
    assert [(a.cycle, a.attempt) for a in delivery.attempts][-2:] == [(1, 10), (2, 1)]
    assert len({c.headers["webhook-id"] for c in sender.calls}) == 1 and len(sender.calls) == 11
