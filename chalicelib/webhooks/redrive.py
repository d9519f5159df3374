"""Moving dead-lettered webhook messages back to the queue, each delivery starting a new attempt cycle.

A message reaches the DLQ in two ways: the consumer sends it there after the last attempt of a
cycle, or SQS moves it after maxReceiveCount receives (the consumer kept failing on it). Either
way, redriving bumps the delivery's cycle (attempt numbering restarts at 1, the log keeps every
earlier attempt), queues attempt 1 of the new cycle and deletes the DLQ copy. Bodies that are not
ours stay in the DLQ and are counted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.clock import utcnow
from chalicelib.core.queue import MessageQueue
from chalicelib.webhooks.models import Delivery, DeliveryMessage, DeliveryStatus
from chalicelib.webhooks.outbox import GRACE, outbox_entry
from chalicelib.webhooks.repository import WebhookRepository

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RedriveReport:
    """What a redrive did."""

    moved: int  # back on the queue, as attempt 1 of a new cycle
    unreadable: int  # not a delivery message: left in the DLQ
    missing: int  # the delivery record is gone (expired): left in the DLQ
    already_delivered: int = 0  # delivered meanwhile (a crash after the send): removed from the DLQ

    def as_dict(self) -> dict[str, int]:
        """For the CLI's JSON."""
        return {"moved": self.moved, "unreadable": self.unreadable, "missing": self.missing,
                "already_delivered": self.already_delivered}


def redrive(dead_letters: MessageQueue, queue: MessageQueue, repo: WebhookRepository, *,
            max_messages: int | None = None, wait_seconds: int = 1,
            clock: Callable[[], datetime] = utcnow) -> RedriveReport:
    """Move up to `max_messages` (all when None) DLQ messages back to `queue`.

    Stops when a receive brings nothing new (messages left behind are invisible for the DLQ's
    visibility timeout, so one run sees each at most once). Raises QueueUnavailable.
    """
    moved = unreadable = missing = delivered = 0
    seen: set[str] = set()
    while max_messages is None or moved < max_messages:
        want = 10 if max_messages is None else max(1, min(10, max_messages - moved))
        fresh = [m for m in dead_letters.receive(want, wait_seconds=wait_seconds) if m.message_id not in seen]
        if not fresh:
            break
        for received in fresh:
            seen.add(received.message_id)
            try:
                message = DeliveryMessage.decode(received.body)
            except ValueError:
                unreadable += 1
                continue
            restarted = _restart(repo, message, clock())
            if restarted is None:
                missing += 1
                continue
            if restarted.status is DeliveryStatus.DELIVERED:
                dead_letters.delete_batch([received.receipt_handle])
                delivered += 1
                continue
            repo.add_outbox(outbox_entry(restarted))  # pending again: back in the outbox until final
            queue.send(DeliveryMessage(tenant_id=message.tenant_id, webhook_id=message.webhook_id,
                                       delivery_id=message.delivery_id, cycle=restarted.cycle, attempt=1,
                                       not_before=clock()).encode())
            dead_letters.delete_batch([received.receipt_handle])
            moved += 1
    report = RedriveReport(moved, unreadable, missing, delivered)
    log.info("webhook DLQ redrive: %s", report.as_dict())
    return report


def _restart(repo: WebhookRepository, message: DeliveryMessage, now: datetime) -> Delivery | None:
    def restart(delivery: Delivery) -> Delivery | None:
        if delivery.status is DeliveryStatus.DELIVERED:
            return None
        return delivery.model_copy(update={
            "cycle": max(delivery.cycle, message.cycle) + 1, "next_attempt": 1, "next_attempt_at": now,
            "status": DeliveryStatus.PENDING, "failure_reason": None, "updated_at": now, "resends": 0,
            "outbox_at": now + GRACE})

    return repo.update_delivery(message.tenant_id, message.webhook_id, message.delivery_id, restart)
