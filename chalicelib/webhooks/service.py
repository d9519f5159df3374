"""Webhook endpoints (create, list, get, delete, rotate, test) and publishing events to them.

`WebhookService` is the EventPublisher: `publish(tenant, event, data)` records one delivery per
active endpoint subscribed to the event (outbox entry first, then the record) and queues its first
attempt; a queue failure is logged and left to the outbox sweeper (`chalicelib.webhooks.outbox`).
The consumer (`chalicelib.webhooks.consumer`) makes the attempts.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from chalicelib.core.addresses import IPNetwork
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import NotFound, QueueUnavailable, WebhookDisabled, WebhookLimitReached
from chalicelib.core.ids import new_id
from chalicelib.core.pagination import decode_cursor, page_of
from chalicelib.core.queue import MessageQueue
from chalicelib.core.secretbox import SecretBox
from chalicelib.net.ports import Resolver
from chalicelib.webhooks.formats import DEFAULT_FORMAT, FORMATS, get_format
from chalicelib.webhooks.models import (
    EVENT_TYPES,
    MAX_SECRETS,
    ROTATION_OVERLAP,
    TEST_EVENT,
    WILDCARD,
    Delivery,
    EndpointStatus,
    StoredSecret,
    Subscription,
    WebhookEndpoint,
)
from chalicelib.webhooks.outbox import GRACE, delivery_message, outbox_entry
from chalicelib.webhooks.repository import (
    ENDPOINT_PREFIX,
    EventClaim,
    WebhookRepository,
    deliveries_prefix,
)
from chalicelib.webhooks.signing import new_secret
from chalicelib.webhooks.url_guard import MAX_URL_LENGTH, check_webhook_url

log = logging.getLogger(__name__)

MAX_ENDPOINTS = 20  # per tenant (OWASP API4: bounded resources); publish reads them in one query

Clock = Callable[[], datetime]


class CreateWebhook(BaseModel):
    """`POST /v1/webhooks`: where to send, which events, and in which format."""

    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]
    events: Annotated[list[Subscription], Field(min_length=1, max_length=len(EVENT_TYPES) + 1)]
    description: Annotated[str, Field(max_length=500)] = ""
    format: Annotated[str, Field(description="`perimeter`, or a vendor dialect's name: deliveries then carry "
                                             "that vendor's payload, event names, headers and signature "
                                             "(Standard Webhooks headers are always added).")] = DEFAULT_FORMAT
    secret: Annotated[SecretStr | None, Field(description="A signing secret of your own (16-256 printable "
                                                          "characters) for the format's signature header; the "
                                                          "Standard Webhooks headers keep a whsec_ secret.")] = None

    @field_validator("format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in FORMATS:
            raise ValueError(f"unknown format {value!r}; one of {', '.join(sorted(FORMATS))}")
        return value

    @field_validator("secret")
    @classmethod
    def _usable_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not re.fullmatch(r"[\x21-\x7e]{16,256}", value.get_secret_value()):
            raise ValueError("a secret of your own is 16 to 256 visible ASCII characters")
        return value

    @field_validator("events")
    @classmethod
    def _dedupe(cls, value: list[str]) -> list[str]:
        unique = list(dict.fromkeys(value))
        return [WILDCARD] if WILDCARD in unique else unique


def secret_context(tenant_id: str, webhook_id: str, secret_id: str) -> str:
    """What a wrapped secret is bound to."""
    return f"webhook-secret/{tenant_id}/{webhook_id}/{secret_id}"


class WebhookService:
    """Endpoint management and event publishing for every tenant."""

    def __init__(self, repo: WebhookRepository, queue: MessageQueue, box: SecretBox, resolver: Resolver,
                 allowed: tuple[IPNetwork, ...], *, clock: Clock = utcnow, max_endpoints: int = MAX_ENDPOINTS) -> None:
        self.repo = repo
        self._queue = queue
        self._box = box
        self._resolver = resolver
        self._allowed = allowed
        self._clock = clock
        self._max_endpoints = max_endpoints

    # -- endpoints ---------------------------------------------------------------------------------

    def _wrapped(self, tenant_id: str, webhook_id: str, secret: str, now: datetime) -> StoredSecret:
        secret_id = new_id("whs")
        return StoredSecret(secret_id=secret_id, created_at=now,
                            wrapped=self._box.wrap(secret, secret_context(tenant_id, webhook_id, secret_id)))

    def create(self, tenant_id: str, command: CreateWebhook) -> tuple[WebhookEndpoint, str]:
        """Register an endpoint; returns it and its secret (the only time the secret is returned).

        Raises Unprocessable (`invalid-webhook-url`, `webhook-url-not-allowed`), ServiceUnavailable
        (`dns-unavailable`) and WebhookLimitReached.
        """
        checked = check_webhook_url(command.url, self._allowed, self._resolver)
        if len(self.repo.list_endpoints(tenant_id, limit=self._max_endpoints)) >= self._max_endpoints:
            raise WebhookLimitReached(f"A tenant can have at most {self._max_endpoints} webhook endpoints; "
                                      "delete one first.")
        now = self._clock()
        webhook_id, secret = new_id("wh"), new_secret()
        chosen = command.secret.get_secret_value() if command.secret is not None else None
        endpoint = WebhookEndpoint(webhook_id=webhook_id, tenant_id=tenant_id, url=checked.url, events=command.events,
                                   description=command.description, created_at=now, updated_at=now,
                                   secrets=[self._wrapped(tenant_id, webhook_id, secret, now)], format=command.format,
                                   partner_secret=self._wrapped(tenant_id, webhook_id, chosen, now) if chosen else None)
        self.repo.add_endpoint(endpoint)
        return endpoint, secret

    def get(self, tenant_id: str, webhook_id: str) -> WebhookEndpoint:
        """One endpoint of the tenant; raises NotFound (also for another tenant's id)."""
        loaded = self.repo.get_endpoint(tenant_id, webhook_id)
        if loaded is None:
            raise NotFound(f"No webhook {webhook_id}.", code="webhook-not-found")
        return loaded[0]

    def list_webhooks(self, tenant_id: str, *, limit: int = 20,
                      cursor: str | None = None) -> tuple[list[WebhookEndpoint], str | None]:
        """Newest first; returns (endpoints, next cursor or None). Raises BadRequest for a bad cursor."""
        after = decode_cursor(cursor, ENDPOINT_PREFIX) if cursor else None
        page, next_cursor = page_of(self.repo.list_endpoints(tenant_id, limit=limit + 1, after=after), limit,
                                    lambda row: row[1])
        return [e for e, _ in page], next_cursor

    def delete(self, tenant_id: str, webhook_id: str) -> None:
        """Delete an endpoint; queued attempts to it are skipped. Raises NotFound."""
        self.get(tenant_id, webhook_id)
        self.repo.delete_endpoint(tenant_id, webhook_id)

    def rotate_secret(self, tenant_id: str, webhook_id: str) -> tuple[WebhookEndpoint, str]:
        """A new current secret; the previous one keeps signing for ROTATION_OVERLAP. Raises NotFound."""
        secret = new_secret()

        def rotate(endpoint: WebhookEndpoint) -> WebhookEndpoint:
            now = self._clock()
            kept = []
            for old in endpoint.live_secrets(now):
                kept.append(old.model_copy(update={"expires_at": old.expires_at or now + ROTATION_OVERLAP}))
            fresh = self._wrapped(tenant_id, webhook_id, secret, now)
            return endpoint.model_copy(update={"secrets": [fresh, *kept][:MAX_SECRETS], "updated_at": now})

        rotated = self.repo.update_endpoint(tenant_id, webhook_id, rotate)
        if rotated is None:
            raise NotFound(f"No webhook {webhook_id}.", code="webhook-not-found")
        return rotated, secret

    def enable(self, tenant_id: str, webhook_id: str) -> WebhookEndpoint:
        """Re-activate a disabled endpoint (after a 410 or 5 days of failures); raises NotFound.

        The failure clock restarts; deliveries skipped while it was disabled are not replayed (use
        redeliver for the ones that matter). An active endpoint is returned unchanged.
        """
        def activate(endpoint: WebhookEndpoint) -> WebhookEndpoint | None:
            if endpoint.status is EndpointStatus.ACTIVE:
                return None
            return endpoint.model_copy(update={"status": EndpointStatus.ACTIVE, "disabled_reason": None,
                                               "disabled_at": None, "failing_since": None,
                                               "updated_at": self._clock()})

        enabled = self.repo.update_endpoint(tenant_id, webhook_id, activate)
        if enabled is None:
            raise NotFound(f"No webhook {webhook_id}.", code="webhook-not-found")
        return enabled

    def signing_secrets(self, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
        """The secrets that sign at `now`, newest first (unwrapped); raises SecretUnwrapError."""
        return [self._box.unwrap(s.wrapped, secret_context(endpoint.tenant_id, endpoint.webhook_id, s.secret_id))
                for s in endpoint.live_secrets(now)]

    def format_secrets(self, endpoint: WebhookEndpoint, now: datetime) -> list[str]:
        """What signs the format's own header: the partner-chosen secret, else the live `whsec_` secrets."""
        chosen = endpoint.partner_secret
        if chosen is None:
            return self.signing_secrets(endpoint, now)
        return [self._box.unwrap(chosen.wrapped, secret_context(endpoint.tenant_id, endpoint.webhook_id,
                                                                 chosen.secret_id))]

    def seal_for_response(self, webhook_id: str, secret: str) -> str:
        """A secret wrapped for the trip through the idempotency record (see api.webhook_routes)."""
        return self._box.wrap(secret, f"webhook-response/{webhook_id}")

    def reveal_in_response(self, webhook_id: str, sealed: str) -> str:
        """The secret `seal_for_response` wrapped; raises SecretUnwrapError (a ValueError)."""
        return self._box.unwrap(sealed, f"webhook-response/{webhook_id}")

    # -- deliveries --------------------------------------------------------------------------------

    def send_test(self, tenant_id: str, webhook_id: str) -> Delivery:
        """Queue a `webhook.test` event to this endpoint only. Raises NotFound, WebhookDisabled."""
        endpoint = self._active(tenant_id, webhook_id)
        now = self._clock()
        event_id = new_id("evt")
        body = get_format(endpoint.format).body(event_id, TEST_EVENT, now, {
            "webhook_id": webhook_id, "message": "A test event from Perimeter: your endpoint is reachable."})
        [delivery] = self._enqueue([self._new_delivery(endpoint, event_id, TEST_EVENT, body, now)])
        return delivery

    def list_deliveries(self, tenant_id: str, webhook_id: str, *, limit: int = 20,
                        cursor: str | None = None) -> tuple[list[Delivery], str | None]:
        """An endpoint's deliveries with every attempt, newest first. Raises NotFound, BadRequest."""
        self.get(tenant_id, webhook_id)
        after = decode_cursor(cursor, deliveries_prefix(webhook_id)) if cursor else None
        page, next_cursor = page_of(self.repo.list_deliveries(tenant_id, webhook_id, limit=limit + 1, after=after),
                                    limit, lambda row: row[1])
        return [d for d, _ in page], next_cursor

    def get_delivery(self, tenant_id: str, webhook_id: str, delivery_id: str) -> Delivery:
        """One delivery; raises NotFound."""
        self.get(tenant_id, webhook_id)
        loaded = self.repo.get_delivery(tenant_id, webhook_id, delivery_id)
        if loaded is None:
            raise NotFound(f"No delivery {delivery_id}.", code="delivery-not-found")
        return loaded[0]

    def redeliver(self, tenant_id: str, webhook_id: str, delivery_id: str) -> Delivery:
        """A fresh delivery of the same event (same event id, same body) with a new attempt budget.

        Raises NotFound, WebhookDisabled.
        """
        original = self.get_delivery(tenant_id, webhook_id, delivery_id)
        endpoint = self._active(tenant_id, webhook_id)
        now = self._clock()
        fresh = self._new_delivery(endpoint, original.event_id, original.event, original.body, now)
        [queued] = self._enqueue([fresh.model_copy(update={"redelivery_of": original.delivery_id})])
        return queued

    def _active(self, tenant_id: str, webhook_id: str) -> WebhookEndpoint:
        endpoint = self.get(tenant_id, webhook_id)
        if endpoint.status is not EndpointStatus.ACTIVE:
            raise WebhookDisabled(f"Webhook {webhook_id} is disabled ({endpoint.disabled_reason}); "
                                  "create a new endpoint to receive events again.")
        return endpoint

    @staticmethod
    def _new_delivery(endpoint: WebhookEndpoint, event_id: str, event: str, body: str, now: datetime,
                      delivery_id: str | None = None) -> Delivery:
        return Delivery(delivery_id=delivery_id or new_id("whd"), webhook_id=endpoint.webhook_id,
                        tenant_id=endpoint.tenant_id, event_id=event_id, event=event, body=body,
                        next_attempt_at=now, created_at=now, updated_at=now, outbox_at=now + GRACE)

    def _enqueue(self, deliveries: Sequence[Delivery]) -> list[Delivery]:
        """Outbox entries, then the records, then the first attempts' messages.

        A queue failure is logged, not raised: the entries are marked unsent and the outbox sweeper
        queues them. Raises store errors (then nothing was queued).
        """
        for delivery in deliveries:
            self.repo.add_outbox(outbox_entry(delivery))
        for delivery in deliveries:
            self.repo.add_delivery(delivery)
        messages = [delivery_message(d).encode() for d in deliveries]
        try:
            if len(messages) == 1:
                self._queue.send(messages[0])
            else:
                self._queue.send_batch(messages)
        except QueueUnavailable as exc:
            log.warning("webhook queue unavailable (%s): %d delivery(ies) left to the outbox", exc, len(messages))
            now = self._clock()
            for delivery in deliveries:
                self.repo.move_outbox(outbox_entry(delivery), now, unsent=True)
        return list(deliveries)

    # -- EventPublisher ----------------------------------------------------------------------------

    def publish(self, tenant_id: str, event: str, data: dict[str, Any], *, key: str | None = None) -> list[str]:
        """Record and queue `event` for every active endpoint of the tenant subscribed to it.

        Returns the delivery ids (none when nobody subscribes). Every endpoint gets the same event id
        (`webhook-id`). With `key`, publishing is idempotent: a later publish of the same key (a
        replayed pipeline step) reuses the first one's event and delivery ids and only writes what the
        first left unwritten. A queue failure is left to the outbox. Raises ValueError for an unknown
        event or bad data, and store errors.
        """
        if event not in EVENT_TYPES:
            raise ValueError(f"unknown webhook event {event!r}")
        endpoints = [e for e, _ in self.repo.list_endpoints(tenant_id, limit=max(self._max_endpoints, 100),
                                                            forward=True)
                     if e.status is EndpointStatus.ACTIVE and e.subscribed(event)
                     and get_format(e.format).event_name(event) is not None]
        if not endpoints:
            return []
        claim = EventClaim(new_id("evt"), self._clock(), {e.webhook_id: new_id("whd") for e in endpoints})
        if key is not None:
            claim = self.repo.claim_event(tenant_id, f"{event}/{key}", claim)
        fresh = [self._new_delivery(e, claim.event_id, event,
                                    get_format(e.format).body(claim.event_id, event, claim.created_at, data),
                                    claim.created_at, claim.deliveries[e.webhook_id])
                 for e in endpoints if e.webhook_id in claim.deliveries
                 and (key is None or self.repo.get_delivery(tenant_id, e.webhook_id,
                                                            claim.deliveries[e.webhook_id]) is None)]
        self._enqueue(fresh)
        log.info("published %s %s to %d endpoint(s) of %s", event, claim.event_id, len(fresh), tenant_id)
        return list(claim.deliveries.values())
