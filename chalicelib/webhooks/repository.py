"""Webhook endpoints and deliveries in the KeyValueStore, under the tenant's partition.

Keys: `TENANT#<tenant>` / `WEBHOOK#<webhook id>` for an endpoint and
`TENANT#<tenant>` / `WHDELIVERY#<webhook id>#<delivery id>` for a delivery. Every read names the
tenant, so another tenant's id is simply absent. Updates are read-modify-conditional-write on the
record version and re-read on a race.

A keyed publish (`WebhookService.publish(..., key=...)`) claims `TENANT#<tenant>` /
`WHEVENTKEY#<sha256 of the key>` first, so a replayed publish reuses the first one's event and
delivery ids instead of sending the event again.

The outbox index (`WHOUTBOX` / `DUE#<epoch ms>#<delivery id>`) holds one entry per delivery that is
not final yet, keyed by when the outbox sweeper should look at it next (see `webhooks.outbox`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from chalicelib.core.store import ConditionFailed, KeyValueStore
from chalicelib.core.versioned import update_versioned
from chalicelib.webhooks.models import Delivery, WebhookEndpoint

ENDPOINT_PREFIX = "WEBHOOK#"
DELIVERY_PREFIX = "WHDELIVERY#"
DELIVERY_TTL = timedelta(days=30)
EVENT_KEY_PREFIX = "WHEVENTKEY#"
OUTBOX_PK = "WHOUTBOX"
OUTBOX_PREFIX = "DUE#"
_RACE_RETRIES = 8

@dataclass(frozen=True)
class EventClaim:
    """The event id, time and per-endpoint delivery ids the first publish of a key chose."""

    event_id: str
    created_at: datetime
    deliveries: dict[str, str]  # webhook id -> delivery id

    def as_data(self) -> dict[str, object]:
        """The stored form."""
        return {"event_id": self.event_id, "created_at": self.created_at.isoformat(),
                "deliveries": dict(self.deliveries)}

    @classmethod
    def from_data(cls, data: dict[str, object]) -> EventClaim:
        """Read the stored form back."""
        deliveries = data.get("deliveries")
        return cls(str(data["event_id"]), datetime.fromisoformat(str(data["created_at"])),
                   {str(k): str(v) for k, v in deliveries.items()} if isinstance(deliveries, dict) else {})


EndpointChange = Callable[[WebhookEndpoint], WebhookEndpoint | None]
DeliveryChange = Callable[[Delivery], Delivery | None]


def tenant_pk(tenant_id: str) -> str:
    """The partition of a tenant."""
    return f"TENANT#{tenant_id}"


def endpoint_sk(webhook_id: str) -> str:
    """The sort key of an endpoint."""
    return f"{ENDPOINT_PREFIX}{webhook_id}"


def deliveries_prefix(webhook_id: str) -> str:
    """The sort-key prefix of an endpoint's deliveries."""
    return f"{DELIVERY_PREFIX}{webhook_id}#"


def delivery_sk(webhook_id: str, delivery_id: str) -> str:
    """The sort key of a delivery."""
    return f"{deliveries_prefix(webhook_id)}{delivery_id}"


