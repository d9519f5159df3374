"""The CyperSecurity dialect, under `/compat/cypersecurity/v1` (its own `/v1` would collide with ours).

`X-API-Key` authentication; scans with offset pagination and `total`; `nmap` is Perimeter's `ports`
scan, `zap` its `webapp` scan with the built-in engine and wapiti, `sqlmap` a `webapp` scan with the
sqlmap engine only (both on hosts whose control was proven, else 403 in the vendor's error); results
as `services` (per-port findings) and `vulnerabilities` (findings with a CVE; for zap and sqlmap every
finding above info); report generation then download (a 302 to the signed link); webhooks with a
partner-chosen secret in CyperSecurity's format; the nested error object. The organization and team
endpoints are in `cypersecurity_account`. Mapping tables first, then small functions, then the routes
(docs/migrating.md).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from chalice.app import Request, Response

from chalicelib.access.roles import Role
from chalicelib.api.dialects import cypersecurity_models as m
from chalicelib.api.dialects.base import Dialect, mount, unchecked
from chalicelib.api.dialects.cypersecurity_scans import to_command, type_name
from chalicelib.api.http import Ctx, ResponseStyle, Result, path_id, validate
from chalicelib.api.spec import DocInfo
from chalicelib.bootstrap import Services
from chalicelib.core.errors import (
    NotFound,
    PerimeterError,
    ReportNotRenderable,
    TargetNotVerified,
    Unprocessable,
    Unsupported,
)
from chalicelib.scans.active import SEVERITY_RANK
from chalicelib.scans.models import Finding, Scan, ScanStatus, ScanType, Severity, SignalKey
from chalicelib.scans.service import critical_count
from chalicelib.webhooks.formats.cypersecurity import NODE_FORMAT, PYTHON_FORMAT, vulnerability
from chalicelib.webhooks.models import EVENT_TYPES, WebhookEndpoint
from chalicelib.webhooks.service import CreateWebhook

BASE_PATH = "/compat/cypersecurity/v1"

# -- mapping tables -------------------------------------------------------------------------------------------------
STATUS_OUT: dict[ScanStatus, m.Status] = {
    ScanStatus.PENDING: "pending", ScanStatus.SCANNING: "running", ScanStatus.SCORING: "running",
    ScanStatus.COMPLETE: "completed", ScanStatus.FAILED: "failed", ScanStatus.CANCELLED: "failed",
}
STATUS_IN: dict[str, frozenset[ScanStatus]] = {
    name: frozenset(s for s, out in STATUS_OUT.items() if out == name)
    for name in ("pending", "running", "completed", "failed")
}
REPORT_FORMATS = ("pdf", "json")
REPORT_TYPES = ("technical",)
REPORT_PREFIX = "report_"
# Until the core has `finding.created`, vulnerability.found is served by the critical findings.
FINDING_EVENT = "finding.created" if "finding.created" in EVENT_TYPES else "critical.finding"
EVENTS_IN: dict[str, tuple[str, ...] | None] = {  # None: documented, not supported (no billing in Perimeter)
    "scan.started": ("scan.started",), "scan.completed": ("scan.completed",),
    "scan.failed": ("scan.failed", "scan.cancelled"), "vulnerability.found": (FINDING_EVENT,),
    "critical.finding": ("critical.finding",),
    "payment.success": None, "payment.failed": None, "trial.expiring": None,
}
SIGNATURE_STYLES: dict[str, str] = {"python": PYTHON_FORMAT, "node": NODE_FORMAT}
STYLE_OF_FORMAT = {fmt: style for style, fmt in SIGNATURE_STYLES.items()}
EVENTS_NOTE = "cypersecurity events:"  # the endpoint's description keeps the vendor event names asked for
# 403 (a role too low, a target not verified) is a refused request, `invalid_request` with the HTTP status kept:
# `authentication_failed` means "Invalid API key" in the vendor's list, and clients replace keys on it.
ERROR_CODES: dict[int, str] = {401: "authentication_failed", 404: "not_found",
                               429: "rate_limit_exceeded"}  # other 4xx: invalid_request; 5xx: internal_error
FIELD_OF_CODE: dict[str, str] = {
    "invalid-domain": "target", "target-not-allowed": "target", "domain-not-found": "target",
    "invalid-webhook-url": "url", "webhook-url-not-allowed": "url", "webhook-url-self-endpoint": "url",
    "target-not-verified": "target", "member-exists": "email",
}
NOT_VERIFIED = ("zap and sqlmap scans send attack payloads, so Perimeter runs them only against hosts whose "
                "control your organization has proven. ")
SEALED = "sealed:"
MAX_LISTED = 10_000  # scans counted for `total` and offsets (newest first)


# -- errors and rate-limit headers --------------------------------------------------------------------------------
def vendor_code(error: PerimeterError) -> str:
    """CyperSecurity's code for an error (the HTTP status stays Perimeter's); a refusal by role or an unverified
    target is a refused request (`invalid_request`), not a bad key."""
    if error.status >= 500:
        return "internal_error"
    return ERROR_CODES.get(error.status, "invalid_request")


def render_error(error: PerimeterError, instance: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """`{"error": {"code", "message", "details": {"field", ...}}}` and the error's headers."""
    details: dict[str, Any] = {}
    errors = error.extra.get("errors")
    first = errors[0].get("field") if isinstance(errors, list) and errors and isinstance(errors[0], dict) else None
    field = error.extra.get("field") or FIELD_OF_CODE.get(error.code) or first
    if field and field != "(body)":
        details["field"] = field
    for name in ("value", "required_role"):
        if name in error.extra:
            details[name] = error.extra[name]
    message = error.detail
    if error.code == TargetNotVerified.code:
        message = NOT_VERIFIED + message
        details.update({"value": error.extra.get("host"), "verify_url": error.extra.get("verify_url")})
    return {"error": {"code": vendor_code(error), "message": message, "details": details}}, dict(error.headers)


