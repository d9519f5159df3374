"""The Cert-IX Scan API dialect under `/scan-api/api/v1`: a partner of Cert-IX changes the base URL and key only.

`X-API-Key`, `{"success": true, "data": ...}` in camelCase, `{"success": false, "error", "code":
"UPPER_SNAKE"}` errors (429 `RATE_LIMIT_EXCEEDED` with `Retry-After`), page/limit pagination, and
Cert-IX's words: `nmap` is Perimeter's `ports` scan, `trivy` its `container` scan, `zap` its `webapp`
scan (which needs proof of control of the host: TARGET_NOT_VERIFIED, 403, otherwise);
queued/running/completed/failed/cancelled. Values Perimeter cannot do are answered 422 in the same
shape, naming the value. The mapping tables come first, then the translations; the shapes are in
certix_models, the options per scan type in certix_options, the routes in certix_routes, the webhook
format in chalicelib/webhooks/formats/certix.py.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from chalice.app import Request, Response
from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from chalicelib.api.dialects import certix_models as m
from chalicelib.api.dialects.base import Dialect, mount
from chalicelib.api.dialects.certix_options import to_perimeter
from chalicelib.api.http import Ctx, ResponseStyle, Result, path_id, validate
from chalicelib.api.spec import DocInfo
from chalicelib.api.webhook_routes import SEALED_PREFIX
from chalicelib.bootstrap import Services
from chalicelib.core.errors import NotFound, PerimeterError, TargetNotVerified, Unprocessable, Unsupported
from chalicelib.core.pagination import MAX_PAGE_SIZE
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import Scan, ScanStatus, ScanType
from chalicelib.templates.commands import CreateTemplate, LaunchTemplate
from chalicelib.webhooks.formats import certix as vocabulary

X = TypeVar("X")

# -- the mapping tables ---------------------------------------------------------------------------

SCAN_TYPES: dict[str, ScanType] = {  # Cert-IX scanType -> Perimeter scan type
    vendor: ScanType(ours) for ours, vendor in vocabulary.SCAN_TYPES.items()}
PRIORITIES: frozenset[str] = frozenset({"low", "normal", "high"})
STATUSES: dict[str, tuple[ScanStatus, ...]] = {  # Cert-IX status filter -> Perimeter statuses
    "queued": (ScanStatus.PENDING,), "running": (ScanStatus.SCANNING, ScanStatus.SCORING),
    "completed": (ScanStatus.COMPLETE,), "failed": (ScanStatus.FAILED,), "cancelled": (ScanStatus.CANCELLED,)}
EVENTS: dict[str, str] = {theirs: ours for ours, theirs in vocabulary.EVENTS.items()}  # Cert-IX -> Perimeter
DEFAULT_EVENTS: tuple[str, ...] = ("scan.started", "scan.completed", "scan.failed", "scan.cancelled")
PERIODS: frozenset[str] = frozenset({"7d", "30d", "90d"})
ERROR_CODES: dict[str, str] = {  # Perimeter's kebab-case code -> Cert-IX's; others are upper-cased
    "rate-limited": "RATE_LIMIT_EXCEEDED", "validation-failed": "VALIDATION_ERROR", "malformed-json": "INVALID_JSON",
    "scan-terminal": "SCAN_NOT_CANCELLABLE", "scan-not-complete": "SCAN_NOT_COMPLETED",
}
UNSUPPORTED_CODES: dict[str, str] = {  # the refused field -> Cert-IX's code for it
    "scanType": "UNSUPPORTED_SCAN_TYPE", "options": "UNSUPPORTED_OPTION", "events": "UNSUPPORTED_EVENT",
    "priority": "UNSUPPORTED_PRIORITY", "period": "UNSUPPORTED_PERIOD", "status": "UNSUPPORTED_STATUS",
}
FIELDS: dict[str, str] = {  # Perimeter's field names in validation errors -> Cert-IX's
    "timeout_seconds": "timeout", "scan_type": "scanType", "service_detection": "serviceDetection",
    "description": "name", "template_id": "templateId",
}
SECTIONS = frozenset({"container", "webapp"})  # options.<section>.x is Cert-IX's options.x
NOT_VERIFIED = ("zap (web application) scans send attack payloads, so Perimeter runs them only against hosts "
                "whose control your organization has proven. ")
MAX_WALK = 10_000  # page * limit: the deepest a page may reach into a listing


# -- errors ---------------------------------------------------------------------------------------


def vendor_code(error: PerimeterError) -> str:
    """Cert-IX's UPPER_SNAKE code for an error."""
    if error.code == Unsupported.code:
        field = str(error.extra.get("field", "")).split(".")[0]
        return UNSUPPORTED_CODES.get(field, "UNSUPPORTED_VALUE")
    return ERROR_CODES.get(error.code, error.code.upper().replace("-", "_"))


