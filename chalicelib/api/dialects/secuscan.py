"""The SecuScan dialect under `/v1/secuscan`: SecuScan's documented API translated onto Perimeter's services.

A SecuScan scan is a Perimeter scan group (chalicelib/scans/groups.py): one `scope` of targets, one
`scan_id`, one Perimeter scan per target. Bearer keys, `Idempotency-Key` (a UUID) on every POST,
page-number pagination, problem+json errors with snake_case codes, `RateLimit-*` headers, reports as
`.pdf`/`.html`/`.json` with an `X-Secuscan-Signature` integrity header, and webhooks in the
`secuscan` format. What SecuScan documents and Perimeter cannot do (endpoint agents, other scan
types) answers `unsupported_value` naming the value.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import uuid
from typing import Any
from urllib.parse import urlencode

from chalice.app import Request, Response
from pydantic import SecretStr

from chalicelib.access.roles import Role
from chalicelib.api.dialects.base import Dialect, mount
from chalicelib.api.dialects.secuscan_models import (
    CreateScanBody,
    CreateWebhookBody,
    FindingItem,
    FindingPage,
    FindingsQuery,
    PageMeta,
    ScanCreated,
    ScanView,
    SecuScanError,
    TargetView,
    WebhookCreated,
)
from chalicelib.api.http import Ctx, ResponseStyle, Result, path_id, validate
from chalicelib.api.spec import DocInfo
from chalicelib.bootstrap import Services
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import BadRequest, NotFound, PerimeterError, ScanNotComplete, Unprocessable, Unsupported
from chalicelib.scans.groups import GroupFinding, GroupView, ScanGroupService
from chalicelib.scans.keys import scan_prefix
from chalicelib.scans.models import Priority, Scan, ScanStatus, ScanType
from chalicelib.scans.service import normalise_cwe
from chalicelib.webhooks.formats.secuscan import STATUSES, secuscan_finding, sign
from chalicelib.webhooks.service import CreateWebhook

# -- the mapping tables --------------------------------------------------------------------------------
SCAN_TYPES: dict[str, ScanType] = {"easm": ScanType.POSTURE}
PRIORITIES: dict[str, Priority] = {"low": Priority.LOW, "normal": Priority.NORMAL, "medium": Priority.NORMAL,
                                   "high": Priority.HIGH}
SEVERITIES = ("critical", "high", "medium", "low", "info")
FINDING_STATUSES = ("open", "resolved")
EVENTS: dict[str, str] = {"scan.completed": "group.completed", "finding.created": "finding.created",
                          "target.changed": "target.changed"}
REPORT_MEDIA: dict[str, str] = {"pdf": "application/pdf", "html": "text/html; charset=utf-8",
                                "json": "application/json"}
ERROR_CODES: dict[str, str] = {  # Perimeter code -> SecuScan code (others: kebab-case -> snake_case)
    "unauthorized": "invalid_token", "validation-failed": "validation_error", "rate-limited": "rate_limit_exceeded",
    "group-not-found": "scan_not_found", "scan-not-found": "scan_not_found", "scan-not-complete": "scan_not_ready",
    "malformed-json": "invalid_json", "missing-body": "invalid_json",
}
ERROR_EXTRAS = ("errors", "field", "value", "retry_after")
RATE_HEADERS: dict[str, str] = {"X-RateLimit-Limit": "RateLimit-Limit", "X-RateLimit-Remaining": "RateLimit-Remaining",
                                "X-RateLimit-Reset": "RateLimit-Reset"}
REPORT_SIGNATURE_HEADER = "X-Secuscan-Signature"
GROUP_ID_PREFIX = "scn"  # SecuScan scan ids read `scn_<ULID>`


def secuscan_code(code: str) -> str:
    """SecuScan's snake_case code for a Perimeter code."""
    return ERROR_CODES.get(code, code.replace("-", "_"))


