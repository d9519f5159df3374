"""The webhook outbox: every delivery that is not final has an index entry, so no event is lost to the queue.

Publishing writes the entry, then the delivery record, then the SQS message. Whatever happens to the
message (the send failed, the embedded stack restarted with an empty in-memory queue, SQS gave up on
it), the delivery record stays `pending` and its entry stays in the index until the delivery is
final. `WebhookOutbox.sweep` looks at the entries that are due and re-sends the current attempt of
every delivery overdue by more than GRACE, a period after which no message of that attempt can
still be on its way (its delay and visibility hops end at the attempt's time; then at most
maxReceiveCount receives of one visibility timeout each). Each re-send first bumps the delivery's
`resends` with a conditional write and carries that number, so an older copy that turns up anyway
is stale and dropped by the consumer: a re-send never delivers the same attempt twice. After
MAX_RESENDS re-sends of one attempt the delivery fails (`undeliverable`) and its message goes to the
DLQ, where the redrive (or the redelivery API) can restart it.

On the embedded stack the queue lives in memory and starts empty: the sweeps of a process built
with `fresh_queue=True` first re-send, at once, every pending delivery not written since the process
started (their timing kept by `not_before`), however many runs that takes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from chalicelib.core import observability as obs
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import QueueUnavailable
from chalicelib.core.queue import MessageQueue
from chalicelib.webhooks.models import Delivery, DeliveryMessage, DeliveryStatus
from chalicelib.webhooks.policy import SQS_VISIBILITY_MARGIN_SECONDS
from chalicelib.webhooks.queue_config import MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT_SECONDS
from chalicelib.webhooks.repository import OutboxEntry, WebhookRepository

log = logging.getLogger(__name__)

# Every receive of a due message may end in a crash and a visibility timeout before SQS dead-letters
# it; the margin covers batching, hop rounding and the consumer's own run time. 45 minutes.
GRACE = timedelta(seconds=MAX_RECEIVE_COUNT * VISIBILITY_TIMEOUT_SECONDS + SQS_VISIBILITY_MARGIN_SECONDS)
MAX_RESENDS = 5  # re-sends of one attempt before the delivery is failed as undeliverable
SWEEP_LIMIT = 500  # entries looked at per sweep
_PAGE = 100
UNDELIVERABLE = "undeliverable"


def outbox_entry(delivery: Delivery) -> OutboxEntry:
    """The entry a new delivery is indexed under (its `outbox_at` must be set)."""
    if delivery.outbox_at is None:
        raise ValueError("the delivery has no outbox time")
    return OutboxEntry(delivery.tenant_id, delivery.webhook_id, delivery.delivery_id, delivery.outbox_at)


def delivery_message(delivery: Delivery) -> DeliveryMessage:
    """The queue message of the delivery's current attempt."""
    return DeliveryMessage(tenant_id=delivery.tenant_id, webhook_id=delivery.webhook_id,
                           delivery_id=delivery.delivery_id, cycle=delivery.cycle, attempt=delivery.next_attempt,
                           resend=delivery.resends, not_before=delivery.next_attempt_at or delivery.created_at)


