"""The Cert-IX dialect's operations: parse the Cert-IX request, call the services /v1 calls, answer Cert-IX's shape."""

from __future__ import annotations

from chalice.app import Request, Response

from chalicelib.access.roles import Role
from chalicelib.api.dialects import certix_models as m
from chalicelib.api.dialects.certix import (
    CERTIX,
    PERIODS,
    ListScansQuery,
    PageQuery,
    ReportQuery,
    ScanTypeQuery,
    UsageQuery,
    checked_scan,
    create_scan_command,
    handle,
    launch_command,
    list_scans,
    location,
    ok,
    paged,
    reveal_secret,
    template_command,
    usage_view,
    webhook_events,
)
from chalicelib.api.http import Ctx, Result, path_id, validate
from chalicelib.api.report_routes import wants_json
from chalicelib.api.webhook_routes import SEALED_PREFIX
from chalicelib.core.errors import ScanNotComplete, Unsupported
from chalicelib.scans.models import ScanStatus
from chalicelib.webhooks.formats.certix import EVENTS, vendor_status
from chalicelib.webhooks.service import CreateWebhook

__all__ = ["CERTIX"]

route = CERTIX.routes
_SCAN = CERTIX.path("/scans/{scan_id}")
_TEMPLATE = CERTIX.path("/scan-templates/{template_id}")
_WEBHOOK = CERTIX.path("/webhooks/{webhook_id}")
ScanOut, ScanPage = m.Envelope[m.CertixScan], m.PageEnvelope[m.CertixScan]
TemplateOut, TemplatePage = m.Envelope[m.CertixTemplate], m.PageEnvelope[m.CertixTemplate]
WebhookOut, WebhookPage = m.Envelope[m.CertixWebhook], m.PageEnvelope[m.CertixWebhook]


# -- scans ------------------------------------------------------------------------------------------


@route("POST", CERTIX.path("/scans"), "createScan",
       "Submit a scan (`nmap`: network, `trivy`: container image, `zap`: web application on a verified host)", 202,
       ScanOut, request=m.ScanRequest, errors=(400, 403, 409, 413, 422, 503), tags=("scans",))
def certix_create_scan(request: Request | None) -> Response:
    """POST /scans."""
    def op(ctx: Ctx) -> Result:
        scan = ctx.services.scans.create(ctx.principal.tenant, create_scan_command(ctx.body(m.ScanRequest)))
        return ok(202, m.scan_view(scan), headers=location(ctx, f"/scans/{scan.scan_id}"))
    return handle(request, op)


@route("GET", CERTIX.path("/scans"), "listScans", "List scans, newest first (page/limit, scanType, status, tag)",
       200, ScanPage, query=ListScansQuery, errors=(400, 422), tags=("scans",))
def certix_list_scans(request: Request | None) -> Response:
    """GET /scans."""
    def op(ctx: Ctx) -> Result:
        scans, pagination = list_scans(ctx, ctx.query(ListScansQuery))
        return ok(200, [m.scan_view(s) for s in scans], pagination)
    return handle(request, op)


@route("GET", _SCAN, "getScan", "Scan status and details", 200, ScanOut, query=ScanTypeQuery, errors=(404, 422),
       tags=("scans",))
def certix_get_scan(request: Request | None, scan_id: str) -> Response:
    """GET /scans/{scanId}."""
    def op(ctx: Ctx) -> Result:
        scan = checked_scan(ctx.services, ctx.tenant_id, scan_id, ctx.query(ScanTypeQuery).scan_type)
        return ok(200, m.scan_view(scan))
    return handle(request, op)


@route("GET", f"{_SCAN}/results", "getScanResults",
       "A completed scan's results: severity summary, findings (most severe first) and open services", 200,
       m.Envelope[m.CertixResults], query=ScanTypeQuery, errors=(404, 409, 422), tags=("scans",))
def certix_get_scan_results(request: Request | None, scan_id: str) -> Response:
    """GET /scans/{scanId}/results."""
    def op(ctx: Ctx) -> Result:
        scan = checked_scan(ctx.services, ctx.tenant_id, scan_id, ctx.query(ScanTypeQuery).scan_type)
        if scan.status is not ScanStatus.COMPLETE:
            raise ScanNotComplete(f"Scan {scan.scan_id} is {vendor_status(scan.status.value)}; results are "
                                  "available once it is completed.")
        return ok(200, m.results_view(scan, ctx.services.scans.all_findings(scan)))
    return handle(request, op)


