"""`GET /v1/audit-events`: who did what, when, with which key; admins only."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

from chalice.app import Request, Response
from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from chalicelib.access.audit import AuditEvent
from chalicelib.access.roles import Role
from chalicelib.api.http import Ctx, Result, handle
from chalicelib.api.operations import Routes
from chalicelib.core.pagination import DEFAULT_PAGE_SIZE, Cursor, PageLimit

route = Routes()


def _iso_only(value: object) -> object:
    """Refuse what is not an RFC 3339 date-time (pydantic alone would read `0.5` as a Unix time)."""
    if isinstance(value, str) and not re.fullmatch(r"\d{4}-\d{2}-\d{2}[Tt ].+", value):
        raise ValueError("must be an RFC 3339 date-time with its offset, e.g. 2026-12-01T00:00:00Z")
    return value


class AuditQuery(BaseModel):
    """Filters and pagination of `GET /v1/audit-events`."""

    model_config = ConfigDict(extra="ignore")
    action: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    actor: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    since: Annotated[AwareDatetime, BeforeValidator(_iso_only)] | None = None
    limit: PageLimit = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None


class AuditEventView(BaseModel):
    """One event as the API shows it."""

    event_id: str
    action: str
    actor_key_id: str | None
    actor_member_id: str | None
    target: dict[str, str] | None
    status: int
    request_id: str | None
    source_ip: str | None
    detail: str | None
    occurred_at: datetime


class AuditEventList(BaseModel):
    """A page of events, newest first."""

    items: list[AuditEventView]
    next_cursor: str | None


def event_view(event: AuditEvent) -> AuditEventView:
    """The public view of a stored event."""
    return AuditEventView.model_validate(event.model_dump(exclude={"tenant_id"}))


@route("GET", "/v1/audit-events", "listAuditEvents",
       "Who did what, when, with which key: newest first; filters action, actor (key or member id), since", 200,
       AuditEventList, query=AuditQuery, errors=(400, 403, 422), tags=("audit",), role=Role.ADMIN)
def list_audit_events(request: Request | None) -> Response:
    """GET /v1/audit-events."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(AuditQuery)
        events, cursor = ctx.services.audit.list(ctx.tenant_id, limit=q.limit, cursor=q.cursor, action=q.action,
                                                 actor=q.actor, since=q.since)
        return Result(200, AuditEventList(items=[event_view(e) for e in events], next_cursor=cursor))
    return handle(request, op)
