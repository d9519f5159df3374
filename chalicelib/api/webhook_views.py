"""Response models of the webhook routes (the OpenAPI document is generated from them)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from chalicelib.webhooks.excerpt import EXCERPT_CHARS, NON_TEXT_NOTE, clean_text
from chalicelib.webhooks.models import Delivery, DeliveryStatus, DisabledReason, EndpointStatus, WebhookEndpoint

VERIFYING_DELIVERIES = """Perimeter POSTs each event as JSON to your endpoint, signed twice. Verify either signature \
over the raw request body, before parsing it.

**`X-Perimeter-Signature`** (a plain HMAC): `sha256=` + hex HMAC-SHA256 of the raw body, keyed with your secret \
exactly as it was shown (the whole `whsec_...` string, as UTF-8 bytes). In Python:

    expected = "sha256=" + hmac.new(secret.encode(), raw_body, hashlib.sha256).hexdigest()
    ok = any(hmac.compare_digest(expected, value.strip()) for value in header.split(","))

Outside a rotation the header holds exactly one value. For 24 h after `rotate-secret` every live secret signs: \
one value per secret, newest first, separated by commas; split on commas and accept any match.

**Standard Webhooks** (`webhook-id`, `webhook-timestamp`, `webhook-signature`): verify with a Standard Webhooks \
library and the same secret, e.g. `standardwebhooks.Webhook(secret).verify(raw_body, headers)`. By that \
specification the key is the base64-decoded part after `whsec_`, the signed content is `id.timestamp.body`, \
`webhook-signature` lists one `v1,<base64>` per live secret (space-separated), and timestamps more than 5 minutes \
off are rejected. `webhook-id` is the event id: use it to drop duplicates (delivery is at least once)."""


class WebhookView(BaseModel):
    """A webhook endpoint; never its secret."""

    webhook_id: str
    url: str
    events: list[str]
    description: str
    status: EndpointStatus
    disabled_reason: DisabledReason | None
    disabled_at: datetime | None
    failing_since: datetime | None = Field(description="First failed attempt since the last success; "
                                                       "after 5 days of failures the endpoint is disabled.")
    previous_secret_expires_at: datetime | None = Field(
        description="Set after a rotation: until then the previous secret signs too.")
    format: str = Field(description="The delivery format: `perimeter` or a vendor dialect's name.")
    own_secret: bool = Field(description="True when a secret of your own signs the format's signature header.")
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookView):
    """201 answer to a new endpoint: the only response that carries the signing secret."""

    secret: str = Field(description="`whsec_` + base64 of 32 random bytes. Shown once: store it now. "
                                    "`X-Perimeter-Signature` is keyed with this whole string; Standard Webhooks "
                                    "libraries take it as is.")


class WebhookSecret(BaseModel):
    """The new signing secret after a rotation (shown once)."""

    webhook_id: str
    secret: str = Field(description="The new current secret; shown once.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries are signed with both the previous and the new secret (both headers "
                    "carry one signature per secret).")


class WebhookList(BaseModel):
    """A page of endpoints, newest first."""

    items: list[WebhookView]
    next_cursor: str | None


class AttemptView(BaseModel):
    """One HTTP attempt of a delivery."""

    cycle: int = Field(description="1, then +1 for every redrive from the dead-letter queue.")
    attempt: int
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None
    error_kind: str | None
    response_excerpt: str = Field(description=f"At most {EXCERPT_CHARS} characters of a textual answer, control "
                                  f"characters removed; `{NON_TEXT_NOTE}` for anything else.")
    next_attempt_at: datetime | None


class DeliveryView(BaseModel):
    """One event sent to one endpoint, with every attempt."""

    delivery_id: str
    webhook_id: str
    event_id: str = Field(description="The `webhook-id` header and the body's `id`; equal across redeliveries.")
    event: str
    status: DeliveryStatus
    failure_reason: str | None
    next_attempt_at: datetime | None
    redelivery_of: str | None
    attempts: list[AttemptView]
    created_at: datetime
    updated_at: datetime


class DeliveryList(BaseModel):
    """A page of deliveries, newest first."""

    items: list[DeliveryView]
    next_cursor: str | None


class DeliveryQueued(BaseModel):
    """202 answer to a test event or a redelivery."""

    delivery_id: str
    webhook_id: str
    event_id: str
    event: str
    status: DeliveryStatus


def webhook_view(endpoint: WebhookEndpoint, now: datetime) -> WebhookView:
    """The partner-facing view of an endpoint."""
    return WebhookView(
        webhook_id=endpoint.webhook_id, url=endpoint.url, events=endpoint.events, description=endpoint.description,
        status=endpoint.status, disabled_reason=endpoint.disabled_reason, disabled_at=endpoint.disabled_at,
        failing_since=endpoint.failing_since, previous_secret_expires_at=endpoint.previous_secret_expires_at(now),
        format=endpoint.format, own_secret=endpoint.partner_secret is not None,
        created_at=endpoint.created_at, updated_at=endpoint.updated_at)


def webhook_created(endpoint: WebhookEndpoint, secret: str, now: datetime) -> WebhookCreated:
    """The 201 body, with the secret."""
    return WebhookCreated(**webhook_view(endpoint, now).model_dump(), secret=secret)


def delivery_view(delivery: Delivery) -> DeliveryView:
    """The partner-facing view of a delivery."""
    view = DeliveryView.model_validate(delivery.model_dump(include=set(DeliveryView.model_fields)))
    for attempt in view.attempts:  # records written before the excerpt was bounded are bounded here
        attempt.response_excerpt = clean_text(attempt.response_excerpt, EXCERPT_CHARS)
    return view


def delivery_queued(delivery: Delivery) -> DeliveryQueued:
    """The 202 body for a queued test event or redelivery."""
    return DeliveryQueued(delivery_id=delivery.delivery_id, webhook_id=delivery.webhook_id,
                          event_id=delivery.event_id, event=delivery.event, status=delivery.status)