@route("POST", f"{_SCAN}/cancel", "cancelScan", "Cancel a queued or running scan", 200, ScanOut,
       query=ScanTypeQuery, errors=(404, 409, 422), tags=("scans",))
def certix_cancel_scan(request: Request | None, scan_id: str) -> Response:
    """POST /scans/{scanId}/cancel."""
    def op(ctx: Ctx) -> Result:
        scan = checked_scan(ctx.services, ctx.tenant_id, scan_id, ctx.query(ScanTypeQuery).scan_type)
        return ok(200, m.scan_view(ctx.services.scans.cancel(ctx.tenant_id, scan.scan_id)))
    return handle(request, op)


@route("GET", f"{_SCAN}/report", "getScanReport",
       "Download a completed scan's report (`format` pdf or json): 302 to a link valid 15 minutes at most, or the "
       "link as JSON with `Accept: application/json`", 302, m.Envelope[m.ReportLink], query=ReportQuery,
       errors=(404, 409, 422), tags=("scans",))
def certix_get_scan_report(request: Request | None, scan_id: str) -> Response:
    """GET /scans/{scanId}/report."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(ReportQuery)
        scan = checked_scan(ctx.services, ctx.tenant_id, scan_id, q.scan_type)
        link = ctx.services.reports.link(ctx.tenant_id, scan.scan_id, q.format)
        if wants_json(ctx.request.headers.get("accept")):
            return ok(200, m.ReportLink(url=link.url, expires_at=link.expires_at, sha256=link.sha256,
                                        format=q.format))
        return Result(302, None, {"Location": link.url, "Cache-Control": "no-store", "Vary": "Accept"})
    return handle(request, op)


# -- templates --------------------------------------------------------------------------------------


@route("POST", CERTIX.path("/scan-templates"), "createScanTemplate", "Save a scan template", 201, TemplateOut,
       request=m.TemplateRequest, errors=(400, 409, 413, 422), tags=("templates",))
def certix_create_template(request: Request | None) -> Response:
    """POST /scan-templates."""
    def op(ctx: Ctx) -> Result:
        template = ctx.services.templates.create(ctx.tenant_id, template_command(ctx.body(m.TemplateRequest)))
        return ok(201, m.template_view(template), headers=location(ctx, f"/scan-templates/{template.template_id}"))
    return handle(request, op)


@route("GET", CERTIX.path("/scan-templates"), "listScanTemplates", "List templates, newest first", 200, TemplatePage,
       query=PageQuery, errors=(400, 422), tags=("templates",))
def certix_list_templates(request: Request | None) -> Response:
    """GET /scan-templates."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(PageQuery)
        q.check_depth()
        items, pagination = paged(lambda cursor, n: ctx.services.templates.list(ctx.tenant_id, limit=n, cursor=cursor),
                                  q.page, q.limit)
        return ok(200, [m.template_view(t) for t in items], pagination)
    return handle(request, op)


@route("GET", _TEMPLATE, "getScanTemplate", "Read a template", 200, TemplateOut, errors=(404,), tags=("templates",))
def certix_get_template(request: Request | None, template_id: str) -> Response:
    """GET /scan-templates/{templateId}."""
    def op(ctx: Ctx) -> Result:
        return ok(200, m.template_view(ctx.services.templates.get(ctx.tenant_id, path_id("templateId", template_id))))
    return handle(request, op)


@route("DELETE", _TEMPLATE, "deleteScanTemplate", "Delete a template", 200, m.Envelope[m.Deleted], errors=(404,),
       tags=("templates",))
def certix_delete_template(request: Request | None, template_id: str) -> Response:
    """DELETE /scan-templates/{templateId}."""
    def op(ctx: Ctx) -> Result:
        ctx.services.templates.delete(ctx.tenant_id, path_id("templateId", template_id))
        return ok(200, m.Deleted(id=template_id))
    return handle(request, op)


@route("POST", f"{_TEMPLATE}/launch", "launchScanTemplate", "Start a scan from a template (overrides optional)", 202,
       ScanOut, request=m.LaunchRequest, errors=(400, 403, 404, 409, 413, 422, 503), tags=("templates",),
       role=Role.MEMBER)