def rate_limit_headers(headers: dict[str, str]) -> dict[str, str]:
    """`X-RateLimit-Reset` as the Unix time the window resets (Perimeter sends seconds until then)."""
    reset = headers.get("X-RateLimit-Reset")
    if reset is None or not reset.isdigit():
        return headers
    return {**headers, "X-RateLimit-Reset": str(int(time.time()) + int(reset))}


DIALECT = mount(Dialect(
    name=PYTHON_FORMAT, title="CyperSecurity", base_path=BASE_PATH,
    style=ResponseStyle(error=render_error, error_media="application/json", headers=rate_limit_headers),
    doc=DocInfo(title="CyperSecurity-compatible API (Perimeter)",
                description="CyperSecurity's documented API, answered by Perimeter. Change the base URL to "
                            "`<perimeter>/compat/cypersecurity/v1` and the X-API-Key; see docs/migrating.md.",
                error_model=m.CyperError, error_media="application/json", security=("apiKeyAuth",),
                tags=(("scans", "Network, web application and SQL injection scans"), ("reports", "Reports"),
                      ("webhooks", "Webhooks"), ("account", "Organization and team")))))
route = DIALECT.routes


# -- views --------------------------------------------------------------------------------------------------------
def iso(moment: datetime | None) -> str | None:
    """`2024-12-31T10:00:00Z`."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if moment is not None else None


def scan_fields(scan: Scan) -> dict[str, Any]:
    """The fields every scan shape has."""
    failed = unchecked(scan)  # a zap or sqlmap scan that could not test the site failed, whatever it found
    error = failed or (scan.error if scan.status.terminal else None)
    return {"id": scan.scan_id, "target": scan.target, "type": type_name(scan),
            "status": "failed" if failed else STATUS_OUT[scan.status], "created_at": iso(scan.created_at),
            "completed_at": iso(scan.completed_at), "findings_count": scan.findings_count,
            "critical_count": critical_count(scan), "error": error.model_dump() if error else None}


def services_of(scan: Scan) -> list[m.ServiceOut]:
    """One service per open port: the scan signal's per-port findings (they carry `addresses`)."""
    result = scan.signals.get(SignalKey.SCAN.value)
    found = []
    for finding in result.findings if result else []:
        port, evidence = finding.evidence.get("port"), finding.evidence
        if isinstance(port, int) and isinstance(evidence.get("addresses"), list):
            found.append(m.ServiceOut(port=port, protocol=str(evidence.get("protocol", "tcp")),
                                      service=str(evidence.get("service", "unknown")),
                                      version=" ".join(p for p in (finding.product, finding.version) if p) or None))
    return sorted(found, key=lambda s: s.port)


def scan_details(scan: Scan, findings: list[Finding]) -> m.ScanDetailsOut:
    """The scan with its results once completed (null before); `findings`: all of them (ScanService.all_findings)."""
    results = None
    if scan.status is ScanStatus.COMPLETE and unchecked(scan) is None:
        webapp = scan.scan_type is ScanType.WEBAPP
        shown = [f for f in findings if (f.severity is not Severity.INFO if webapp else f.cve)]
        shown.sort(key=lambda f: SEVERITY_RANK[f.severity])
        vulns = [m.VulnerabilityOut.model_validate(vulnerability(f.model_dump(mode="json"))) for f in shown]
        results = m.ResultsOut(services=[] if webapp else services_of(scan), vulnerabilities=vulns)
    return m.ScanDetailsOut(**scan_fields(scan), results=results)


