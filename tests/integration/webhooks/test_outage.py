"""A receiver down for 10 minutes while events keep coming: after recovery every event arrives, once.

Time is a manual clock shared by the consumer, the queue and the receiver, so the schedule's real
pauses (5 s, 5 min, 30 min, with jitter) run without sleeping. The 1,000-event run uses MemoryQueue
(visibility, delays, receive counts, retention and the DLQ modelled); a 50-event run does the same
against moto's SQS.
"""

from __future__ import annotations

import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.aws.sqs import SqsQueue
from chalicelib.local.provision import Resources
from chalicelib.webhooks.models import DeliveryStatus
from chalicelib.webhooks.policy import RetryPolicy
from chalicelib.webhooks.queue_config import RECEIVES_BY_DESIGN
from tests.integration.webhooks.conftest import Recorded, ScriptedReceiver, moto_next_visible, moto_queue_counts
from tests.support.fakes import ManualClock
from tests.support.memory import MemoryQueue
from tests.support.webhook_receiver import verify
from tests.unit.webhooks.harness import HOST, Harness, build

OUTAGE_SECONDS = 600


@dataclass
class Outage:
    """The receiver's script: 503 until `recover_at` on the shared clock; every answer logged."""

    clock: ManualClock
    recover_at: float
    log: list[tuple[float, int, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, request: Recorded) -> tuple[int, dict[str, str]]:
        now = self.clock.time()
        status = 200 if now >= self.recover_at else 503
        with self.lock:
            self.log.append((now, status, request.headers["webhook-id"]))
        return status, {}


def _run_until(h: Harness, until: float, next_visible: Callable[[], float | None]) -> None:
    """Let the consumer work while the clock runs up to `until`."""
    while True:
        if h.step():
            continue
        upcoming = next_visible()
        if upcoming is None or upcoming >= until:
            h.clock.advance_to(until)
            return
        h.clock.advance_to(upcoming + 0.001)


def _outage(h: Harness, receiver: ScriptedReceiver, events: int,
            next_visible: Callable[[], float | None]) -> tuple[Outage, list[str], dict[str, str]]:
    outage = Outage(h.clock, h.clock.time() + OUTAGE_SECONDS)
    receiver.respond = outage
    endpoint, secret = h.register(receiver.url("/hook", HOST), ["scan.completed"])
    event_ids: dict[str, str] = {}  # delivery id -> event id
    minutes = OUTAGE_SECONDS // 60
    for minute in range(minutes):  # events keep coming during the whole outage
        for i in range(events // minutes):
            [delivery_id] = h.service.publish("acme", "scan.completed", {"scan_token": f"scn_{minute}_{i}"})
            event_ids[delivery_id] = h.delivery("acme", endpoint.webhook_id, delivery_id).event_id
        _run_until(h, outage.recover_at - OUTAGE_SECONDS + 60 * (minute + 1), next_visible)
    h.drain(next_visible=next_visible)
    assert len(event_ids) == events
    deliveries = [h.delivery("acme", endpoint.webhook_id, d) for d in event_ids]
    assert all(d.status is DeliveryStatus.DELIVERED for d in deliveries)
    return outage, list(event_ids.values()), {"secret": secret, "webhook_id": endpoint.webhook_id}


def _assert_every_event_arrived_once(outage: Outage, event_ids: list[str], receiver: ScriptedReceiver,
                                     secret: str) -> None:
    successes = [(at, wid) for at, status, wid in outage.log if status == 200]
    failures = [(at, wid) for at, status, wid in outage.log if status != 200]
    assert failures and all(at < outage.recover_at for at, _ in failures)  # the outage really happened
    assert all(at >= outage.recover_at for at, _ in successes)
    assert sorted(wid for _, wid in successes) == sorted(event_ids)  # none lost, none twice
    assert len(set(event_ids)) == len(event_ids)
    by_id: dict[str, Recorded] = {}
    for request in receiver.requests:
        by_id.setdefault(request.headers["webhook-id"], request)
    for request in list(by_id.values())[:: max(1, len(by_id) // 25)]:  # signatures hold across retries
        verify([secret], request.headers, request.body, now=int(request.headers["webhook-timestamp"]))
        assert request.body.decode().startswith('{"id":"' + request.headers["webhook-id"] + '"')


@pytest.mark.slow
def test_1000_events_through_a_10_minute_outage_all_arrive_once(scripted_receiver: ScriptedReceiver) -> None:
    clock = ManualClock()
    h = build(clock=clock, timeout=5.0, policy=RetryPolicy(rng=random.Random(1000)))
    assert isinstance(h.queue, MemoryQueue) and isinstance(h.dlq, MemoryQueue)
    outage, event_ids, endpoint = _outage(h, scripted_receiver, 1000, h.queue.next_visible_at)
    _assert_every_event_arrived_once(outage, event_ids, scripted_receiver, endpoint["secret"])
    assert len(h.queue) == 0 and len(h.dlq) == 0 and h.queue.expired == 0
    receives = [int(r["attributes"]["ApproximateReceiveCount"]) for r in h.handled]
    assert max(receives) == RECEIVES_BY_DESIGN  # the 30 min pause takes a 15 min delay and one visibility hop
    assert 1000 * 3 < len(outage.log) <= 1000 * 5  # 0 s, 5 s, 5 min fail; the 35 min attempt lands


def test_50_events_through_a_10_minute_outage_on_moto_sqs(aws: dict[str, Any], webhook_resources: Resources,
                                                          moto_clock: ManualClock,
                                                          scripted_receiver: ScriptedReceiver) -> None:
    h = build(clock=moto_clock, store=DynamoDBStore(webhook_resources.table, aws["dynamodb"]),
              queue=SqsQueue(webhook_resources.queue_url, aws["sqs"]),
              dlq=SqsQueue(webhook_resources.dlq_url, aws["sqs"]), timeout=5.0,
              policy=RetryPolicy(rng=random.Random(50)))
    outage, event_ids, endpoint = _outage(h, scripted_receiver, 50, moto_next_visible(webhook_resources.queue_url))
    _assert_every_event_arrived_once(outage, event_ids, scripted_receiver, endpoint["secret"])
    assert moto_queue_counts(aws["sqs"], webhook_resources.queue_url) == (0, 0, 0)
    assert moto_queue_counts(aws["sqs"], webhook_resources.dlq_url) == (0, 0, 0)