def certix_launch_template(request: Request | None, template_id: str) -> Response:
    """POST /scan-templates/{templateId}/launch."""
    def op(ctx: Ctx) -> Result:
        template = ctx.services.templates.get(ctx.tenant_id, path_id("templateId", template_id))
        scan = ctx.services.templates.launch(ctx.principal.tenant, template.template_id,
                                             launch_command(ctx.body(m.LaunchRequest), template.scan_type))
        return ok(202, m.scan_view(scan), headers=location(ctx, f"/scans/{scan.scan_id}"))
    return handle(request, op)


# -- usage and webhooks ----------------------------------------------------------------------------


@route("GET", CERTIX.path("/usage/summary"), "getUsageSummary", "Scans and billable units over 7d, 30d or 90d", 200,
       m.Envelope[m.CertixUsage], query=UsageQuery, errors=(422,), tags=("usage",))
def certix_usage_summary(request: Request | None) -> Response:
    """GET /usage/summary."""
    def op(ctx: Ctx) -> Result:
        period = ctx.query(UsageQuery).period
        if period not in PERIODS:
            raise Unsupported(f"period '{period}' is not supported; one of 7d, 30d, 90d.", field="period",
                              value=period)
        return ok(200, usage_view(ctx.services.usage.summary(ctx.tenant_id, period)))
    return handle(request, op)


@route("POST", CERTIX.path("/webhooks"), "createWebhook",
       "Register a webhook: Cert-IX payloads signed in X-Webhook-Signature (and Standard Webhooks headers)", 201,
       WebhookOut, request=m.WebhookRequest, errors=(400, 409, 413, 422, 503), tags=("webhooks",))
def certix_create_webhook(request: Request | None) -> Response:
    """POST /webhooks; the response's `secret` is shown once."""
    def op(ctx: Ctx) -> Result:
        req = ctx.body(m.WebhookRequest)
        command = validate(CreateWebhook, {
            "url": req.url, "events": webhook_events(req.events), "description": req.name, "format": CERTIX.name,
            **({"secret": req.secret.get_secret_value()} if req.secret is not None else {})})
        endpoint, secret = ctx.services.webhooks.create(ctx.tenant_id, command)
        sealed = SEALED_PREFIX + ctx.services.webhooks.seal_for_response(endpoint.webhook_id, secret)
        return ok(201, m.webhook_view(endpoint, EVENTS, sealed),
                  headers=location(ctx, f"/webhooks/{endpoint.webhook_id}"))
    return handle(request, op, finish=reveal_secret)


@route("GET", CERTIX.path("/webhooks"), "listWebhooks", "List webhooks, newest first", 200, WebhookPage,
       query=PageQuery, errors=(400, 422), tags=("webhooks",), role=Role.ADMIN)
def certix_list_webhooks(request: Request | None) -> Response:
    """GET /webhooks."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(PageQuery)
        q.check_depth()
        items, pagination = paged(
            lambda cursor, n: ctx.services.webhooks.list_webhooks(ctx.tenant_id, limit=n, cursor=cursor),
            q.page, q.limit)
        return ok(200, [m.webhook_view(e, EVENTS) for e in items], pagination)
    return handle(request, op)


@route("GET", _WEBHOOK, "getWebhook", "Read a webhook", 200, WebhookOut, errors=(404,), tags=("webhooks",),
       role=Role.ADMIN)
def certix_get_webhook(request: Request | None, webhook_id: str) -> Response:
    """GET /webhooks/{webhookId}."""
    def op(ctx: Ctx) -> Result:
        return ok(200, m.webhook_view(ctx.services.webhooks.get(ctx.tenant_id, path_id("webhookId", webhook_id)),
                                      EVENTS))
    return handle(request, op)


@route("DELETE", _WEBHOOK, "deleteWebhook", "Delete a webhook", 200, m.Envelope[m.Deleted], errors=(404,),
       tags=("webhooks",))
def certix_delete_webhook(request: Request | None, webhook_id: str) -> Response:
    """DELETE /webhooks/{webhookId}."""
    def op(ctx: Ctx) -> Result:
        ctx.services.webhooks.delete(ctx.tenant_id, path_id("webhookId", webhook_id))
        return ok(200, m.Deleted(id=webhook_id))
    return handle(request, op)