def listed(ctx: Ctx, wanted: frozenset[ScanStatus] | None) -> list[Scan]:
    """The tenant's scans newest first, filtered, up to MAX_LISTED (offset pagination needs the count)."""
    found: list[Scan] = []
    cursor: str | None = None
    while len(found) < MAX_LISTED:
        page, cursor = ctx.services.scans.list(ctx.tenant_id, limit=100, cursor=cursor)
        found.extend(s for s in page if wanted is None or s.status in wanted)
        if cursor is None:
            break
    return found[:MAX_LISTED]


def report_id(scan_id: str, fmt: str) -> str:
    """A report's id: the scan and the format (no storage of its own; the scan's tenant guards it)."""
    return f"{REPORT_PREFIX}{scan_id}_{fmt}"


def parse_report_id(value: str) -> tuple[str, str]:
    """(scan id, format) of a report id; raises NotFound for anything else."""
    scan_id, _, fmt = value.removeprefix(REPORT_PREFIX).rpartition("_")
    if not value.startswith(REPORT_PREFIX) or not scan_id or fmt not in REPORT_FORMATS:
        raise NotFound(f"No report {value}.", code="report-not-found")
    return scan_id, fmt


def webhook_out(endpoint: WebhookEndpoint) -> dict[str, Any]:
    """An endpoint with the CyperSecurity event names it was created with."""
    note = endpoint.description
    events = note.removeprefix(EVENTS_NOTE).split() if note.startswith(EVENTS_NOTE) else endpoint.events
    return {"id": endpoint.webhook_id, "url": endpoint.url, "events": events, "created_at": iso(endpoint.created_at),
            "signature_style": STYLE_OF_FORMAT.get(endpoint.format, "python")}


def perimeter_events(names: list[str]) -> list[str]:
    """Perimeter's events for CyperSecurity's; raises Unprocessable (unknown) or Unsupported (billing events)."""
    events: list[str] = []
    for name in names:
        if name not in EVENTS_IN:
            raise Unprocessable(f"Unknown event {name!r}; one of {', '.join(EVENTS_IN)}.", field="events", value=name)
        mapped = EVENTS_IN[name]
        if mapped is None:
            raise Unsupported(f"Event {name!r} is not supported by Perimeter (it has no billing or trial events).",
                              field="events", value=name)
        events.extend(mapped)
    return list(dict.fromkeys(events))


def reveal(services: Services, body: Any) -> Any:
    """Unseal `standard_webhooks_secret` on the way out (so the idempotency record never holds it in clear)."""
    sealed = body.get("standard_webhooks_secret") if isinstance(body, dict) else None
    if not isinstance(sealed, str) or not sealed.startswith(SEALED):
        return body
    try:
        secret = services.webhooks.reveal_in_response(str(body.get("id")), sealed[len(SEALED):])
    except ValueError:
        raise PerimeterError("The secret could not be recovered; create the webhook again.") from None
    return {**body, "standard_webhooks_secret": secret}


# -- routes -------------------------------------------------------------------------------------------------------
@route("GET", DIALECT.path("/scans"), "cyperListScans", "List scans (offset pagination, newest first)", 200,
       m.ScanListOut, query=m.ListScansQuery, errors=(422,), tags=("scans",))
