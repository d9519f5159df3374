"""Target routes (proof of control for active scans), each declared once in the operation table."""

from __future__ import annotations

from chalice.app import Request, Response

from chalicelib.access.roles import Role
from chalicelib.api import target_views as views
from chalicelib.api.http import Ctx, Result, handle, path_id
from chalicelib.api.operations import Routes
from chalicelib.core.clock import utcnow
from chalicelib.core.pagination import PageQuery

_TARGET = "/v1/targets/{target_id}"
_TAGS = ("targets",)

route = Routes()


@route("POST", "/v1/targets", "registerTarget",
       "Register a domain for active scans and get its challenge (the same domain again: the same target)", 201,
       views.TargetView, request=views.RegisterTarget, errors=(400, 413, 422, 503), also_ok=(200,), tags=_TAGS,
       role=Role.ADMIN)
def register_target(request: Request | None) -> Response:
    """POST /v1/targets: 201 for a new target, 200 with the existing one."""
    def op(ctx: Ctx) -> Result:
        target, created = ctx.services.targets.register(ctx.tenant_id, ctx.body(views.RegisterTarget).domain)
        location = {"Location": f"{ctx.services.settings.public_base_url}/v1/targets/{target.target_id}"}
        return Result(201 if created else 200, views.target_view(target, utcnow()), location)
    return handle(request, op)


@route("GET", "/v1/targets", "listTargets", "List targets, newest first", 200, views.TargetList, query=PageQuery,
       errors=(400, 422), tags=_TAGS, role=Role.VIEWER)
def list_targets(request: Request | None) -> Response:
    """GET /v1/targets."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(PageQuery)
        items, cursor = ctx.services.targets.list_targets(ctx.tenant_id, limit=q.limit, cursor=q.cursor)
        now = utcnow()
        return Result(200, views.TargetList(items=[views.target_view(t, now) for t in items], next_cursor=cursor))
    return handle(request, op)


@route("GET", _TARGET, "getTarget", "Read a target and its challenge", 200, views.TargetView, errors=(404,),
       tags=_TAGS, role=Role.VIEWER)
def get_target(request: Request | None, target_id: str) -> Response:
    """GET /v1/targets/{target_id}."""
    def op(ctx: Ctx) -> Result:
        target = ctx.services.targets.get(ctx.tenant_id, path_id("target_id", target_id))
        return Result(200, views.target_view(target, utcnow()))
    return handle(request, op)


@route("POST", f"{_TARGET}/verify", "verifyTarget",
       "Check the challenge now: the TXT record, then the HTTPS well-known file", 200, views.TargetView,
       errors=(404, 422, 503), tags=_TAGS, role=Role.ADMIN)
def verify_target(request: Request | None, target_id: str) -> Response:
    """POST /v1/targets/{target_id}/verify: 200 verified, or 422 target-verification-failed with what was seen."""
    def op(ctx: Ctx) -> Result:
        target = ctx.services.targets.verify(ctx.tenant_id, path_id("target_id", target_id))
        return Result(200, views.target_view(target, utcnow()))
    return handle(request, op)


@route("DELETE", _TARGET, "deleteTarget", "Forget a target (active scans of it are refused from now on)", 204,
       None, errors=(404,), tags=_TAGS, role=Role.ADMIN)
def delete_target(request: Request | None, target_id: str) -> Response:
    """DELETE /v1/targets/{target_id}."""
    def op(ctx: Ctx) -> Result:
        ctx.services.targets.delete(ctx.tenant_id, path_id("target_id", target_id))
        return Result(204, None)
    return handle(request, op)