def render_error(error: PerimeterError, instance: str | None) -> tuple[dict[str, Any], dict[str, str]]:
    """RFC 9457 problem details with SecuScan's snake_case `code` and its documented extras."""
    code = secuscan_code(error.code)
    body: dict[str, Any] = {"type": f"https://docs.secuaas.com/errors/{code}", "title": error.title,
                            "status": error.status, "detail": error.detail, "code": code}
    if instance:
        body["instance"] = instance
    body.update({key: error.extra[key] for key in ERROR_EXTRAS if key in error.extra})
    return body, dict(error.headers)


def rename_headers(headers: dict[str, str]) -> dict[str, str]:
    """The X-RateLimit trio as RateLimit-Limit/-Remaining/-Reset; everything else unchanged."""
    return {RATE_HEADERS.get(name, name): value for name, value in headers.items()}


STYLE = ResponseStyle(error=render_error, error_media="application/problem+json", headers=rename_headers)
DOC = DocInfo(title="SecuScan-compatible API (Perimeter)",
              description="SecuScan's REST API served by Perimeter: change the base URL and the key, nothing else. "
                          "A scan covers a `scope` of targets; reports carry `X-Secuscan-Signature: sha256=<hex "
                          "HMAC-SHA256 of the body keyed with your API key>`.",
              error_model=SecuScanError, error_media="application/problem+json", security=("bearerAuth",),
              tags=())
secuscan = mount(Dialect("secuscan", "SecuScan", "/v1/secuscan", STYLE, DOC))
route = secuscan.routes


# -- small functions -----------------------------------------------------------------------------------
def _groups(ctx: Ctx) -> ScanGroupService:
    services = ctx.services
    return ScanGroupService(services.scans, lambda: services.events)


def _idempotency_key_is_uuid(ctx: Ctx) -> None:
    """SecuScan's Idempotency-Key is a UUID; raises BadRequest otherwise."""
    key = ctx.request.headers.get("idempotency-key")
    if key is None:
        return
    try:
        uuid.UUID(key)
    except ValueError:
        raise BadRequest("Idempotency-Key must be a UUID.", code="invalid-idempotency-key") from None


def _refuse_unknown_fields(body: Any) -> None:
    """A field SecuScan clients may send that Perimeter does not serve is refused by name."""
    extra = body.model_extra or {}
    if extra:
        name = sorted(extra)[0]
        raise Unsupported(f"Perimeter does not support the field {name!r}.", field=name, value=extra[name])


def _mapped(table: dict[str, Any], field: str, value: str) -> Any:
    if value not in table:
        raise Unsupported(f"{field} {value!r} is not supported by Perimeter; supported: {', '.join(table)}.",
                          field=field, value=value)
    return table[value]


def _base(ctx: Ctx) -> str:
    return ctx.services.settings.public_base_url.rstrip("/") + secuscan.base_path


def _target_view(scan: Scan) -> TargetView:
    return TargetView(target=scan.target, status=STATUSES[scan.status.value], score=scan.score, grade=scan.grade,
                      findings_count=scan.findings_count, report_id=scan.scan_id,
                      error=scan.error.message if scan.error else None)


def scan_view(view: GroupView, base: str) -> ScanView:
    """A group as SecuScan's scan."""
    group, worst = view.group, view.worst
    done = view.status.terminal
    elapsed = (utcnow() - group.created_at).total_seconds()
    progress = sum(s.progress for s in view.scans) // max(1, len(group.members))
    completed = [s.completed_at for s in view.scans if s.completed_at]
    has_report = any(s.status is ScanStatus.COMPLETE for s in view.scans)
    return ScanView(
        scan_id=group.group_id, status=STATUSES[view.status.value], scan_type="easm", priority=group.priority.value,
        name=group.name, scope=group.targets, eta_seconds=None if done else max(0, int(group.estimated_seconds
                                                                                       - elapsed)),
        progress=100 if done else progress, score=worst.score if worst else None,
        grade=worst.grade if worst else None, findings_count=sum(s.findings_count for s in view.scans),
        created_at=group.created_at, completed_at=max(completed) if done and completed else None,
        targets=[_target_view(s) for s in view.scans],
        reports={fmt: f"{base}/reports/{group.group_id}.{fmt}" for fmt in REPORT_MEDIA} if done and has_report
        else None)