def cypersecurity_list_scans(request: Request | None) -> Response:
    """GET /scans?limit&offset&status."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(m.ListScansQuery)
        if q.status is not None and q.status not in STATUS_IN:
            raise Unprocessable(f"Unknown status {q.status!r}; one of {', '.join(STATUS_IN)}.", field="status",
                                value=q.status)
        scans = listed(ctx, STATUS_IN[q.status] if q.status else None)
        page = [m.ScanOut(**scan_fields(s)) for s in scans[q.offset:q.offset + q.limit]]
        return Result(200, m.ScanListOut(scans=page, total=len(scans), limit=q.limit, offset=q.offset))
    return DIALECT.handle(request, op)


@route("POST", DIALECT.path("/scans"), "cyperCreateScan",
       "Start a scan (`nmap`: ports; `zap`, `sqlmap`: web application scans of a verified host)", 201,
       m.ScanCreatedOut, request=m.CreateScanIn, errors=(400, 403, 413, 422, 503), tags=("scans",))
def cypersecurity_create_scan(request: Request | None) -> Response:
    """POST /scans."""
    def op(ctx: Ctx) -> Result:
        command, warnings = to_command(ctx.body(m.CreateScanIn))
        scan = ctx.services.scans.create(ctx.principal.tenant, command)
        created = m.ScanCreatedOut(**scan_fields(scan), warnings=warnings or None)
        return Result(201, created.model_dump(mode="json", exclude_none=True))
    return DIALECT.handle(request, op)


@route("GET", DIALECT.path("/scans/{scan_id}"), "cyperGetScan", "A scan and, once completed, its results", 200,
       m.ScanDetailsOut, errors=(404,), tags=("scans",))
def cypersecurity_get_scan(request: Request | None, scan_id: str) -> Response:
    """GET /scans/{scan_id}."""
    def op(ctx: Ctx) -> Result:
        scan = ctx.services.scans.get(ctx.tenant_id, path_id("scan_id", scan_id))
        findings = ctx.services.scans.all_findings(scan) if scan.status is ScanStatus.COMPLETE else []
        return Result(200, scan_details(scan, findings))
    return DIALECT.handle(request, op)


@route("POST", DIALECT.path("/scans/{scan_id}/report"), "cyperGenerateReport",
       "Ask for a scan's report: `generating` until the scan completes, then `completed` with its download URL",
       200, m.ReportOut, request=m.ReportIn, errors=(404, 409, 422), tags=("reports",), also_ok=(202,))
def cypersecurity_generate_report(request: Request | None, scan_id: str) -> Response:
    """POST /scans/{scan_id}/report (an empty body means pdf, technical)."""
    def op(ctx: Ctx) -> Result:
        asked = ctx.body(m.ReportIn) if ctx.request.raw_body else m.ReportIn()
        for name, value, known in (("format", asked.format, REPORT_FORMATS), ("type", asked.type, REPORT_TYPES)):
            if value not in known:
                raise Unsupported(f"Report {name} {value!r} is not supported by Perimeter; one of "
                                  f"{', '.join(known)}.", field=name, value=value)
        scan = ctx.services.scans.get(ctx.tenant_id, path_id("scan_id", scan_id))
        rid = report_id(scan.scan_id, asked.format)
        if not scan.status.terminal:
            return Result(202, m.ReportOut(report_id=rid, status="generating", download_url=None))
        if scan.status is not ScanStatus.COMPLETE or asked.format not in scan.report_keys:
            raise ReportNotRenderable(f"Scan {scan.scan_id} is {STATUS_OUT[scan.status]}: it has no report.")
        url = f"{ctx.services.settings.public_base_url.rstrip('/')}{DIALECT.path(f'/reports/{rid}/download')}"
        return Result(200, m.ReportOut(report_id=rid, status="completed", download_url=url))
    return DIALECT.handle(request, op)


@route("GET", DIALECT.path("/reports/{report_id}/download"), "cyperDownloadReport",
       "Download a report: 302 to a signed link (15 minutes at most) that returns the PDF", 302, None,
       errors=(404, 409), tags=("reports",))
def cypersecurity_download_report(request: Request | None, report_id: str) -> Response:
    """GET /reports/{report_id}/download."""
    def op(ctx: Ctx) -> Result:
        scan_id, fmt = parse_report_id(path_id("report_id", report_id))
        link = ctx.services.reports.link(ctx.tenant_id, scan_id, fmt)
        return Result(302, None, {"Location": link.url, "Cache-Control": "no-store"})
    return DIALECT.handle(request, op)


@route("GET", DIALECT.path("/webhooks"), "cyperListWebhooks", "The webhooks created through this API", 200,
       m.WebhookListOut, tags=("webhooks",), role=Role.ADMIN)
def cypersecurity_list_webhooks(request: Request | None) -> Response:
    """GET /webhooks."""
    def op(ctx: Ctx) -> Result:
        endpoints, _ = ctx.services.webhooks.list_webhooks(ctx.tenant_id, limit=100)
        mine = [m.WebhookOut(**webhook_out(e)) for e in endpoints if e.format in STYLE_OF_FORMAT]
        return Result(200, m.WebhookListOut(webhooks=mine, total=len(mine)))
    return DIALECT.handle(request, op)


@route("POST", DIALECT.path("/webhooks"), "cyperCreateWebhook",
       "Register a webhook signed with your secret (X-Webhook-Signature) and Standard Webhooks", 201,
       m.WebhookCreatedOut, request=m.CreateWebhookIn, errors=(400, 409, 413, 422, 503), tags=("webhooks",))
def cypersecurity_create_webhook(request: Request | None) -> Response:
    """POST /webhooks."""
    def op(ctx: Ctx) -> Result:
        body = ctx.body(m.CreateWebhookIn)
        names = list(dict.fromkeys(body.events))
        command = validate(CreateWebhook, {
            "url": body.url, "events": perimeter_events(names), "description": f"{EVENTS_NOTE} {' '.join(names)}",
            "format": SIGNATURE_STYLES[body.signature_style], "secret": body.secret})
        endpoint, whsec = ctx.services.webhooks.create(ctx.tenant_id, command)
        sealed = SEALED + ctx.services.webhooks.seal_for_response(endpoint.webhook_id, whsec)
        return Result(201, m.WebhookCreatedOut(**webhook_out(endpoint), standard_webhooks_secret=sealed))
    return DIALECT.handle(request, op, finish=reveal)
