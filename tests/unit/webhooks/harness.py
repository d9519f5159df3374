"""A webhook system on fakes (or on given adapters), driven by a manual clock: service, queues, consumer."""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.addresses import IPNetwork
from chalicelib.core.queue import MessageQueue
from chalicelib.core.secretbox import SecretBox
from chalicelib.core.store import KeyValueStore
from chalicelib.local.poller import poll_once
from chalicelib.net.ports import Resolver
from chalicelib.webhooks import queue_config
from chalicelib.webhooks.consumer import Deliver, WebhookConsumer
from chalicelib.webhooks.models import Delivery, WebhookEndpoint
from chalicelib.webhooks.policy import RetryPolicy
from chalicelib.webhooks.repository import WebhookRepository
from chalicelib.webhooks.sender import DeliveryOutcome, deliver
from chalicelib.webhooks.service import CreateWebhook, WebhookService
from tests.support.fakes import FakeResolver, FixedRandom, ManualClock
from tests.support.memory import MemoryQueue, MemoryStore

LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"),)
HOST = "hooks.perimeter.test"
MASTER_KEY = b"unit-test-webhook-master-key-0123456789"


@dataclass
class Harness:
    """Everything the webhook flow needs, wired together."""

    clock: ManualClock
    store: KeyValueStore
    queue: MessageQueue
    dlq: MessageQueue
    service: WebhookService
    consumer: WebhookConsumer
    resolver: Resolver
    handled: list[dict[str, Any]] = field(default_factory=list)  # every Lambda event record handled

    @property
    def repo(self) -> WebhookRepository:
        return self.service.repo

    def register(self, url: str, events: list[str] | None = None, tenant: str = "acme") -> tuple[WebhookEndpoint, str]:
        return self.service.create(tenant, CreateWebhook.model_validate({"url": url, "events": events or ["*"]}))

    def delivery(self, tenant: str, webhook_id: str, delivery_id: str) -> Delivery:
        loaded = self.repo.get_delivery(tenant, webhook_id, delivery_id)
        assert loaded is not None
        return loaded[0]

    def handle(self, event: dict[str, Any]) -> Mapping[str, Any]:
        self.handled.extend(event["Records"])
        return self.consumer.handle(event)

    def step(self) -> int:
        """One poll of the queue, as the event source mapping does it."""
        return poll_once(self.queue, self.handle, wait_seconds=0)

    def drain(self, *, next_visible: Callable[[], float | None] | None = None, max_polls: int = 100_000) -> int:
        """Poll until the queue is empty, jumping the clock to the next visible message; returns polls made."""
        find_next = next_visible or getattr(self.queue, "next_visible_at", None)
        assert find_next is not None, "give next_visible for this queue"
        for polls in range(max_polls):
            if self.step():
                continue
            upcoming = find_next()
            if upcoming is None:
                return polls
            self.clock.advance_to(max(upcoming, self.clock.time()) + 0.001)
        raise AssertionError("the queue did not drain")


def build(*, clock: ManualClock | None = None, store: KeyValueStore | None = None,
          queue: MessageQueue | None = None, dlq: MessageQueue | None = None, deliver_fn: Deliver = deliver,
          resolver: Resolver | None = None, allowed: tuple[IPNetwork, ...] = LOOPBACK, timeout: float = 2.0,
          policy: RetryPolicy | None = None, workers: int = queue_config.DELIVERY_WORKERS) -> Harness:
    """A harness on MemoryStore and MemoryQueue (visibility and maxReceiveCount as provisioned) unless given."""
    clock = clock or ManualClock()
    dlq = dlq if dlq is not None else MemoryQueue(clock=clock.time, name="dlq",
                                                   retention_seconds=queue_config.DLQ_RETENTION_SECONDS)
    queue = queue if queue is not None else MemoryQueue(
        clock=clock.time, visibility_timeout=queue_config.VISIBILITY_TIMEOUT_SECONDS,
        retention_seconds=queue_config.MESSAGE_RETENTION_SECONDS, max_receive_count=queue_config.MAX_RECEIVE_COUNT,
        dead_letters=dlq if isinstance(dlq, MemoryQueue) else None, name="queue")
    resolver = resolver or FakeResolver({HOST: ["127.0.0.1"]})
    store = store if store is not None else MemoryStore()
    service = WebhookService(WebhookRepository(store), queue, SecretBox(MASTER_KEY), resolver,
                             allowed, clock=clock.now)
    consumer = WebhookConsumer(service, queue, dlq, resolver, allowed, policy=policy or RetryPolicy(rng=FixedRandom()),
                               clock=clock.now, timeout=timeout, deliver_fn=deliver_fn, workers=workers)
    return Harness(clock, store, queue, dlq, service, consumer, resolver)


@dataclass
class Sent:
    """One call the scripted sender got."""

    url: str
    body: bytes
    headers: dict[str, str]
    at: float


class ScriptedSender:
    """A `deliver` stand-in: answers from `respond(url, headers) -> (status, retry_after)`; records every call."""

    def __init__(self, clock: ManualClock,
                 respond: Callable[[str, dict[str, str]], tuple[int | None, str | None]] | None = None) -> None:
        self.clock = clock
        self.respond = respond or (lambda url, headers: (200, None))
        self.calls: list[Sent] = []

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], *, allowed: tuple[IPNetwork, ...],
                 resolver: Resolver, timeout: float = 10.0) -> DeliveryOutcome:
        self.calls.append(Sent(url, body, dict(headers), self.clock.time()))
        status, retry_after = self.respond(url, dict(headers))
        error = None if status is not None else "connection failed: refused"
        return DeliveryOutcome(status, 3, error, retry_after, "ok" if status == 200 else "",
                               None if status is not None else "connect", "127.0.0.1")