class WebhookOutbox:
    """Finds deliveries whose message was lost and queues their current attempt again."""

    def __init__(self, repo: WebhookRepository, queue: MessageQueue, dead_letters: MessageQueue, *,
                 clock: Callable[[], datetime] = utcnow, grace: timedelta = GRACE, limit: int = SWEEP_LIMIT,
                 max_resends: int = MAX_RESENDS, fresh_queue: bool = False, metrics: obs.Metrics | None = None) -> None:
        self._repo = repo
        self._queue = queue
        self._dead_letters = dead_letters
        self._clock = clock
        self.grace = grace
        self._limit = limit
        self._max_resends = max_resends
        self._started = clock()  # on a fresh queue, no delivery written before this has a message in it
        self._recovering = fresh_queue
        self._recovered_up_to: str | None = None  # the recovery's cursor across runs
        self._metrics = metrics or obs.NullMetrics()

    def sweep(self, now: datetime | None = None) -> int:
        """Re-queue the current attempt of overdue pending deliveries; returns how many were re-sent.

        Looks at most `limit` entries, oldest first; cleans up entries of final deliveries. Stops
        early (logging) when the queue is unavailable. While recovering a fresh queue, every entry
        is listed, run after run from where the last one stopped, until the end. Raises store errors.
        """
        now = now or self._clock()
        recover = self._recovering
        resent = looked = 0
        after = self._recovered_up_to if recover else None
        seen: set[str] = set()  # an entry moved further on must not be looked at twice in one run
        while looked < self._limit:
            page = self._repo.due_outbox(None if recover else now, limit=min(_PAGE, self._limit - looked),
                                         after=after)
            if not page:
                if recover:
                    self._recovering = False  # every entry was looked at
                break
            for entry in page:
                looked += 1
                if entry.delivery_id in seen:
                    continue
                seen.add(entry.delivery_id)
                try:
                    resent += self._look(entry, now, recover)
                except QueueUnavailable as exc:
                    log.warning("webhook outbox: queue unavailable (%s); %d re-sent, the rest waits", exc, resent)
                    return resent
                if recover:
                    self._recovered_up_to = entry.sk
            after = page[-1].sk
        if resent:
            log.info("webhook outbox: re-sent %d delivery attempt(s)", resent)
        return resent

    def _look(self, entry: OutboxEntry, now: datetime, recover: bool) -> int:
        loaded = self._repo.get_delivery(entry.tenant_id, entry.webhook_id, entry.delivery_id)
        if loaded is None or loaded[0].status is not DeliveryStatus.PENDING:
            self._repo.remove_outbox(entry.check_at, entry.delivery_id)
            return 0
        delivery, version = loaded
        due = delivery.next_attempt_at or delivery.updated_at
        if not (entry.unsent or (recover and delivery.updated_at < self._started)):
            if entry.check_at > now:
                return 0  # not due for a look (listed because the sweep lists every entry while recovering)
            if due + self.grace > now:
                self._repo.move_outbox(entry, due + self.grace)  # a message may still be on its way
                return 0
        if delivery.resends >= self._max_resends:
            self._give_up(entry, delivery, version, now)
            return 0
        bumped = self._bump(delivery, version, max(due, now) + self.grace, now)
        if bumped is None:
            return 0  # the delivery moved on meanwhile; the entry is looked at again next time
        try:
            self._queue.send(delivery_message(bumped).encode())
        except QueueUnavailable:
            self._unbump(bumped)
            raise
        self._repo.move_outbox(entry, bumped.outbox_at or now + self.grace)
        log.info("webhook outbox: re-sent attempt %d of delivery %s (%s)", bumped.next_attempt,
                 bumped.delivery_id, "unsent" if entry.unsent else "recovery" if recover else "overdue")
        return 1

    def _bump(self, seen: Delivery, version: int, check_at: datetime, now: datetime) -> Delivery | None:
        """The delivery with one more re-send, written only if it did not move on; None when it did."""
        won = False

        def bump(current: Delivery) -> Delivery | None:
            nonlocal won
            if (current.status, current.cycle, current.next_attempt, current.resends) != (
                    DeliveryStatus.PENDING, seen.cycle, seen.next_attempt, seen.resends):
                won = False
                return None
            won = True
            return current.model_copy(update={"resends": current.resends + 1, "outbox_at": check_at,
                                              "updated_at": now})

        written = self._repo.update_delivery(seen.tenant_id, seen.webhook_id, seen.delivery_id, bump,
                                             current=(seen, version))
        return written if won else None

    def _unbump(self, bumped: Delivery) -> None:
        """Take back a re-send whose message could not be queued (best effort)."""
        def unbump(current: Delivery) -> Delivery | None:
            if (current.cycle, current.next_attempt, current.resends) != (
                    bumped.cycle, bumped.next_attempt, bumped.resends):
                return None
            return current.model_copy(update={"resends": current.resends - 1})

        try:
            self._repo.update_delivery(bumped.tenant_id, bumped.webhook_id, bumped.delivery_id, unbump)
        except Exception:
            log.exception("webhook outbox: could not take back re-send of %s", bumped.delivery_id)

    def _give_up(self, entry: OutboxEntry, delivery: Delivery, version: int, now: datetime) -> None:
        """Dead-letter the attempt (so a redrive can restart it) and fail the delivery."""
        self._dead_letters.send(delivery_message(delivery).encode())
        self._metrics.record(obs.WEBHOOK_DEAD_LETTERED, reason=UNDELIVERABLE)

        def fail(current: Delivery) -> Delivery | None:
            if current.status is not DeliveryStatus.PENDING:
                return None
            return current.model_copy(update={"status": DeliveryStatus.FAILED, "failure_reason": UNDELIVERABLE,
                                              "next_attempt_at": None, "updated_at": now})

        self._repo.update_delivery(delivery.tenant_id, delivery.webhook_id, delivery.delivery_id, fail,
                                   current=(delivery, version))
        self._repo.remove_outbox(entry.check_at, entry.delivery_id)
        log.warning("webhook outbox: delivery %s failed after %d re-sends of attempt %d", delivery.delivery_id,
                    delivery.resends, delivery.next_attempt)