def finding_item(found: GroupFinding) -> FindingItem:
    """A group finding as SecuScan lists it."""
    return FindingItem.model_validate(secuscan_finding(found.finding.model_dump(mode="json"), found.target,
                                                       found.status))


def _filtered(found: list[GroupFinding], q: FindingsQuery) -> list[GroupFinding]:
    problems = [{"field": name, "message": f"one of {', '.join(allowed)}", "type": "enum"}
                for name, value, allowed in (("severity", q.severity, SEVERITIES), ("status", q.status,
                                                                                    FINDING_STATUSES))
                if value is not None and value not in allowed]
    if problems:
        raise Unprocessable(f"{problems[0]['field']}: {problems[0]['message']}", errors=problems)
    cwe = normalise_cwe(q.cwe) if q.cwe else None
    target = q.target.strip().lower().rstrip(".") if q.target else None
    return [f for f in found if (q.severity is None or f.finding.severity.value == q.severity)
            and (q.status is None or f.status == q.status) and (target is None or f.target == target)
            and (cwe is None or (f.finding.cwe is not None and normalise_cwe(f.finding.cwe) == cwe))]


# -- scans ---------------------------------------------------------------------------------------------
@route("POST", secuscan.path("/scans"), "secuscanCreateScan", "Launch a scan of a scope of targets", 202,
       ScanCreated, request=CreateScanBody, errors=(400, 401, 409, 413, 422, 429, 503), tags=("scans",))
def secuscan_create_scan(request: Request | None) -> Response:
    """POST /scans: `{scope, scan_type, priority}` -> `{scan_id, status: queued, eta_seconds}`."""
    def op(ctx: Ctx) -> Result:
        _idempotency_key_is_uuid(ctx)
        body = ctx.body(CreateScanBody)
        _refuse_unknown_fields(body)
        scan_type = _mapped(SCAN_TYPES, "scan_type", body.scan_type)
        priority = _mapped(PRIORITIES, "priority", body.priority)
        view = _groups(ctx).create(ctx.principal.tenant, body.scope, scan_type, priority=priority, name=body.name,
                                   id_prefix=GROUP_ID_PREFIX)
        group = view.group
        created = ScanCreated(scan_id=group.group_id, status=STATUSES[view.status.value],
                              eta_seconds=group.estimated_seconds, scope=group.targets, created_at=group.created_at)
        return Result(202, created, {"Location": f"{_base(ctx)}/scans/{group.group_id}"})
    return secuscan.handle(request, op)


@route("GET", secuscan.path("/scans/{scan_id}"), "secuscanGetScan", "Read a scan's status", 200, ScanView,
       errors=(401, 404, 429), tags=("scans",))
def secuscan_get_scan(request: Request | None, scan_id: str) -> Response:
    """GET /scans/{id}."""
    def op(ctx: Ctx) -> Result:
        view = _groups(ctx).get(ctx.tenant_id, path_id("scan", scan_id))
        return Result(200, scan_view(view, _base(ctx)))
    return secuscan.handle(request, op)


@route("GET", secuscan.path("/scans/{scan_id}/findings"), "secuscanListFindings",
       "A scan's findings, most severe first: filters severity, cwe, target, status (open|resolved); "
       "page and per_page", 200, FindingPage, query=FindingsQuery, errors=(401, 404, 422, 429), tags=("scans",))
