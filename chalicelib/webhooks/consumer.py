"""The webhook consumer: one Lambda SQS batch in, `{"batchItemFailures": [...]}` out.

Per message (one delivery attempt, see `queue_config` for the design):
- unreadable body: reported as a batch failure; the redrive policy dead-letters it after maxReceiveCount;
- not due yet (`not_before` ahead): on its first receive, ChangeMessageVisibility up to 11.5 h and a
  batch failure (it comes back then); on a later receive, or when SQS refuses the change, a fresh
  copy with DelaySeconds and an ack;
- stale (the delivery already moved past this attempt, or the outbox re-sent it since, or it is
  settled): ack;
- endpoint deleted or disabled: the delivery is marked skipped, ack;
- otherwise sign (Standard Webhooks + X-Perimeter-*), POST through `sender.deliver` (guard at send
  time, no redirects, 10 s), record the attempt, then per `policy.decide`: delivered; retry (next
  attempt queued as a new message *before* the record says so, so a crash duplicates, never loses);
  410 disables the endpoint; after the last attempt the delivery is failed and its message goes to
  the DLQ. Endpoints failing without a success for 5 days are disabled. A final delivery's outbox
  entry is removed (best effort: the sweeper removes any it misses).
Messages of a batch are handled concurrently, one thread each.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any, Protocol

from chalicelib.core import observability as obs
from chalicelib.core.addresses import IPNetwork
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import QueueUnavailable
from chalicelib.core.queue import MessageQueue, QueueMessage
from chalicelib.net.ports import Resolver
from chalicelib.webhooks.excerpt import EXCERPT_CHARS, clean_text
from chalicelib.webhooks.formats import get_format
from chalicelib.webhooks.models import (
    Attempt,
    Delivery,
    DeliveryMessage,
    DeliveryStatus,
    DisabledReason,
    EndpointStatus,
    WebhookEndpoint,
)
from chalicelib.webhooks.policy import (
    DEFAULT_POLICY,
    DEFAULT_TIMEOUT,
    Action,
    Decision,
    RetryPolicy,
    send_delay_seconds,
    visibility_for,
)
from chalicelib.webhooks.queue_config import DELIVERY_WORKERS
from chalicelib.webhooks.repository import WebhookRepository
from chalicelib.webhooks.sender import DeliveryOutcome, deliver
from chalicelib.webhooks.service import WebhookService
from chalicelib.webhooks.signing import standard_headers

log = logging.getLogger(__name__)

DISABLE_AFTER = timedelta(days=5)  # Svix's rule: an endpoint failing this long without a success is disabled


class Deliver(Protocol):
    """`sender.deliver`'s signature (tests pass fakes)."""

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], *, allowed: tuple[IPNetwork, ...],
                 resolver: Resolver, timeout: float = ...) -> DeliveryOutcome:
        """One POST attempt."""
        ...


class Disposition(Enum):
    """What happens to the SQS message."""

    ACK = "ack"  # deleted by the event source mapping
    KEEP = "keep"  # reported in batchItemFailures: back after its visibility timeout


@dataclass(frozen=True)
class _Context:
    message: DeliveryMessage
    delivery: Delivery
    version: int
    endpoint: WebhookEndpoint
    endpoint_version: int


def failure_kind(outcome: DeliveryOutcome) -> str:
    """A failed attempt's kind: `http-4xx`, `http-5xx` (any status not 2xx), else the sender's error kind."""
    if outcome.status_code is not None:
        return f"http-{outcome.status_code // 100}xx"
    return outcome.error_kind or "error"


def _scan_of(delivery: Delivery) -> str | None:
    """The scan a scan event is about (`scan_token` of its body), for the log lines."""
    if not delivery.event.startswith(("scan.", "critical.")):
        return None
    try:
        token = json.loads(delivery.body).get("scan_token")
    except (ValueError, AttributeError):
        return None
    return token if isinstance(token, str) else None


def _stale(delivery: Delivery, message: DeliveryMessage) -> bool:
    if delivery.status is DeliveryStatus.DELIVERED:
        return True
    if message.position < (delivery.cycle, delivery.next_attempt, delivery.resends):
        return True
    return delivery.status is not DeliveryStatus.PENDING and message.cycle <= delivery.cycle


