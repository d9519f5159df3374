"""Stored webhook documents (endpoints with wrapped secrets, deliveries with every attempt) and the queue message."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

# DESIGN.md section 7.
# Additive (issue 12): finding.created, target.changed and group.completed (chalicelib/scans/groups.py).
EVENT_TYPES: tuple[str, ...] = (
    "scan.started", "scan.completed", "scan.failed", "scan.cancelled", "critical.finding",
    "scan.self_assessment_completed", "webhook.test", "finding.created", "target.changed", "group.completed",
)
WILDCARD = "*"  # every event, present and future
TEST_EVENT = "webhook.test"
Subscription = Literal[
    "scan.started", "scan.completed", "scan.failed", "scan.cancelled", "critical.finding",
    "scan.self_assessment_completed", "webhook.test", "finding.created", "target.changed", "group.completed", "*",
]

ROTATION_OVERLAP = timedelta(hours=24)  # a rotated-out secret keeps signing this long
MAX_SECRETS = 4  # the current one and up to three still inside their overlap


class EndpointStatus(StrEnum):
    """Whether deliveries go out."""

    ACTIVE = "active"
    DISABLED = "disabled"


class DisabledReason(StrEnum):
    """Why an endpoint stopped receiving."""

    GONE = "endpoint-gone"  # the receiver answered 410
    FAILING = "failing-for-5-days"  # every attempt failed for 5 days


class StoredSecret(BaseModel):
    """A signing secret, wrapped (encrypted) with the server-side key; `expires_at` None is the current one."""

    model_config = ConfigDict(extra="forbid")
    secret_id: str
    wrapped: str
    created_at: datetime
    expires_at: datetime | None = None


class WebhookEndpoint(BaseModel):
    """A partner's receiver URL and what it subscribes to."""

    model_config = ConfigDict(extra="forbid")
    webhook_id: str
    tenant_id: str
    url: str
    events: list[str]
    description: str = ""
    status: EndpointStatus = EndpointStatus.ACTIVE
    disabled_reason: DisabledReason | None = None
    disabled_at: datetime | None = None
    secrets: list[StoredSecret]
    created_at: datetime
    updated_at: datetime
    failing_since: datetime | None = None  # first failed attempt since the last success
    format: str = "perimeter"  # chalicelib.webhooks.formats: the payload, headers and signature sent
    partner_secret: StoredSecret | None = None  # a secret the partner chose: signs the format's header

    def subscribed(self, event: str) -> bool:
        """True when this endpoint wants `event`."""
        return WILDCARD in self.events or event in self.events

    def live_secrets(self, now: datetime) -> list[StoredSecret]:
        """Secrets that sign at `now`, newest first."""
        return [s for s in self.secrets if s.expires_at is None or s.expires_at > now]

    def previous_secret_expires_at(self, now: datetime) -> datetime | None:
        """When the last rotated-out secret stops signing, if one still does."""
        retiring = [s.expires_at for s in self.live_secrets(now) if s.expires_at is not None]
        return max(retiring) if retiring else None


class DeliveryStatus(StrEnum):
    """Where a delivery stands."""

    PENDING = "pending"  # queued or waiting for its next attempt
    DELIVERED = "delivered"
    FAILED = "failed"  # out of attempts (and dead-lettered), or the endpoint answered 410 / was disabled
    SKIPPED = "skipped"  # the endpoint was deleted or disabled before the attempt


class Attempt(BaseModel):
    """One HTTP attempt, as the delivery log shows it."""

    model_config = ConfigDict(extra="forbid")
    cycle: int
    attempt: int
    at: datetime
    status_code: int | None
    latency_ms: int
    error: str | None = None
    error_kind: str | None = None
    response_excerpt: str = ""
    next_attempt_at: datetime | None = None


class Delivery(BaseModel):
    """One event on its way to one endpoint; the body is stored so every attempt sends the same bytes."""

    model_config = ConfigDict(extra="forbid")
    delivery_id: str
    webhook_id: str
    tenant_id: str
    event_id: str
    event: str
    body: str
    status: DeliveryStatus = DeliveryStatus.PENDING
    cycle: int = 1
    next_attempt: int = 1
    next_attempt_at: datetime | None = None
    attempts: list[Attempt] = Field(default_factory=list)
    failure_reason: str | None = None
    redelivery_of: str | None = None
    created_at: datetime
    updated_at: datetime
    resends: int = 0  # times the outbox re-sent the message of the current attempt (older copies are stale)
    outbox_at: datetime | None = None  # the key time of its outbox entry, as last written with this record


# One queue message is one delivery attempt: it names the delivery (tenant, webhook, delivery id), the
# attempt cycle (bumped by a DLQ redrive), the attempt number within the cycle, the outbox re-send
# number of that attempt and the time before which it must not run. The body, headers and secrets
# stay in the table; the message carries ids only.
class DeliveryMessage(BaseModel):
    """The body of one queued delivery attempt."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    v: Literal[1] = 1
    tenant_id: str = Field(min_length=1, max_length=100)
    webhook_id: str = Field(min_length=1, max_length=100)
    delivery_id: str = Field(min_length=1, max_length=100)
    cycle: int = Field(ge=1, le=10_000)
    attempt: int = Field(ge=1, le=100)
    resend: int = Field(default=0, ge=0, le=1000)  # 0 for the original; the outbox's re-sends count up
    not_before: datetime

    @property
    def position(self) -> tuple[int, int, int]:
        """(cycle, attempt, resend): a message below its delivery's position is a stale copy."""
        return self.cycle, self.attempt, self.resend

    def encode(self) -> str:
        """The JSON body."""
        return self.model_dump_json()

    @classmethod
    def decode(cls, body: str) -> DeliveryMessage:
        """Parse a body; raises ValueError for anything that is not one of ours."""
        try:
            message = cls.model_validate_json(body)
        except ValidationError as exc:
            raise ValueError(f"not a webhook delivery message: {exc.error_count()} error(s)") from None
        if message.not_before.tzinfo is None:
            raise ValueError("not_before must carry a time zone")
        return message
