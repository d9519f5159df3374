"""Scan, template and usage routes, each declared once in the operation table: parse, one service call, a view."""

from __future__ import annotations

from typing import Annotated, Literal

from chalice.app import Request, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.access.roles import Role
from chalicelib.api import views
from chalicelib.api.http import Ctx, Result, handle, path_id
from chalicelib.api.operations import Routes
from chalicelib.core.pagination import DEFAULT_PAGE_SIZE, Cursor, FindingsPageLimit, PageLimit, PageQuery
from chalicelib.scans.commands import CreateScan, Tag
from chalicelib.scans.models import ScanStatus, ScanType, Severity, SignalKey
from chalicelib.templates.commands import CreateTemplate, LaunchTemplate

route = Routes()


class ListScansQuery(BaseModel):
    """Filters of `GET /v1/scans`."""

    model_config = ConfigDict(extra="ignore")
    status: ScanStatus | None = None
    scan_type: ScanType | None = None
    tag: Tag | None = None
    limit: PageLimit = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None


class FindingsQuery(BaseModel):
    """Filters and pagination of `GET /v1/scans/{token}/findings`."""

    model_config = ConfigDict(extra="ignore")
    severity: Severity | None = None
    signal: SignalKey | None = None
    cwe: Annotated[str, Field(pattern=r"^(?i:cwe-)?[0-9]{1,5}$")] | None = None
    limit: FindingsPageLimit = 50
    cursor: Cursor | None = None


class UsageQuery(BaseModel):
    """`GET /v1/usage/summary` period."""

    model_config = ConfigDict(extra="ignore")
    period: Literal["7d", "30d", "90d"] = "30d"


@route("POST", "/v1/scans", "createScan", "Start a scan", 202, views.ScanCreated, request=CreateScan,
       errors=(400, 409, 413, 422, 503), tags=("scans",))
def create_scan(request: Request | None) -> Response:
    """POST /v1/scans."""
    def op(ctx: Ctx) -> Result:
        scan = ctx.services.scans.create(ctx.principal.tenant, ctx.body(CreateScan))
        created = views.scan_created(scan, ctx.services.settings.public_base_url,
                                     ctx.services.self_assessment.offer(scan))
        return Result(202, created, {"Location": created.status_url})
    return handle(request, op)


@route("GET", "/v1/scans/{token}", "getScan", "Read a scan", 200, views.ScanView, errors=(404,), tags=("scans",))
def get_scan(request: Request | None, token: str) -> Response:
    """GET /v1/scans/{token}."""
    def op(ctx: Ctx) -> Result:
        scan = ctx.services.scans.get(ctx.tenant_id, path_id("token", token))
        return Result(200, views.scan_view(scan, ctx.services.settings.public_base_url))
    return handle(request, op)


@route("GET", "/v1/scans", "listScans", "List scans, newest first", 200, views.ScanList,
       query=ListScansQuery, errors=(400, 422), tags=("scans",))
def list_scans(request: Request | None) -> Response:
    """GET /v1/scans."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(ListScansQuery)
        scans, cursor = ctx.services.scans.list(ctx.tenant_id, status=q.status, scan_type=q.scan_type, tag=q.tag,
                                                limit=q.limit, cursor=q.cursor)
        base = ctx.services.settings.public_base_url
        return Result(200, views.ScanList(items=[views.scan_view(s, base) for s in scans], next_cursor=cursor))
    return handle(request, op)


@route("GET", "/v1/scans/{token}/findings", "listFindings", "A scan's findings, most severe first", 200,
       views.FindingList, query=FindingsQuery, errors=(400, 404, 422), tags=("scans",))
def list_findings(request: Request | None, token: str) -> Response:
    """GET /v1/scans/{token}/findings."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(FindingsQuery)
        scan, page, cursor, total = ctx.services.scans.findings(
            ctx.tenant_id, path_id("token", token), severity=q.severity, signal=q.signal, cwe=q.cwe, limit=q.limit,
            cursor=q.cursor)
        return Result(200, views.FindingList(scan_token=scan.scan_id, scan_status=scan.status, items=page,
                                             total=total, next_cursor=cursor))
    return handle(request, op)