def secuscan_list_findings(request: Request | None, scan_id: str) -> Response:
    """GET /scans/{id}/findings?severity=&cwe=&target=&status=&page=&per_page=."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(FindingsQuery)
        groups = _groups(ctx)
        matching = _filtered(groups.findings(groups.get(ctx.tenant_id, path_id("scan", scan_id))), q)
        start = (q.page - 1) * q.per_page
        pages = max(1, math.ceil(len(matching) / q.per_page))
        params = {k: v for k, v in (ctx.request.query_params or {}).items() if k not in ("page", "per_page")}
        url = f"{_base(ctx)}/scans/{scan_id}/findings?"
        links = {"next": url + urlencode({**params, "page": q.page + 1, "per_page": q.per_page})
                 if q.page < pages else None,
                 "prev": url + urlencode({**params, "page": q.page - 1, "per_page": q.per_page})
                 if q.page > 1 else None}
        return Result(200, FindingPage(data=[finding_item(f) for f in matching[start:start + q.per_page]],
                                       meta=PageMeta(page=q.page, per_page=q.per_page, total=len(matching),
                                                     total_pages=pages), links=links))
    return secuscan.handle(request, op)


@route("POST", secuscan.path("/agents"), "secuscanCreateAgent",
       "Provision an endpoint agent: not supported by Perimeter (external scans only); answers unsupported_value",
       201, None, errors=(401, 422, 429), tags=("agents",), role=Role.ADMIN)
def secuscan_create_agent(request: Request | None) -> Response:
    """POST /agents: refused in SecuScan's error shape, naming `agents`."""
    def op(ctx: Ctx) -> Result:
        _idempotency_key_is_uuid(ctx)
        raise Unsupported("Endpoint agents are not supported by Perimeter: it scans what is visible from the "
                          "internet only.", field="resource", value="agents")
    return secuscan.handle(request, op)


# -- reports -------------------------------------------------------------------------------------------
def _stored(ctx: Ctx, scan: Scan, fmt: str) -> bytes:
    """A complete scan's stored report, checked against the digest recorded when it was rendered."""
    key, digest = scan.report_keys.get(fmt), scan.report_sha256.get(fmt)
    if not key or not digest or not key.startswith(scan_prefix(scan.tenant_id, scan.scan_id)):
        raise NotFound(f"Scan {scan.scan_id} has no {fmt} report.", code="report-not-found")
    body = ctx.services.objects.get(key)
    if hashlib.sha256(body).hexdigest() != digest:
        raise PerimeterError("The stored report does not match its recorded digest.")
    return body


def _report_scans(ctx: Ctx, report_id: str) -> tuple[list[Scan], GroupView | None]:
    """The complete scans a report id covers: a scan's (group's) completed targets, or one target."""
    group = _groups(ctx).find(ctx.tenant_id, report_id)
    if group is not None:
        view = _groups(ctx).get(ctx.tenant_id, report_id)
        done = [s for s in view.scans if s.status is ScanStatus.COMPLETE]
        if not view.status.terminal or not done:
            raise ScanNotComplete(f"Scan {report_id} is {STATUSES[view.status.value]}; reports are available once "
                                  "it completed.")
        return done, view
    try:
        scan = ctx.services.scans.get(ctx.tenant_id, report_id)
    except NotFound:
        raise NotFound(f"No report {report_id}.", code="report-not-found") from None
    if scan.status is not ScanStatus.COMPLETE:
        raise ScanNotComplete(f"Target {scan.target} is {STATUSES[scan.status.value]}; its report is available "
                              "once it completed.")
    return [scan], None


def _report_body(ctx: Ctx, report_id: str, fmt: str) -> bytes:
    scans, view = _report_scans(ctx, report_id)
    if fmt == "pdf":
        if len(scans) > 1:
            raise Unsupported("A PDF covers one target in Perimeter; download each target's PDF by its report_id "
                              "(GET /scans/{id}: targets[].report_id), or this scan's .html or .json.",
                              field="format", value="pdf")
        return _stored(ctx, scans[0], "pdf")
    documents = [_stored(ctx, s, "json") for s in scans]
    if fmt == "html":
        from chalicelib.reports.html import render_html
        from chalicelib.reports.model import ReportData

        return render_html([ReportData.model_validate_json(d) for d in documents])
    if view is None:
        return documents[0]
    combined = {"format": "secuscan.report", "scan_id": view.group.group_id, "status": STATUSES[view.status.value],
                "scope": view.group.targets, "reports": [json.loads(d) for d in documents]}
    return (json.dumps(combined, sort_keys=True, ensure_ascii=False, indent=2) + "\n").encode()


