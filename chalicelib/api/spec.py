"""The OpenAPI 3.1 document, generated from the operation table and the handlers' pydantic models."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from chalicelib.api import views, webhook_views
from chalicelib.api.operations import VERSION, Op, required_role

REF = "#/components/schemas/{model}"


@dataclass(frozen=True)
class DocInfo:
    """What differs between the /v1 document and a vendor dialect's: title, error body, security schemes."""

    title: str = "Perimeter API"
    description: str = "Scores the externally visible cyber posture of a domain or host."
    error_model: type[BaseModel] = views.Problem
    error_media: str = "application/problem+json"
    security: tuple[str, ...] = ("bearerAuth", "apiKeyAuth")
    tags: tuple[tuple[str, str], ...] = (("webhooks", webhook_views.VERIFYING_DELIVERIES),)


V1_DOC = DocInfo()
_SECURITY_SCHEMES: dict[str, dict[str, str]] = {
    "bearerAuth": {"type": "http", "scheme": "bearer"},
    "apiKeyAuth": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
}


def _schemas(operations: tuple[Op, ...], doc: DocInfo) -> tuple[dict[str, Any], dict[Any, Any]]:
    models: list[tuple[type[BaseModel], Any]] = [(doc.error_model, "serialization")]
    for op in operations:
        if op.request:
            models.append((op.request, "validation"))
        if op.response:
            models.append((op.response, "serialization"))
    keyed, rendered = models_json_schema(models, ref_template=REF)
    return rendered.get("$defs", {}), dict(keyed)


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


def _problem(description: str, doc: DocInfo) -> dict[str, Any]:
    return {"description": description,
            "content": {doc.error_media: {"schema": {"$ref": REF.format(model=doc.error_model.__name__)}}}}


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
        codes |= {401, 403, 429}  # 403 insufficient-role: every keyed route names its least role
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


def _operation(op: Op, keyed: dict[Any, Any], doc: DocInfo) -> dict[str, Any]:
    responses: dict[str, Any] = {str(code): _success(op, keyed) for code in (op.ok, *op.also_ok)}
    if op.ok == 302 and op.response:
        responses["200"] = {"description": "With `Accept: application/json`: the redirect target as JSON",
                            "content": {"application/json": {"schema": keyed[(op.response, "serialization")]}}}
    for code in sorted(_error_codes(op)):
        responses[str(code)] = _problem(_error_text(op, code), doc)
    body: dict[str, Any] = {"operationId": op.operation_id, "summary": op.summary, "tags": list(op.tags),
                            "parameters": _parameters(op), "responses": responses}
    if op.request:
        body["requestBody"] = {"required": True, "content": {
            "application/json": {"schema": keyed[(op.request, "validation")]}}}
    if op.public:
        body["security"] = []
    else:
        body["x-perimeter-role"] = required_role(op).value
    return body


_ACTIVE_SCAN_OPS = frozenset({"createScan", "launchTemplate"})


def _error_text(op: Op, code: int) -> str:
    """The description of one error response; a keyed route's 403 names the least role it needs."""
    if code == 403 and not op.public:
        text = f"The key's role is below {required_role(op).value} (insufficient-role)"
        return f"{text}; or the target is not verified (target-not-verified)" if op.operation_id in _ACTIVE_SCAN_OPS \
            else text
    return _ERROR_TEXT[code]


@lru_cache(maxsize=16)
def openapi_document(operations: tuple[Op, ...], base_url: str = "", doc: DocInfo = V1_DOC) -> dict[str, Any]:
    """OpenAPI 3.1 for `operations`: the /v1 table (`chalicelib.api.table.OPERATIONS`) or a dialect's."""
    schemas, keyed = _schemas(operations, doc)
    paths: dict[str, dict[str, Any]] = {}
    for op in operations:
        paths.setdefault(op.path, {})[op.method.lower()] = _operation(op, keyed, doc)
    return {
        "openapi": "3.1.0",
        "info": {"title": doc.title, "version": VERSION, "description": doc.description},
        "servers": [{"url": base_url or "/"}],
        "tags": [{"name": name, "description": text} for name, text in doc.tags],
        "security": [{name: []} for name in doc.security],
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {name: _SECURITY_SCHEMES[name] for name in doc.security},
        },
    }
