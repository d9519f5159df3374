"""API key routes: list a tenant's keys (never a key or its hash), mint one (shown once), revoke one.

A minted key travels sealed through `handle()` (what an Idempotency-Key record stores) and is
revealed by the `finish` step just before the response leaves (chalicelib/access/keyseal.py).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Annotated, Any

from chalice.app import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.access.auth import ApiKey
from chalicelib.access.roles import Role
from chalicelib.api.http import Ctx, Result, handle, path_id
from chalicelib.api.operations import Routes
from chalicelib.bootstrap import Services
from chalicelib.core.errors import PerimeterError
from chalicelib.core.pagination import PageQuery

log = logging.getLogger(__name__)
route = Routes()
_KEY = "/v1/api-keys/{key_id}"


class CreateApiKey(BaseModel):
    """`POST /v1/api-keys`: a member's key (its role is the member's) or a service key (a role of its own)."""

    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=100)]
    role: Role | None = None
    member_id: Annotated[str, Field(min_length=1, max_length=100)] | None = None


class ApiKeyView(BaseModel):
    """What the API says about a key: never the key, never its hash."""

    key_id: str
    name: str
    hint: str
    role: Role
    member_id: str | None
    created_at: datetime
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyView):
    """A new key: `api_key` is shown this once."""

    api_key: str


class ApiKeyList(BaseModel):
    """A page of keys, newest first."""

    items: list[ApiKeyView]
    next_cursor: str | None


def key_view(key: ApiKey) -> ApiKeyView:
    """The public view of a stored key."""
    return ApiKeyView.model_validate(key.model_dump(exclude={"key_hash", "tenant_id"}))


def _context(key_id: str) -> str:
    return f"api-key-response/{key_id}"


def _reveal(services: Services, body: Any) -> Any:
    """Replace the sealed `api_key` of a created key by the key itself; raises PerimeterError when it cannot."""
    if not isinstance(body, dict) or not isinstance(body.get("api_key"), str):
        return body
    try:
        return {**body, "api_key": services.auth.response_seal.reveal(body["api_key"], _context(str(body["key_id"])))}
    except ValueError:
        log.exception("could not unseal a new API key for the response")
        raise PerimeterError("The new key could not be shown; revoke it and create another.") from None


@route("GET", "/v1/api-keys", "listApiKeys", "List the organization's API keys, newest first (never the keys)", 200,
       ApiKeyList, query=PageQuery, errors=(400, 403, 422), tags=("api-keys",), role=Role.ADMIN)
def list_api_keys(request: Request | None) -> Response:
    """GET /v1/api-keys."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(PageQuery)
        keys, cursor = ctx.services.auth.page_keys(ctx.tenant_id, limit=q.limit, cursor=q.cursor)
        return Result(200, ApiKeyList(items=[key_view(k) for k in keys], next_cursor=cursor))
    return handle(request, op)


@route("POST", "/v1/api-keys", "createApiKey",
       "Create an API key for a member (the member's role) or a service (a role of its own, at most yours); "
       "the key is shown once", 201, ApiKeyCreated, request=CreateApiKey, errors=(400, 403, 413, 422),
       tags=("api-keys",))
def create_api_key(request: Request | None) -> Response:
    """POST /v1/api-keys."""
    def op(ctx: Ctx) -> Result:
        command = ctx.body(CreateApiKey)
        record, plaintext = ctx.services.auth.mint_key(ctx.principal, name=command.name, role=command.role,
                                                        member_id=command.member_id)
        sealed = ctx.services.auth.response_seal.seal(plaintext, _context(record.key_id))
        body = {**key_view(record).model_dump(mode="json"), "api_key": sealed}
        location = f"{ctx.services.settings.public_base_url}/v1/api-keys/{record.key_id}"
        return Result(201, body, {"Location": location})
    return handle(request, op, finish=_reveal)


@route("DELETE", _KEY, "revokeApiKey", "Revoke an API key at once (not one whose role is above yours)", 200,
       ApiKeyView, errors=(403, 404), tags=("api-keys",))
def revoke_api_key(request: Request | None, key_id: str) -> Response:
    """DELETE /v1/api-keys/{key_id}."""
    def op(ctx: Ctx) -> Result:
        return Result(200, key_view(ctx.services.auth.revoke_key_as(ctx.principal, path_id("key_id", key_id))))
    return handle(request, op)