def _presented_key(request: Request) -> str:
    """The API key the caller presented (Bearer, or X-API-Key): what keys the report's HMAC."""
    scheme, _, value = (request.headers.get("authorization") or "").strip().partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    return (request.headers.get("x-api-key") or "").strip()


@route("GET", secuscan.path("/reports/{report_file}"), "secuscanGetReport",
       "Download a report: `{id}.pdf`, `{id}.html` or `{id}.json` (id: a scan id, or a target's report_id), "
       "with `X-Secuscan-Signature: sha256=<hex HMAC-SHA256 of the body keyed with your API key>`", 200, None,
       errors=(401, 404, 409, 422, 429), tags=("reports",), media="*/*")
def secuscan_get_report(request: Request | None, report_file: str) -> Response:
    """GET /reports/{id}.{pdf|html|json}: the bytes, signed for integrity."""
    produced: list[tuple[bytes, str]] = []

    def op(ctx: Ctx) -> Result:
        report_id, dot, fmt = path_id("report", report_file).rpartition(".")
        if not dot or not report_id:
            raise NotFound(f"No report {report_file}; ask for {{id}}.pdf, .html or .json.", code="report-not-found")
        _mapped(REPORT_MEDIA, "format", fmt)
        produced.append((_report_body(ctx, report_id, fmt), fmt))
        return Result(200, None)

    response = secuscan.handle(request, op)
    if response.status_code != 200 or not produced or request is None:
        return response
    body, fmt = produced[0]
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    headers.update({"Content-Type": REPORT_MEDIA[fmt], "Cache-Control": "private, no-store",
                    "Content-Disposition": f'attachment; filename="secuscan-{report_file}"',
                    "Content-Digest": f"sha-256=:{digest}:",
                    REPORT_SIGNATURE_HEADER: sign(_presented_key(request), body)})
    if fmt == "html":
        headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
    return Response(body=body if fmt == "pdf" else body.decode("utf-8"), status_code=200, headers=headers)


# -- webhooks ------------------------------------------------------------------------------------------
_SEALED = "sealed:"


def _reveal(services: Services, body: Any) -> Any:
    """The generated secret, sealed in the idempotency record, revealed as the response leaves."""
    sealed = body.get("secret") if isinstance(body, dict) else None
    if not isinstance(sealed, str) or not sealed.startswith(_SEALED):
        return body
    try:
        return {**body, "secret": services.webhooks.reveal_in_response(str(body["id"]), sealed[len(_SEALED):])}
    except ValueError:
        raise PerimeterError("The secret could not be recovered; create the webhook again.") from None


@route("POST", secuscan.path("/webhooks"), "secuscanCreateWebhook",
       "Register a signed webhook: scan.completed, finding.created, target.changed", 201, WebhookCreated,
       request=CreateWebhookBody, errors=(400, 401, 409, 413, 422, 429, 503), tags=("webhooks",))
def secuscan_create_webhook(request: Request | None) -> Response:
    """POST /webhooks: deliveries in the `secuscan` format, signed with `secret` (yours, or the one returned)."""
    def op(ctx: Ctx) -> Result:
        _idempotency_key_is_uuid(ctx)
        body = ctx.body(CreateWebhookBody)
        _refuse_unknown_fields(body)
        events = list(dict.fromkeys(_mapped(EVENTS, "events", name) for name in body.events))
        command = validate(CreateWebhook, {"url": body.url, "events": events, "description": body.description,
                                           "format": secuscan.name,
                                           "secret": SecretStr(body.secret) if body.secret else None})
        endpoint, secret = ctx.services.webhooks.create(ctx.tenant_id, command)
        shown = None if body.secret else _SEALED + ctx.services.webhooks.seal_for_response(endpoint.webhook_id,
                                                                                            secret)
        return Result(201, {"id": endpoint.webhook_id, "url": endpoint.url, "events": list(dict.fromkeys(body.events)),
                            "secret": shown, "status": endpoint.status.value,
                            "created_at": endpoint.created_at.isoformat()},
                      {"Location": f"{_base(ctx)}/webhooks/{endpoint.webhook_id}"})
    return secuscan.handle(request, op, finish=_reveal)