def vendor_field(path: str) -> str:
    """A field path with Cert-IX's names (`options.container.ignore_unfixed` -> `options.ignoreUnfixed`)."""
    parts = path.split(".")
    kept = [p for i, p in enumerate(parts) if not (i == 1 and parts[0] == "options" and p in SECTIONS)]
    return ".".join(FIELDS.get(p, to_camel(p) if "_" in p.strip("_") else p) for p in kept)


def render_error(error: PerimeterError, _instance: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """`{"success": false, "error", "code"}`, plus `field`/`value`, `details` or `retryAfter` where they apply."""
    body: dict[str, Any] = {"success": False, "error": error.detail, "code": vendor_code(error)}
    if "field" in error.extra:
        body["field"], body["value"] = vendor_field(str(error.extra["field"])), error.extra.get("value")
    problems = error.extra.get("errors")
    if isinstance(problems, list) and problems:
        body["details"] = [{"field": vendor_field(str(p["field"])), "message": str(p["message"])} for p in problems]
        body["error"] = f"{body['details'][0]['field']}: {body['details'][0]['message']}"
    if "retry_after" in error.extra:
        body["retryAfter"] = error.extra["retry_after"]
    if error.code == TargetNotVerified.code:
        body["error"] = NOT_VERIFIED + error.detail
        body["field"], body["value"] = "target", error.extra.get("host")
        body["verifyUrl"] = error.extra.get("verify_url")
    return body, dict(error.headers)


CERTIX = mount(Dialect(
    name=vocabulary.NAME, title="Cert-IX Scan API", base_path="/scan-api/api/v1",
    style=ResponseStyle(error=render_error, error_media="application/json"),
    doc=DocInfo(title="Perimeter: Cert-IX Scan API dialect",
                description="Cert-IX's Scan API on Perimeter: change the base URL and the key, nothing else. "
                            "`nmap` scans are Perimeter's network scans, `trivy` its container image scans, `zap` "
                            "its web application scans (on verified hosts only); see docs/migrating.md.",
                error_model=m.CertixError, error_media="application/json", security=("apiKeyAuth",), tags=()),
))
route = CERTIX.routes


# -- translation ------------------------------------------------------------------------------------


def scan_type(value: str) -> ScanType:
    """Perimeter's type for a Cert-IX `scanType`; raises Unsupported naming any other."""
    if value in SCAN_TYPES:
        return SCAN_TYPES[value]
    raise Unsupported(f"scanType '{value}' is not a scan type Perimeter offers; one of {', '.join(SCAN_TYPES)}.",
                      field="scanType", value=value)


def options(kind: ScanType, vendor: str, given: m.CertixOptions | None) -> dict[str, Any]:
    """Perimeter's options for Cert-IX's options of a `vendor` scanType; raises Unsupported naming the unknown."""
    return to_perimeter(kind, vendor, given.model_dump(by_alias=True, exclude_none=True) if given else None)


def priority(value: str | None) -> str | None:
    """The priority, when Perimeter has it; raises Unsupported naming any other."""
    if value is not None and value not in PRIORITIES:
        raise Unsupported(f"priority '{value}' is not supported; one of {', '.join(sorted(PRIORITIES))}.",
                          field="priority", value=value)
    return value


def _present(**fields: Any) -> dict[str, Any]:
    return {k: v for k, v in fields.items() if v is not None}


def create_scan_command(req: m.ScanRequest) -> CreateScan:
    """`POST /scans` as Perimeter's CreateScan; raises Unsupported or Unprocessable."""
    kind = scan_type(req.scan_type)
    return validate(CreateScan, _present(
        target=req.target, scan_type=kind.value, name=req.name, priority=priority(req.priority),
        options=options(kind, req.scan_type, req.options), tags=req.tags, timeout_seconds=req.timeout))


def lookup_type(value: str) -> ScanType:
    """A `scanType` filter: Cert-IX's words, or Perimeter's own type names (scans of types Cert-IX lacks show them)."""
    own = {t.value: t for t in ScanType}
    return own[value] if value in own else scan_type(value)


def checked_scan(services: Services, tenant_id: str, scan_id: str, wanted: str | None) -> Scan:
    """The tenant's scan, which must be of `wanted` type when given; raises NotFound or Unsupported."""
    scan = services.scans.get(tenant_id, path_id("scanId", scan_id))
    if wanted is not None and scan.scan_type is not lookup_type(wanted):
        raise NotFound(f"No {wanted} scan {scan_id}.", code="scan-not-found")
    return scan


def walk(fetch: Callable[[str | None, int], tuple[list[X], str | None]], wanted: int) -> tuple[list[X], bool]:
    """The first `wanted` items of a cursor listing, and whether more follow (pages of at most 100)."""
    items: list[X] = []
    cursor: str | None = None
    while True:
        batch, cursor = fetch(cursor, min(MAX_PAGE_SIZE, wanted - len(items) + 1))
        items.extend(batch)
        if cursor is None or len(items) > wanted:
            return items[:wanted], len(items) > wanted or cursor is not None


def paged(fetch: Callable[[str | None, int], tuple[list[X], str | None]], page: int,
          limit: int) -> tuple[list[X], m.Pagination]:
    """Page `page` of `limit` items over a cursor listing, walking at most page * limit + 1 items."""
    items, more = walk(fetch, page * limit)
    return items[(page - 1) * limit:], m.Pagination(page=page, limit=limit, has_more=more)


class PageQuery(BaseModel):
    """`page` (from 1) and `limit` (1-100); page * limit at most 10,000."""

    model_config = ConfigDict(extra="ignore")
    page: int = Field(default=1, ge=1)
    limit: int = Field(default=20, ge=1, le=MAX_PAGE_SIZE)

    def check_depth(self) -> None:
        """Raise Unprocessable when the page reaches deeper than MAX_WALK items."""
        if self.page * self.limit > MAX_WALK:
            raise Unprocessable(f"page: page * limit must be at most {MAX_WALK}; narrow the filters.",
                                errors=[{"field": "page", "message": f"page * limit must be at most {MAX_WALK}",
                                         "type": "too_deep"}])


class ScanTypeQuery(BaseModel):
    """`?scanType=`, as Cert-IX's clients send it on every scan route."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    scan_type: str | None = Field(default=None, alias="scanType")


class ListScansQuery(PageQuery):
    """`GET /scans` filters."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    scan_type: str | None = Field(default=None, alias="scanType")
    status: str | None = None
    tag: str | None = None


class UsageQuery(BaseModel):
    """`GET /usage/summary?period=`."""

    model_config = ConfigDict(extra="ignore")
    period: str = "30d"


class ReportQuery(ScanTypeQuery):
    """`GET /scans/{scanId}/report?format=pdf|json`."""

    format: str = "pdf"


def statuses(value: str | None) -> Sequence[ScanStatus | None]:
    """The Perimeter statuses a Cert-IX status filter means; raises Unsupported for an unknown one."""
    if value is None:
        return (None,)
    if value not in STATUSES:
        raise Unsupported(f"status '{value}' is not a scan status; one of {', '.join(STATUSES)}.",
                          field="status", value=value)
    return STATUSES[value]


def list_scans(ctx: Ctx, q: ListScansQuery) -> tuple[list[Scan], m.Pagination]:
    """A page of scans, newest first: one walk per Perimeter status the filter means, merged by id (newest first)."""
    q.check_depth()
    kind = lookup_type(q.scan_type) if q.scan_type is not None else None
    wanted = q.page * q.limit
    runs, more = [], False
    for status in statuses(q.status):
        def fetch(cursor: str | None, n: int, status: ScanStatus | None = status) -> tuple[list[Scan], str | None]:
            return ctx.services.scans.list(ctx.tenant_id, status=status, scan_type=kind, tag=q.tag, limit=n,
                                           cursor=cursor)
        found, run_more = walk(fetch, wanted)
        runs.append(found)
        more = more or run_more
    merged = list(heapq.merge(*runs, key=lambda s: s.scan_id, reverse=True))
    more = more or len(merged) > wanted
    return merged[(q.page - 1) * q.limit:wanted], m.Pagination(page=q.page, limit=q.limit, has_more=more)


def ok(status: int, data: BaseModel | list[BaseModel], pagination: m.Pagination | None = None,
       headers: dict[str, str] | None = None) -> Result:
    """A success: `{"success": true, "data": ...}` (and `pagination` for a list)."""
    body: dict[str, Any] = {"success": True}
    body["data"] = [m.wire(d) for d in data] if isinstance(data, list) else m.wire(data)
    if pagination is not None:
        body["pagination"] = m.wire(pagination)
    return Result(status, body, headers or {})


def reveal_secret(services: Services, body: Any) -> Any:
    """Replace the sealed `data.secret` of a created webhook by the secret, just before the answer leaves."""
    data = body.get("data") if isinstance(body, dict) else None
    sealed = data.get("secret") if isinstance(data, dict) else None
    if not isinstance(sealed, str) or not sealed.startswith(SEALED_PREFIX):
        return body
    assert isinstance(data, dict)
    try:
        secret = services.webhooks.reveal_in_response(str(data.get("id")), sealed[len(SEALED_PREFIX):])
    except ValueError:
        raise PerimeterError("The secret could not be recovered; delete the webhook and create it again.") from None
    return {**body, "data": {**data, "secret": secret}}


def webhook_events(given: list[str] | None) -> list[str]:
    """Perimeter's events for Cert-IX's (all scan events when none); raises Unsupported naming an unknown one."""
    chosen = given or list(DEFAULT_EVENTS)
    unknown = [e for e in chosen if e not in EVENTS]
    if unknown:
        raise Unsupported(f"event(s) {', '.join(unknown)} not supported; one of {', '.join(EVENTS)}.",
                          field="events", value=unknown[0])
    return [EVENTS[e] for e in chosen]


def template_command(req: m.TemplateRequest) -> CreateTemplate:
    """`POST /scan-templates` as Perimeter's CreateTemplate; raises Unsupported or Unprocessable."""
    kind = scan_type(req.scan_type)
    return validate(CreateTemplate, _present(
        name=req.name, description=req.description, scan_type=kind.value, priority=priority(req.priority),
        options=options(kind, req.scan_type, req.options), tags=req.tags, timeout_seconds=req.timeout))


def launch_command(req: m.LaunchRequest, kind: ScanType) -> LaunchTemplate:
    """`POST /scan-templates/{id}/launch` of a `kind` template as Perimeter's LaunchTemplate (options replace the
    template's, translated for its type); raises Unsupported or Unprocessable."""
    return validate(LaunchTemplate, _present(
        target=req.target, name=req.name, priority=priority(req.priority),
        options=options(kind, vocabulary.vendor_scan_type(kind.value), req.options) if req.options is not None
        else None, tags=req.tags, timeout_seconds=req.timeout))


def usage_view(summary: dict[str, Any]) -> m.CertixUsage:
    """The usage summary with Cert-IX's scan-type and status words."""
    by_status = {vocabulary.vendor_status(k): v for k, v in summary["scans_by_status"].items() if k != "in_progress"}
    by_status["inProgress"] = summary["scans_by_status"].get("in_progress", 0)
    return m.CertixUsage(
        period=summary["period"], from_=summary["from"], to=summary["to"], total_scans=summary["scans_created"],
        scans_by_type={vocabulary.vendor_scan_type(k): v for k, v in summary["scans_by_type"].items()},
        scans_by_status=by_status, billable_units=summary["billable_units"])


def handle(request: Request | None, operation: Callable[[Ctx], Result], **extra: Any) -> Response:
    """The shared pipeline (auth, rate limit, body bound, idempotency) in Cert-IX's style."""
    return CERTIX.handle(request, operation, **extra)


def location(ctx: Ctx, path: str) -> dict[str, str]:
    """The Location header of a Cert-IX path."""
    return {"Location": ctx.services.settings.public_base_url.rstrip("/") + CERTIX.path(path)}

