"""Audit events: who did what, when, with which key, per tenant, newest first, expiring after a retention.

An event names an action (the operationId of an API call, or a feature's own verb such as
`invitationAccepted`), the actor (key and/or member), the target (path ids), the answer's status,
the request id and the source address. Never a body, a key, a secret or a query string: the
recorder is given none, and a target value that looks like a credential is stored redacted.
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping
from datetime import datetime

from pydantic import BaseModel, ConfigDict

from chalicelib.core.clock import utcnow
from chalicelib.core.ids import new_id
from chalicelib.core.pagination import decode_cursor, encode_cursor
from chalicelib.core.store import KeyValueStore

PREFIX = "AUDIT#"
DAY_SECONDS = 86_400
SCAN_BUDGET = 1_000  # events examined per page at most when filters skip many (the page then ends early)
_BATCH = 200
MAX_TEXT = 200
REDACTED = "[redacted]"
# What a credential looks like: our API keys and webhook secrets anywhere in a text; a text that is one
# long opaque token (40+ characters of base64/hex) as a whole.
_CREDENTIAL = re.compile(r"(pmk_|whsec_)[A-Za-z0-9_\-+/=]*", re.IGNORECASE)
_OPAQUE = re.compile(r"^[A-Za-z0-9_\-+/=]{40,}$")
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


class AuditEvent(BaseModel):
    """One recorded action."""

    model_config = ConfigDict(extra="forbid")
    event_id: str
    tenant_id: str
    action: str
    actor_key_id: str | None = None
    actor_member_id: str | None = None
    target: dict[str, str] | None = None
    status: int
    request_id: str | None = None
    source_ip: str | None = None
    detail: str | None = None
    occurred_at: datetime


def _clean(value: str | None) -> str | None:
    """A short text, redacted when it looks like a credential."""
    if value is None:
        return None
    text = _CREDENTIAL.sub(REDACTED, str(value))
    return REDACTED if _OPAQUE.match(text) else text[:MAX_TEXT]


def _floor_sk(moment: datetime) -> str:
    """The smallest sort key of an event at or after `moment` (a ULID of that millisecond, zero random part)."""
    value = max(0, int(moment.timestamp() * 1000)) << 80
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return PREFIX + "".join(reversed(chars))


class AuditService:
    """Records and lists a tenant's audit events."""

    def __init__(self, store: KeyValueStore, retention_days: int) -> None:
        self._store = store
        self._retention = retention_days * DAY_SECONDS

    def record(self, tenant_id: str, *, action: str, actor_key_id: str | None, actor_member_id: str | None,
               target: Mapping[str, str] | None = None, status: int, request_id: str | None = None,
               source_ip: str | None = None, detail: str | None = None) -> AuditEvent:
        """Store one event, expiring after the retention; returns it. Raises what the store raises."""
        event_id = new_id("evt")
        event = AuditEvent(
            event_id=event_id, tenant_id=tenant_id, action=action[:MAX_TEXT], actor_key_id=actor_key_id,
            actor_member_id=actor_member_id, status=status, request_id=_clean(request_id),
            source_ip=_clean(source_ip), detail=_clean(detail), occurred_at=utcnow(),
            target={str(k)[:MAX_TEXT]: _clean(v) or "" for k, v in target.items()} if target else None,
        )
        expires_at = int(event.occurred_at.timestamp()) + self._retention
        self._store.put(f"TENANT#{tenant_id}", PREFIX + event_id.removeprefix("evt_"),
                        event.model_dump(mode="json"), expires_at=expires_at)
        return event

    def list(self, tenant_id: str, *, limit: int, cursor: str | None = None, action: str | None = None,
             actor: str | None = None, since: datetime | None = None) -> tuple[list[AuditEvent], str | None]:
        """Newest first, filtered by action, actor (a key or member id) and time; (events, next cursor or None).

        Expired events still awaiting the store's TTL sweep are skipped. Raises BadRequest for a bad cursor.
        """
        after = decode_cursor(cursor, PREFIX) if cursor else None
        until = _floor_sk(since) if since is not None else None
        now = int(time.time())
        found: list[tuple[str, AuditEvent]] = []
        examined = 0
        while examined < SCAN_BUDGET:
            batch = self._store.query(f"TENANT#{tenant_id}", PREFIX, forward=False, after=after, until=until,
                                      limit=_BATCH)
            for record in batch:
                examined += 1
                after = record.sk
                if record.expires_at is not None and record.expires_at <= now:
                    continue
                event = AuditEvent.model_validate(record.data)
                if _matches(event, action, actor):
                    found.append((record.sk, event))
                    if len(found) > limit:
                        page = found[:limit]
                        return [e for _, e in page], encode_cursor(page[-1][0])
            if len(batch) < _BATCH:
                return [e for _, e in found], None
        # The budget ran out before the page filled: answer what matched, and continue after the last examined.
        return [e for _, e in found], encode_cursor(after) if after else None


def _matches(event: AuditEvent, action: str | None, actor: str | None) -> bool:
    if action is not None and event.action != action:
        return False
    return actor is None or actor in (event.actor_key_id, event.actor_member_id)
