"""The operations table and the OpenAPI 3.1 document generated from the handlers' pydantic models."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

from chalice.app import Request, Response
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api import report_routes, routes, views
from chalicelib.api.http import Result, handle
from chalicelib.bootstrap import get_services
from chalicelib.core.pagination import PageQuery
from chalicelib.reports.service import BrandingUpdate
from chalicelib.scans.commands import CreateScan
from chalicelib.templates.commands import CreateTemplate, LaunchTemplate

REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class Op:
    """One public operation: what app.py routes and what the document describes."""

    method: str
    path: str
    operation_id: str
    summary: str
    ok: int
    response: type[BaseModel] | None
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    public: bool = False
    errors: tuple[int, ...] = field(default=())
    tags: tuple[str, ...] = ()
    media: str | None = None  # the success body's media type when it is not JSON (a download)
    path_max: int = 100  # the path parameters' maximum length


OPERATIONS: tuple[Op, ...] = (
    Op("GET", "/v1/health", "getHealth", "Liveness", 200, views.Health, public=True, tags=("meta",)),
    Op("GET", "/v1/openapi.json", "getOpenApi", "This document", 200, None, public=True, tags=("meta",)),
    Op("POST", "/v1/scans", "createScan", "Start a scan", 202, views.ScanCreated, request=CreateScan,
       errors=(400, 409, 413, 422, 503), tags=("scans",)),
    Op("GET", "/v1/scans", "listScans", "List scans, newest first", 200, views.ScanList,
       query=routes.ListScansQuery, errors=(400, 422), tags=("scans",)),
    Op("GET", "/v1/scans/{token}", "getScan", "Read a scan", 200, views.ScanView, errors=(404,), tags=("scans",)),
    Op("GET", "/v1/scans/{token}/findings", "listFindings", "A scan's findings, most severe first", 200,
       views.FindingList, query=routes.FindingsQuery, errors=(400, 404, 422), tags=("scans",)),
    Op("POST", "/v1/scans/{token}/cancel", "cancelScan", "Cancel a running scan", 200, views.ScanView,
       errors=(404, 409), tags=("scans",)),
    Op("POST", "/v1/scan-templates", "createTemplate", "Save a scan template", 201, views.TemplateView,
       request=CreateTemplate, errors=(400, 409, 413, 422), tags=("templates",)),
    Op("GET", "/v1/scan-templates", "listTemplates", "List templates", 200, views.TemplateList,
       query=PageQuery, errors=(400, 422), tags=("templates",)),
    Op("GET", "/v1/scan-templates/{template_id}", "getTemplate", "Read a template", 200, views.TemplateView,
       errors=(404,), tags=("templates",)),
    Op("DELETE", "/v1/scan-templates/{template_id}", "deleteTemplate", "Delete a template", 204, None,
       errors=(404,), tags=("templates",)),
    Op("POST", "/v1/scan-templates/{template_id}/launch", "launchTemplate", "Start a scan from a template", 202,
       views.ScanCreated, request=LaunchTemplate, errors=(400, 404, 409, 413, 422, 503), tags=("templates",)),
    Op("GET", "/v1/usage/summary", "getUsageSummary", "Scans and billable units", 200, views.UsageSummary,
       query=routes.UsageQuery, errors=(422,), tags=("usage",)),
    # -- reports and branding
    Op("GET", "/v1/scans/{token}/report", "getScanReport",
       "Download a complete scan's report: 302 to a signed link valid 15 minutes at most (an S3 presigned URL in "
       "AWS, the API's own /v1/downloads link on the embedded stack)", 302,
       views.ReportLinkView, query=report_routes.ReportQuery, errors=(404, 409, 422), tags=("scans",)),
    Op("GET", "/v1/downloads/{token}", "download",
       "Download a report, evidence or logo through a signed, expiring link (embedded stack; the link is the "
       "credential)", 200, None, public=True, errors=(403, 404), tags=("scans",), media="*/*", path_max=4096),
    Op("PUT", "/v1/branding", "putBranding", "Set the co-branding of reports (name, colours, contact, logo)", 200,
       views.BrandingView, request=BrandingUpdate, errors=(400, 413, 422), tags=("branding",)),
    Op("GET", "/v1/branding", "getBranding", "Read the co-branding of reports", 200, views.BrandingView,
       errors=(404,), tags=("branding",)),
)


# -- webhooks ------------------------------------------------------------------------------
from chalicelib.api import webhook_views  # noqa: E402
from chalicelib.webhooks.service import CreateWebhook  # noqa: E402

_WEBHOOK = "/v1/webhooks/{webhook_id}"
OPERATIONS = (
    *OPERATIONS,
    Op("POST", "/v1/webhooks", "createWebhook", "Register a webhook endpoint (its secret is shown once)", 201,
       webhook_views.WebhookCreated, request=CreateWebhook, errors=(400, 409, 413, 422, 503), tags=("webhooks",)),
    Op("GET", "/v1/webhooks", "listWebhooks", "List webhook endpoints, newest first", 200, webhook_views.WebhookList,
       query=PageQuery, errors=(400, 422), tags=("webhooks",)),
    Op("GET", _WEBHOOK, "getWebhook", "Read a webhook endpoint", 200, webhook_views.WebhookView, errors=(404,),
       tags=("webhooks",)),
    Op("DELETE", _WEBHOOK, "deleteWebhook", "Delete a webhook endpoint", 204, None, errors=(404,),
       tags=("webhooks",)),
    Op("POST", f"{_WEBHOOK}/rotate-secret", "rotateWebhookSecret",
       "New signing secret (shown once); the previous one keeps signing for 24 h", 200, webhook_views.WebhookSecret,
       errors=(404,), tags=("webhooks",)),
    Op("POST", f"{_WEBHOOK}/enable", "enableWebhook",
       "Re-activate an endpoint disabled after a 410 or 5 days of failures", 200, webhook_views.WebhookView,
       errors=(404,), tags=("webhooks",)),
    Op("POST", f"{_WEBHOOK}/test", "sendWebhookTest", "Queue a webhook.test event to this endpoint", 202,
       webhook_views.DeliveryQueued, errors=(404, 409, 503), tags=("webhooks",)),
    Op("GET", f"{_WEBHOOK}/deliveries", "listWebhookDeliveries", "Deliveries with every attempt, newest first", 200,
       webhook_views.DeliveryList, query=PageQuery, errors=(400, 404, 422), tags=("webhooks",)),
    Op("POST", f"{_WEBHOOK}/deliveries/{{delivery_id}}/redeliver", "redeliverWebhookDelivery",
       "Send the same event (same id) again, with a new attempt budget", 202, webhook_views.DeliveryQueued,
       errors=(404, 409, 503), tags=("webhooks",)),
)

def _schemas() -> tuple[dict[str, Any], dict[Any, Any]]:
    models: list[tuple[type[BaseModel], Any]] = [(views.Problem, "serialization")]
    for op in OPERATIONS:
        if op.request:
            models.append((op.request, "validation"))
        if op.response:
            models.append((op.response, "serialization"))
    keyed, doc = models_json_schema(models, ref_template=REF)
    return doc.get("$defs", {}), dict(keyed)


def _parameters(op: Op) -> list[dict[str, Any]]:
    params: list[dict[str, Any]] = [
        {"name": name, "in": "path", "required": True,
         "schema": {"type": "string", "minLength": 1, "maxLength": op.path_max}}
        for name in re.findall(r"{(\w+)}", op.path)
    ]
    if op.query:
        schema = op.query.model_json_schema(ref_template=REF)
        for name, prop in schema.get("properties", {}).items():
            prop = {k: v for k, v in prop.items() if k != "title"}
            params.append({"name": name, "in": "query", "required": False, "schema": prop})
    if op.method == "POST" and not op.public:
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "description": "Replays the first response for 24 h; reuse with another body is 422.",
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[!-~]+$"}})
    return params


def _problem(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/problem+json": {"schema": {"$ref": REF.format(model="Problem")}}}}


_REDIRECT_HEADERS: dict[str, Any] = {
    "Location": {"description": "The signed download link", "schema": {"type": "string"}},
    "Cache-Control": {"schema": {"type": "string", "const": "no-store"}},
}
_ERROR_TEXT = {400: "Bad request", 401: "Missing, malformed, unknown or revoked API key",
               403: "Invalid (link-invalid) or expired (link-expired) download link", 404: "Not found",
               409: "Conflict", 413: "Body too large", 415: "Content-Type is not application/json",
               422: "Validation failed", 429: "Rate limit exceeded",
               500: "Internal error", 503: "Temporarily unavailable"}


def _error_codes(op: Op) -> set[int]:
    codes = set(op.errors) | {500}
    if op.method == "POST" and not op.public:  # Idempotency-Key: malformed 400, running 409, reused 422
        codes |= {400, 409, 422}
    if not op.public:
        codes |= {401, 429}
    if op.method in ("POST", "PUT") and not op.public:  # bodies are JSON, nested at most MAX_JSON_DEPTH deep (400)
        codes |= {400, 415}
    return codes


def _success(op: Op, keyed: dict[Any, Any]) -> dict[str, Any]:
    ok: dict[str, Any] = {"description": op.summary}
    if op.ok == 302:  # a redirect; its target as JSON (op.response) with Accept: application/json
        ok["headers"] = _REDIRECT_HEADERS
    elif op.media:
        ok["content"] = {op.media: {"schema": {"type": "string", "contentMediaType": "application/octet-stream"}}}
    elif op.response:
        ok["content"] = {"application/json": {"schema": keyed[(op.response, "serialization")]}}
    elif op.ok != 204:
        ok["content"] = {"application/json": {"schema": {"type": "object"}}}
    return ok


def _operation(op: Op, keyed: dict[Any, Any]) -> dict[str, Any]:
    responses: dict[str, Any] = {str(op.ok): _success(op, keyed)}
    if op.ok == 302 and op.response:
        responses["200"] = {"description": "With `Accept: application/json`: the redirect target as JSON",
                            "content": {"application/json": {"schema": keyed[(op.response, "serialization")]}}}
    for code in sorted(_error_codes(op)):
        responses[str(code)] = _problem(_ERROR_TEXT[code])
    body: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": list(op.tags),
                            "parameters": _parameters(op), "responses": responses}
    if op.request:
        body["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": keyed[(op.request, "validation")]}}}
    if op.public:
        body["security"] = []
    return body


@lru_cache(maxsize=4)
def openapi_document(base_url: str = "") -> dict[str, Any]:
    """OpenAPI 3.1 for every operation of OPERATIONS."""
    schemas, keyed = _schemas()
    paths: dict[str, dict[str, Any]] = {}
    for op in OPERATIONS:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, keyed)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Perimeter API", "version": routes.VERSION,
                 "description": "Scores the externally visible cyber posture of a domain or host."},
        "servers": [{"url": base_url or "/"}],
        "tags": [{"name": "webhooks", "description": webhook_views.VERIFYING_DELIVERIES}],
        "security": [{"bearerAuth": []}, {"apiKeyAuth": []}],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer"},
                "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }


def openapi(request: Request | None) -> Response:
    """GET /v1/openapi.json; no authentication."""
    return handle(request, lambda _: Result(200, openapi_document(get_services().settings.public_base_url)),
                  public=True)