@route("POST", "/v1/scans/{token}/cancel", "cancelScan", "Cancel a running scan", 200, views.ScanView,
       errors=(404, 409), tags=("scans",))
def cancel_scan(request: Request | None, token: str) -> Response:
    """POST /v1/scans/{token}/cancel."""
    def op(ctx: Ctx) -> Result:
        scan = ctx.services.scans.cancel(ctx.tenant_id, path_id("token", token))
        return Result(200, views.scan_view(scan, ctx.services.settings.public_base_url))
    return handle(request, op)


@route("POST", "/v1/scan-templates", "createTemplate", "Save a scan template", 201, views.TemplateView,
       request=CreateTemplate, errors=(400, 409, 413, 422), tags=("templates",))
def create_template(request: Request | None) -> Response:
    """POST /v1/scan-templates."""
    def op(ctx: Ctx) -> Result:
        template = ctx.services.templates.create(ctx.tenant_id, ctx.body(CreateTemplate))
        return Result(201, views.template_view(template))
    return handle(request, op)


@route("GET", "/v1/scan-templates", "listTemplates", "List templates", 200, views.TemplateList,
       query=PageQuery, errors=(400, 422), tags=("templates",))
def list_templates(request: Request | None) -> Response:
    """GET /v1/scan-templates."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(PageQuery)
        items, cursor = ctx.services.templates.list(ctx.tenant_id, limit=q.limit, cursor=q.cursor)
        return Result(200, views.TemplateList(items=[views.template_view(t) for t in items], next_cursor=cursor))
    return handle(request, op)


@route("GET", "/v1/scan-templates/{template_id}", "getTemplate", "Read a template", 200, views.TemplateView,
       errors=(404,), tags=("templates",))
def get_template(request: Request | None, template_id: str) -> Response:
    """GET /v1/scan-templates/{template_id}."""
    def op(ctx: Ctx) -> Result:
        template = ctx.services.templates.get(ctx.tenant_id, path_id("template_id", template_id))
        return Result(200, views.template_view(template))
    return handle(request, op)


@route("DELETE", "/v1/scan-templates/{template_id}", "deleteTemplate", "Delete a template", 204, None,
       errors=(404,), tags=("templates",))
def delete_template(request: Request | None, template_id: str) -> Response:
    """DELETE /v1/scan-templates/{template_id}."""
    def op(ctx: Ctx) -> Result:
        ctx.services.templates.delete(ctx.tenant_id, path_id("template_id", template_id))
        return Result(204, None)
    return handle(request, op)


@route("POST", "/v1/scan-templates/{template_id}/launch", "launchTemplate", "Start a scan from a template",
       202, views.ScanCreated, request=LaunchTemplate, errors=(400, 404, 409, 413, 422, 503), tags=("templates",),
       role=Role.MEMBER)
def launch_template(request: Request | None, template_id: str) -> Response:
    """POST /v1/scan-templates/{template_id}/launch."""
    def op(ctx: Ctx) -> Result:
        scan = ctx.services.templates.launch(ctx.principal.tenant, path_id("template_id", template_id),
                                             ctx.body(LaunchTemplate))
        created = views.scan_created(scan, ctx.services.settings.public_base_url,
                                     ctx.services.self_assessment.offer(scan))
        return Result(202, created, {"Location": created.status_url})
    return handle(request, op)


@route("GET", "/v1/usage/summary", "getUsageSummary", "Scans and billable units", 200, views.UsageSummary,
       query=UsageQuery, errors=(422,), tags=("usage",))
def usage_summary(request: Request | None) -> Response:
    """GET /v1/usage/summary."""
    def op(ctx: Ctx) -> Result:
        summary = ctx.services.usage.summary(ctx.tenant_id, ctx.query(UsageQuery).period)
        return Result(200, views.UsageSummary.model_validate(summary).model_dump(mode="json", by_alias=True))
    return handle(request, op)