class WebhookConsumer:
    """Handles Lambda SQS events of the webhook queue."""

    def __init__(self, service: WebhookService, queue: MessageQueue, dead_letters: MessageQueue,
                 resolver: Resolver, allowed: tuple[IPNetwork, ...], *, policy: RetryPolicy = DEFAULT_POLICY,
                 clock: Callable[[], datetime] = utcnow, timeout: float = DEFAULT_TIMEOUT,
                 workers: int = DELIVERY_WORKERS, deliver_fn: Deliver = deliver,
                 disable_after: timedelta = DISABLE_AFTER, metrics: obs.Metrics | None = None) -> None:
        self._service = service
        self._repo: WebhookRepository = service.repo
        self._queue = queue
        self._dead_letters = dead_letters
        self._resolver = resolver
        self._allowed = allowed
        self.policy = policy
        self._clock = clock
        self.timeout = timeout
        self._workers = workers
        self._deliver = deliver_fn
        self.disable_after = disable_after
        self._metrics = metrics or obs.NullMetrics()

    def handle(self, event: Mapping[str, Any]) -> dict[str, list[dict[str, str]]]:
        """Process a batch; returns the ids of the messages to retry (partial batch response)."""
        records = list(event.get("Records") or [])
        safe = functools.partial(self._safe, keys=obs.current_keys())  # the invocation's log keys, in every thread
        if len(records) <= 1:
            results = [safe(r) for r in records]
        else:
            with ThreadPoolExecutor(max_workers=min(self._workers, len(records)),
                                    thread_name_prefix="webhook") as pool:
                results = list(pool.map(safe, records))
        return {"batchItemFailures": [{"itemIdentifier": str(r.get("messageId", ""))}
                                      for r, result in zip(records, results, strict=True)
                                      if result is Disposition.KEEP]}

    def _safe(self, record: Mapping[str, Any], keys: Mapping[str, object]) -> Disposition:
        try:
            with obs.log_context(**{**keys, "message_id": record.get("messageId")}):
                return self.process(QueueMessage(str(record.get("messageId", "")),
                                                 str(record.get("receiptHandle", "")), str(record.get("body", "")),
                                                 dict(record.get("attributes") or {})))
        except Exception:
            log.exception("webhook message %s failed; it will be retried", record.get("messageId"))
            return Disposition.KEEP

    def process(self, received: QueueMessage) -> Disposition:
        """One message; raises on store or queue errors (the message is then retried)."""
        try:
            message = DeliveryMessage.decode(received.body)
        except ValueError as exc:
            log.error("unreadable webhook message %s: %s", received.message_id, exc)
            return Disposition.KEEP
        obs.append_keys(tenant_id=message.tenant_id, webhook_id=message.webhook_id, delivery_id=message.delivery_id,
                        attempt=message.attempt)
        now = self._clock()
        wait = visibility_for(message.not_before, now)
        if wait is not None:
            return self._postpone(received, message, now, wait)
        loaded = self._repo.get_delivery(message.tenant_id, message.webhook_id, message.delivery_id)
        if loaded is None:
            log.warning("webhook delivery %s no longer exists; message dropped", message.delivery_id)
            return Disposition.ACK
        delivery, version = loaded
        obs.append_keys(event=delivery.event, scan_id=_scan_of(delivery))
        if _stale(delivery, message):
            return Disposition.ACK
        endpoint = self._repo.get_endpoint(message.tenant_id, message.webhook_id)
        if endpoint is None or endpoint[0].status is not EndpointStatus.ACTIVE:
            reason = "endpoint-deleted" if endpoint is None else "endpoint-disabled"
            self._settle(message, delivery, version, DeliveryStatus.SKIPPED, reason)
            return Disposition.ACK
        self._attempt(_Context(message, delivery, version, *endpoint))
        return Disposition.ACK

    def _postpone(self, received: QueueMessage, message: DeliveryMessage, now: datetime, wait: int) -> Disposition:
        if received.receive_count <= 1:
            try:
                self._queue.change_visibility(received.receipt_handle, wait)
                return Disposition.KEEP
            except QueueUnavailable as exc:
                log.info("visibility change refused (%s); re-queueing a fresh copy", exc.aws_code)
        self._queue.send(message.encode(), delay_seconds=send_delay_seconds(message.not_before - now))
        return Disposition.ACK

    def _attempt(self, ctx: _Context) -> None:
        started = self._clock()
        body = ctx.delivery.body.encode("utf-8")
        timestamp = int(started.timestamp())
        headers = standard_headers(self._service.signing_secrets(ctx.endpoint, started), ctx.delivery.event_id,
                                   timestamp, body)
        headers.update(get_format(ctx.endpoint.format).headers(
            event_id=ctx.delivery.event_id, event=ctx.delivery.event, delivery_id=ctx.delivery.delivery_id,
            body=body, secrets=self._service.format_secrets(ctx.endpoint, started), timestamp=timestamp))
        outcome = self._deliver(ctx.endpoint.url, body, headers, allowed=self._allowed, resolver=self._resolver,
                                timeout=self.timeout)
        self._observe(outcome)
        decision = self.policy.decide(ctx.message.attempt, outcome.status_code, outcome.retry_after, self._clock())
        self._conclude(ctx, outcome, decision, started)

    def _conclude(self, ctx: _Context, outcome: DeliveryOutcome, decision: Decision, started: datetime) -> None:
        message = ctx.message
        if decision.action is Action.DELIVERED:
            self._endpoint_succeeded(ctx)
            self._record(ctx, outcome, started, DeliveryStatus.DELIVERED)
            return
        if decision.action is Action.DISABLE:
            self._disable(ctx, DisabledReason.GONE, started)
            self._record(ctx, outcome, started, DeliveryStatus.FAILED, reason=DisabledReason.GONE.value)
            return
        stopped = self._endpoint_failed(ctx, started)
        if stopped is not None:
            self._record(ctx, outcome, started, DeliveryStatus.FAILED, reason=stopped)
            return
        if decision.action is Action.RETRY and decision.delay is not None and decision.next_attempt is not None:
            due = started + decision.delay
            following = message.model_copy(update={"attempt": decision.next_attempt, "resend": 0,
                                                    "not_before": due})
            self._queue.send(following.encode(), delay_seconds=send_delay_seconds(decision.delay))
            self._record(ctx, outcome, started, DeliveryStatus.PENDING, next_attempt=(decision.next_attempt, due))
            return
        self._dead_letters.send(message.encode())
        self._metrics.record(obs.WEBHOOK_DEAD_LETTERED, reason="retries-exhausted")
        self._record(ctx, outcome, started, DeliveryStatus.FAILED, reason="retries-exhausted")

    def _observe(self, outcome: DeliveryOutcome) -> None:
        """Log and count one attempt: delivered, or failed by kind."""
        self._metrics.record(obs.WEBHOOK_ATTEMPTS)
        if outcome.ok:
            log.info("webhook attempt delivered: HTTP %s in %d ms", outcome.status_code, outcome.latency_ms)
            self._metrics.record(obs.WEBHOOK_DELIVERIES)
            return
        kind = failure_kind(outcome)
        log.info("webhook attempt failed (%s) in %d ms", kind, outcome.latency_ms)
        self._metrics.record(obs.WEBHOOK_FAILURES, kind=kind)

    def _record(self, ctx: _Context, outcome: DeliveryOutcome, started: datetime, status: DeliveryStatus, *,
                reason: str | None = None, next_attempt: tuple[int, datetime] | None = None) -> None:
        error = outcome.error
        if error is None and not outcome.ok and outcome.status_code is not None:
            error = f"HTTP {outcome.status_code}"
        entry = Attempt(cycle=ctx.message.cycle, attempt=ctx.message.attempt, at=started,
                        status_code=outcome.status_code, latency_ms=outcome.latency_ms, error=error,
                        error_kind=outcome.error_kind,
                        response_excerpt=clean_text(outcome.response_excerpt, EXCERPT_CHARS),
                        next_attempt_at=next_attempt[1] if next_attempt else None)

        def apply(delivery: Delivery) -> Delivery:
            update: dict[str, Any] = {"attempts": [*delivery.attempts, entry], "updated_at": self._clock()}
            if (ctx.message.cycle, ctx.message.attempt) >= (delivery.cycle, delivery.next_attempt):
                update.update(status=status, failure_reason=reason, cycle=ctx.message.cycle,
                              next_attempt=next_attempt[0] if next_attempt else ctx.message.attempt,
                              next_attempt_at=next_attempt[1] if next_attempt else None)
                if next_attempt is not None:
                    update["resends"] = 0
            return delivery.model_copy(update=update)

        written = self._repo.update_delivery(ctx.delivery.tenant_id, ctx.delivery.webhook_id,
                                             ctx.delivery.delivery_id, apply, current=(ctx.delivery, ctx.version))
        self._leave_outbox(written)

    def _settle(self, message: DeliveryMessage, delivery: Delivery, version: int, status: DeliveryStatus,
                reason: str) -> None:
        def apply(current: Delivery) -> Delivery | None:
            if _stale(current, message):
                return None
            return current.model_copy(update={"status": status, "failure_reason": reason, "next_attempt_at": None,
                                              "cycle": message.cycle, "updated_at": self._clock()})

        self._leave_outbox(self._repo.update_delivery(delivery.tenant_id, delivery.webhook_id, delivery.delivery_id,
                                                      apply, current=(delivery, version)))

    def _leave_outbox(self, delivery: Delivery | None) -> None:
        """Remove a final delivery's outbox entry (best effort: the sweeper removes what is left)."""
        if delivery is None or delivery.status is DeliveryStatus.PENDING or delivery.outbox_at is None:
            return
        try:
            self._repo.remove_outbox(delivery.outbox_at, delivery.delivery_id)
        except Exception:
            log.warning("outbox entry of %s not removed; the sweeper will", delivery.delivery_id, exc_info=True)

    # -- endpoint health ---------------------------------------------------------------------------

    def _endpoint_succeeded(self, ctx: _Context) -> None:
        if ctx.endpoint.failing_since is None:
            return

        def clear(endpoint: WebhookEndpoint) -> WebhookEndpoint | None:
            if endpoint.failing_since is None:
                return None
            return endpoint.model_copy(update={"failing_since": None, "updated_at": self._clock()})

        self._repo.update_endpoint(ctx.endpoint.tenant_id, ctx.endpoint.webhook_id, clear,
                                   current=(ctx.endpoint, ctx.endpoint_version))

    def _endpoint_failed(self, ctx: _Context, now: datetime) -> str | None:
        """Note a failed attempt; the reason to stop retrying when the endpoint is gone or (now) disabled."""
        limit = self.disable_after

        def note(endpoint: WebhookEndpoint) -> WebhookEndpoint | None:
            if endpoint.status is not EndpointStatus.ACTIVE:
                return None
            if endpoint.failing_since is None:
                return endpoint.model_copy(update={"failing_since": now, "updated_at": now})
            if now - endpoint.failing_since >= limit:
                return endpoint.model_copy(update={"status": EndpointStatus.DISABLED, "updated_at": now,
                                                   "disabled_reason": DisabledReason.FAILING, "disabled_at": now})
            return None

        updated = self._repo.update_endpoint(ctx.endpoint.tenant_id, ctx.endpoint.webhook_id, note,
                                             current=(ctx.endpoint, ctx.endpoint_version))
        if updated is None:
            return "endpoint-deleted"
        if updated.status is EndpointStatus.ACTIVE:
            return None
        reason = (updated.disabled_reason or DisabledReason.FAILING).value
        if updated.disabled_reason is DisabledReason.FAILING and updated.disabled_at == now:
            log.warning("webhook %s of %s disabled: failing since %s", updated.webhook_id, updated.tenant_id,
                        updated.failing_since)
        return reason

    def _disable(self, ctx: _Context, reason: DisabledReason, now: datetime) -> None:
        def disable(endpoint: WebhookEndpoint) -> WebhookEndpoint | None:
            if endpoint.status is EndpointStatus.DISABLED:
                return None
            return endpoint.model_copy(update={"status": EndpointStatus.DISABLED, "disabled_reason": reason,
                                               "disabled_at": now, "updated_at": now})

        self._repo.update_endpoint(ctx.endpoint.tenant_id, ctx.endpoint.webhook_id, disable,
                                   current=(ctx.endpoint, ctx.endpoint_version))
        log.warning("webhook %s of %s disabled: %s", ctx.endpoint.webhook_id, ctx.endpoint.tenant_id, reason)
