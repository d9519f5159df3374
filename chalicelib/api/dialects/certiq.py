"""The CertIQ dialect: CertIQ's documented API v1 under `/api/v1`, translated onto Perimeter's services.

Perimeter's /v1 was modelled on this API; what differs is what breaks CertIQ clients: its field names
(`certiq_ready`, the self-assessment fields), its `{"error": ...}` bodies, and a report endpoint that
answers the PDF itself (CertIQ's `curl -o report.pdf` does not follow redirects). The tables below
are the whole translation; the functions under them only apply them.
"""

from __future__ import annotations

from typing import Any

from chalice.app import Request, Response

from chalicelib.api.dialects.base import Dialect, mount
from chalicelib.api.dialects.certiq_models import (
    CertiqCreateScan,
    CertiqError,
    CertiqScan,
    CertiqScanCreated,
    CertiqStatus,
)
from chalicelib.api.http import Ctx, ResponseStyle, Result, path_id
from chalicelib.api.report_routes import DOWNLOAD_HEADERS
from chalicelib.api.spec import DocInfo
from chalicelib.core.errors import PerimeterError, RateLimited, ScanNotComplete, Unsupported
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import ESTIMATED_SECONDS, Scan, ScanStatus
from chalicelib.storage.files import safe_filename

# -- the mapping tables ---------------------------------------------------------------------------

# Perimeter's scan status -> CertIQ's. CertIQ has no `cancelled`: a cancelled scan was aborted and must be
# started again, which is what CertIQ's `failed` tells a client ("scan aborted; try again"); `error` says why.
STATUSES: dict[ScanStatus, CertiqStatus] = {
    ScanStatus.PENDING: "pending",
    ScanStatus.SCANNING: "scanning",
    ScanStatus.SCORING: "scoring",
    ScanStatus.COMPLETE: "complete",
    ScanStatus.FAILED: "failed",
    ScanStatus.CANCELLED: "failed",
}

# Perimeter's error code -> CertIQ's message. Codes not listed answer their own detail.
ERRORS: dict[str, str] = {
    "unauthorized": "Unauthorised",
    "scan-not-found": "Scan not found",
    "not-found": "Not found",
    "scan-not-complete": "Scan is still running",
    "scan-ended": "Scan did not complete",
    "report-not-found": "Report not found",
    "invalid-domain": "Invalid domain",
    "target-not-allowed": "Invalid domain",
    "domain-not-found": "Invalid domain",
    "rate-limited": "Rate limit exceeded",
    "malformed-json": "Invalid JSON",
    "missing-body": "Invalid domain",
}

# What a scan without a submitted self-assessment carries, exactly as CertIQ documents it.
NO_SELF_ASSESSMENT: dict[str, Any] = {"sa_score": None, "sa_complete": False, "combined_score": None,
                                      "self_assessment": {}}

# The PDF is answered in the body up to this size. AWS Lambda answers API Gateway at most 6 MB (6,291,456
# bytes) and a binary body travels base64-encoded (4/3 larger), so 4 MiB (5.6 MB encoded) leaves room for
# the headers. A larger PDF answers 302 to its presigned link: clients that follow redirects still get it.
STREAM_MAX_BYTES = 4 * 1024 * 1024

# -- errors and the document -----------------------------------------------------------------------


def _validation_message(error: PerimeterError) -> str:
    problems: list[dict[str, str]] = error.extra.get("errors") or []
    for item in problems:
        if item.get("type") == "extra_forbidden":
            return f"Unknown field: {item.get('field')}"
    if any(item.get("field") == "domain" for item in problems):
        return "Invalid domain"
    return error.detail