def _millis(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def outbox_sk(check_at: datetime, delivery_id: str) -> str:
    """The sort key of an outbox entry: ordered by when it is due for a look."""
    return f"{OUTBOX_PREFIX}{max(_millis(check_at), 0):015d}#{delivery_id}"


@dataclass(frozen=True, slots=True)
class OutboxEntry:
    """One outbox index entry: a delivery not final yet, and when the sweeper looks at it next."""

    tenant_id: str
    webhook_id: str
    delivery_id: str
    check_at: datetime
    unsent: bool = False  # its message was never queued (the send failed): re-send without a grace period

    @property
    def sk(self) -> str:
        """Its sort key."""
        return outbox_sk(self.check_at, self.delivery_id)


class WebhookRepository:
    """Endpoints and deliveries of every tenant."""

    def __init__(self, store: KeyValueStore, *, delivery_ttl: timedelta = DELIVERY_TTL) -> None:
        self._store = store
        self._ttl = delivery_ttl

    # -- endpoints ---------------------------------------------------------------------------------

    def add_endpoint(self, endpoint: WebhookEndpoint) -> None:
        """Store a new endpoint; raises ConditionFailed when the id exists."""
        self._store.put(tenant_pk(endpoint.tenant_id), endpoint_sk(endpoint.webhook_id),
                        endpoint.model_dump(mode="json"), expect_version=0)

    def get_endpoint(self, tenant_id: str, webhook_id: str) -> tuple[WebhookEndpoint, int] | None:
        """The endpoint and its version, or None."""
        record = self._store.get(tenant_pk(tenant_id), endpoint_sk(webhook_id))
        return None if record is None else (WebhookEndpoint.model_validate(record.data), record.version)

    def list_endpoints(self, tenant_id: str, *, limit: int, after: str | None = None,
                       forward: bool = False) -> list[tuple[WebhookEndpoint, str]]:
        """Endpoints with their sort keys, newest first by default."""
        records = self._store.query(tenant_pk(tenant_id), ENDPOINT_PREFIX, forward=forward, after=after, limit=limit)
        return [(WebhookEndpoint.model_validate(r.data), r.sk) for r in records]

    def update_endpoint(self, tenant_id: str, webhook_id: str, change: EndpointChange, *,
                        current: tuple[WebhookEndpoint, int] | None = None) -> WebhookEndpoint | None:
        """Apply `change` (None from it: nothing to write) until the write wins; None when the endpoint is gone.

        `current` saves the first read when the caller already holds the record. Raises ConditionFailed
        when the race is lost too often.
        """
        return update_versioned(
            lambda: self.get_endpoint(tenant_id, webhook_id), lambda e: change(e.model_copy(deep=True)),
            lambda e, version: self._store.put(tenant_pk(tenant_id), endpoint_sk(webhook_id),
                                               e.model_dump(mode="json"), expect_version=version),
            attempts=_RACE_RETRIES, what=f"endpoint {webhook_id}", first=current)

    def delete_endpoint(self, tenant_id: str, webhook_id: str) -> None:
        """Remove an endpoint (its deliveries expire with their TTL)."""
        self._store.delete(tenant_pk(tenant_id), endpoint_sk(webhook_id))

    # -- deliveries --------------------------------------------------------------------------------

    def _expiry(self, created_at: datetime) -> int:
        return int((created_at + self._ttl).timestamp())

    def claim_event(self, tenant_id: str, key: str, claim: EventClaim) -> EventClaim:
        """Record `claim` for `key` unless one is recorded; returns the claim that holds (the first)."""
        sk = EVENT_KEY_PREFIX + hashlib.sha256(key.encode()).hexdigest()
        for _ in range(_RACE_RETRIES):
            try:
                self._store.put(tenant_pk(tenant_id), sk, claim.as_data(), expect_version=0,
                                expires_at=self._expiry(claim.created_at))
                return claim
            except ConditionFailed:
                record = self._store.get(tenant_pk(tenant_id), sk)
                if record is not None:
                    return EventClaim.from_data(record.data)
        raise ConditionFailed(f"event key of {tenant_id} kept changing")

    def add_delivery(self, delivery: Delivery) -> None:
        """Store a new delivery (expiring after the TTL); raises ConditionFailed when the id exists."""
        self._store.put(tenant_pk(delivery.tenant_id), delivery_sk(delivery.webhook_id, delivery.delivery_id),
                        delivery.model_dump(mode="json"), expect_version=0,
                        expires_at=self._expiry(delivery.created_at))

    def get_delivery(self, tenant_id: str, webhook_id: str, delivery_id: str) -> tuple[Delivery, int] | None:
        """The delivery and its version, or None."""
        record = self._store.get(tenant_pk(tenant_id), delivery_sk(webhook_id, delivery_id))
        if record is None:
            return None
        return Delivery.model_validate(record.data), record.version

    def update_delivery(self, tenant_id: str, webhook_id: str, delivery_id: str, change: DeliveryChange, *,
                        current: tuple[Delivery, int] | None = None) -> Delivery | None:
        """Like `update_endpoint`, for a delivery."""
        return update_versioned(
            lambda: self.get_delivery(tenant_id, webhook_id, delivery_id), lambda d: change(d.model_copy(deep=True)),
            lambda d, version: self._store.put(tenant_pk(tenant_id), delivery_sk(webhook_id, delivery_id),
                                               d.model_dump(mode="json"), expect_version=version),
            attempts=_RACE_RETRIES, what=f"delivery {delivery_id}", first=current)

    def list_deliveries(self, tenant_id: str, webhook_id: str, *, limit: int,
                        after: str | None = None) -> list[tuple[Delivery, str]]:
        """An endpoint's deliveries with their sort keys, newest first."""
        records = self._store.query(tenant_pk(tenant_id), deliveries_prefix(webhook_id), forward=False, after=after,
                                    limit=limit)
        return [(Delivery.model_validate(r.data), r.sk) for r in records]

    # -- outbox index ------------------------------------------------------------------------------

    def add_outbox(self, entry: OutboxEntry) -> None:
        """Write an outbox entry (overwriting one with the same key); it expires with the deliveries' TTL."""
        self._store.put(OUTBOX_PK, entry.sk, {
            "tenant_id": entry.tenant_id, "webhook_id": entry.webhook_id, "delivery_id": entry.delivery_id,
            "check_at": entry.check_at.isoformat(), "unsent": entry.unsent,
        }, expires_at=self._expiry(entry.check_at))

    def remove_outbox(self, check_at: datetime, delivery_id: str) -> None:
        """Delete an outbox entry (absent is fine)."""
        self._store.delete(OUTBOX_PK, outbox_sk(check_at, delivery_id))

    def move_outbox(self, entry: OutboxEntry, check_at: datetime, *, unsent: bool = False) -> OutboxEntry:
        """Re-key an entry to `check_at` (the new one is written before the old one is deleted)."""
        moved = OutboxEntry(entry.tenant_id, entry.webhook_id, entry.delivery_id, check_at, unsent)
        if moved.sk != entry.sk or moved.unsent != entry.unsent:
            self.add_outbox(moved)
            if moved.sk != entry.sk:
                self._store.delete(OUTBOX_PK, entry.sk)
        return moved

    def due_outbox(self, until: datetime | None, *, limit: int, after: str | None = None) -> list[OutboxEntry]:
        """Entries due for a look at or before `until` (every entry when None), oldest first."""
        bound = None if until is None else f"{OUTBOX_PREFIX}{_millis(until) + 1:015d}"
        records = self._store.query(OUTBOX_PK, OUTBOX_PREFIX, forward=True, after=after, until=bound, limit=limit)
        return [OutboxEntry(str(r.data["tenant_id"]), str(r.data["webhook_id"]), str(r.data["delivery_id"]),
                            datetime.fromisoformat(str(r.data["check_at"])).astimezone(UTC),
                            bool(r.data.get("unsent", False)))
                for r in records]