def certiq_error(error: PerimeterError, instance: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """`{"error": "..."}` for any error (429 adds `retry_after`), with the headers the error implies."""
    if isinstance(error, Unsupported):
        message = f"Unsupported {error.extra.get('field', 'value')}: {error.extra.get('value')}"
    elif error.code == "validation-failed":
        message = _validation_message(error)
    else:
        message = ERRORS.get(error.code, error.detail)
    body: dict[str, Any] = {"error": message}
    if isinstance(error, RateLimited):
        body["retry_after"] = int(error.extra.get("retry_after") or error.headers.get("Retry-After") or 1)
    return body, dict(error.headers)


STYLE = ResponseStyle(error=certiq_error, error_media="application/json")
DOC = DocInfo(
    title="Perimeter: CertIQ-compatible API v1",
    description="CertIQ's API v1 served by Perimeter: change the base URL and the key, nothing else. "
                "See docs/migrating.md for what differs.",
    error_model=CertiqError, error_media="application/json", security=("bearerAuth",), tags=())
CERTIQ = mount(Dialect(name="certiq", title="CertIQ-compatible API", base_path="/api/v1", style=STYLE, doc=DOC))
route = CERTIQ.routes

# -- views ------------------------------------------------------------------------------------------


def base_url(ctx: Ctx) -> str:
    """The dialect's URL on this deployment (`https://host/api/v1`)."""
    return ctx.services.settings.public_base_url.rstrip("/") + CERTIQ.base_path


def _utc(scan: Scan) -> str | None:
    return scan.completed_at.strftime("%Y-%m-%dT%H:%M:%SZ") if scan.completed_at else None


def self_assessment_fields(scan: Scan, complete: bool) -> dict[str, Any]:
    """CertIQ's self-assessment fields: `sa_*` once submitted; the combined score once the scan is complete too."""
    if not scan.sa_complete or scan.self_assessment is None:
        return dict(NO_SELF_ASSESSMENT)
    return {"sa_score": scan.sa_score, "sa_complete": True,
            "combined_score": scan.combined_score if complete else None,
            "self_assessment": scan.self_assessment.model_dump(mode="json")}


def certiq_scan(scan: Scan, base: str) -> CertiqScan:
    """A stored scan in CertIQ's shape: scoring fields only once complete; `grade` follows the effective
    score and `combined_grade` is the combined grade, else the external one (as CertIQ documents)."""
    complete = scan.status is ScanStatus.COMPLETE
    combined_grade = scan.combined_grade or scan.grade
    return CertiqScan(
        scan_token=scan.scan_id, domain=scan.target, status=STATUSES[scan.status], signals=scan.signals,
        score=scan.score if complete else None, grade=scan.grade if complete else None,
        grade_label=scan.grade_label if complete else None, combined_grade=combined_grade if complete else None,
        certiq_ready=bool(scan.ready) if complete else None, ready_threshold=scan.ready_threshold,
        completed_at=_utc(scan) if complete else None,
        report_url=f"{base}/scans/{scan.scan_id}/report" if complete and scan.report_keys else None,
        error=scan.error, **self_assessment_fields(scan, complete),
    )


# -- routes -----------------------------------------------------------------------------------------


@route("POST", CERTIQ.path("/scans"), "certiqCreateScan", "Start a scan", 202, CertiqScanCreated,
       request=CertiqCreateScan, errors=(400, 413, 422, 503), tags=("scans",))
def certiq_create_scan(request: Request | None) -> Response:
    """POST /api/v1/scans {"domain"}: 202 with the scan token and its status URL."""
    def op(ctx: Ctx) -> Result:
        asked = ctx.body(CertiqCreateScan)
        scan = ctx.services.scans.create(ctx.principal.tenant, CreateScan(domain=asked.domain))
        status_url = f"{base_url(ctx)}/scans/{scan.scan_id}"
        created = CertiqScanCreated(scan_token=scan.scan_id, status=STATUSES[scan.status], status_url=status_url,
                                    self_assessment_url=ctx.services.self_assessment.offer(scan),
                                    estimated_seconds=ESTIMATED_SECONDS[scan.scan_type])
        return Result(202, created, {"Location": status_url})
    return CERTIQ.handle(request, op)


@route("GET", CERTIQ.path("/scans/{token}"), "certiqGetScan", "Read a scan", 200, CertiqScan, errors=(404,),
       tags=("scans",))
def certiq_get_scan(request: Request | None, token: str) -> Response:
    """GET /api/v1/scans/:token."""
    def op(ctx: Ctx) -> Result:
        scan = ctx.services.scans.get(ctx.tenant_id, path_id("token", token))
        return Result(200, certiq_scan(scan, base_url(ctx)))
    return CERTIQ.handle(request, op)


@route("GET", CERTIQ.path("/scans/{token}/report"), "certiqGetReport",
       f"The PDF report in the body (application/pdf); 409 until complete. A PDF over {STREAM_MAX_BYTES} bytes "
       "(never seen in practice) answers 302 to a signed link instead (the API Gateway and Lambda payload limit)",
       200, None, errors=(404, 409), tags=("scans",), media="application/pdf")
def certiq_get_report(request: Request | None, token: str) -> Response:
    """GET /api/v1/scans/:token/report: the PDF bytes themselves, behind the same auth and rate limit."""
    found: dict[str, Any] = {}

    def op(ctx: Ctx) -> Result:
        scan = ctx.services.scans.get(ctx.tenant_id, path_id("token", token))
        if scan.status.terminal and scan.status is not ScanStatus.COMPLETE:
            raise ScanNotComplete(f"Scan {scan.scan_id} is {scan.status.value}.", code="scan-ended")
        report = ctx.services.reports.read(ctx.tenant_id, scan.scan_id, "pdf")
        if len(report.body) > STREAM_MAX_BYTES:
            link = ctx.services.reports.link(ctx.tenant_id, scan.scan_id, "pdf")
            return Result(302, None, {"Location": link.url, "Cache-Control": "no-store"})
        found["report"] = report
        return Result(200, None)

    response = CERTIQ.handle(request, op)
    report = found.get("report")
    if response.status_code != 200 or report is None:
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    return Response(body=report.body, status_code=200, headers={
        **headers, **DOWNLOAD_HEADERS, "Content-Type": report.content_type,
        "Content-Disposition": f'attachment; filename="{safe_filename(report.filename)}"'})
