"""The request pipeline every route goes through, and the one place errors become HTTP.

auth -> rate limit -> body bound -> (Idempotency-Key) -> operation -> JSON or problem+json.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib.errors import (
    BadRequest,
    NotFound,
    PayloadTooLarge,
    PerimeterError,
    RateLimited,
    Unprocessable,
)
from chalicelib.service.auth import Principal
from chalicelib.service.idempotency import StoredResponse, fingerprint
from chalicelib.services import Services, get_services

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
JSON = "application/json"
PROBLEM = "application/problem+json"
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}


@dataclass
class Ctx:
    """What an operation gets: the caller, the request and the services."""

    principal: Principal
    request: Request
    services: Services
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def tenant_id(self) -> str:
        """The caller's tenant."""
        return self.principal.tenant.tenant_id

    def path_id(self, name: str) -> str:
        """A path parameter; ids of absurd length are simply not found."""
        value = (self.request.uri_params or {}).get(name, "")
        if not 0 < len(value) <= 100:
            raise NotFound(f"No such {name}.", code="not-found")
        return value

    def body(self, model: type[M]) -> M:
        """Parse the JSON body into `model`; raises BadRequest or Unprocessable."""
        return parse_body(model, self.request.raw_body)

    def query(self, model: type[M]) -> M:
        """Parse the query string into `model`; raises Unprocessable."""
        params = self.request.query_params
        return validate(model, {k: params.get(k) for k in params} if params else {})


@dataclass
class Result:
    """An operation's outcome: status, a model (or plain data) and extra headers."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def validate(model: type[M], data: Any) -> M:
    """pydantic validation with our error shape; raises Unprocessable listing every problem."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errors = [
            {"field": ".".join(str(p) for p in e["loc"]) or "(body)", "message": e["msg"], "type": e["type"]}
            for e in exc.errors(include_url=False, include_input=False)
        ]
        first = errors[0]
        raise Unprocessable(f"{first['field']}: {first['message']}", errors=errors) from None


def parse_body(model: type[M], raw: bytes | str) -> M:
    """Decode a JSON object body and validate it; raises BadRequest or Unprocessable."""
    if not raw:
        raise BadRequest("A JSON object body is required.", code="missing-body")
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The body is not valid JSON.", code="malformed-json") from None
    if not isinstance(data, dict):
        raise Unprocessable("The body must be a JSON object.", errors=[
            {"field": "(body)", "message": "must be an object", "type": "object_type"}])
    return validate(model, data)


def dump(body: Any) -> Any:
    """JSON-ready data from a model, a list of models or plain data."""
    if isinstance(body, BaseModel):
        return body.model_dump(mode="json")
    return body


def problem(error: PerimeterError, instance: str | None = None) -> tuple[dict[str, Any], dict[str, str]]:
    """RFC 9457 body for an error, plus headers it implies."""
    body: dict[str, Any] = {
        "type": f"urn:perimeter:problem:{error.code}",
        "title": error.title,
        "status": error.status,
        "detail": error.detail,
        "code": error.code,
        "error": error.detail,
    }
    if instance:
        body["instance"] = instance
    body.update(error.extra)
    return body, dict(error.headers)


def respond(status: int, body: Any, headers: dict[str, str]) -> Response:
    """A chalice Response with JSON (or problem+json for errors) and our standard headers."""
    content_type = PROBLEM if status >= 400 else JSON
    all_headers: dict[str, str | list[str]] = {"Content-Type": content_type, **SECURITY_HEADERS, **headers}
    if status in (204, 302) and body is None:
        return Response(body="", status_code=status, headers=all_headers)
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status, headers=all_headers)


def _error_response(error: PerimeterError, request: Request, headers: dict[str, str]) -> Response:
    body, extra = problem(error, (request.context or {}).get("path"))
    return respond(error.status, body, {**headers, **extra})


def handle(request: Request | None, operation: Callable[[Any], Result], *, public: bool = False,
           max_body: int | None = None) -> Response:
    """Run one API operation through auth, rate limits, body bounds and idempotency.

    A `public` operation skips all of that and is called with None instead of a Ctx. `max_body`
    raises the body bound for one operation (a base64 logo) above PERIMETER_MAX_BODY_BYTES.
    Raises RuntimeError when called outside a request.
    """
    if request is None:
        raise RuntimeError("handle() needs the current request")
    headers: dict[str, str] = {}
    try:
        if public:
            result = operation(None)
            return respond(result.status, dump(result.body), result.headers)
        services = get_services()
        principal = services.auth.authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
        limit = principal.tenant.rate_limit_per_minute or services.settings.rate_limit_per_minute
        decision = services.rate_limiter.enforce(principal.key_id, limit)
        headers.update(decision.headers())
        raw = request.raw_body or b""
        bound = max(services.settings.max_body_bytes, max_body or 0)
        if len(raw) > bound:
            raise PayloadTooLarge(f"The body is {len(raw)} bytes; at most {bound} are accepted.")
        ctx = Ctx(principal=principal, request=request, services=services, headers=headers)
        key = request.headers.get("idempotency-key")
        if request.method == "POST" and key is not None:
            return _idempotent(ctx, operation, key, raw if isinstance(raw, bytes) else raw.encode())
        result = operation(ctx)
        return respond(result.status, dump(result.body), {**headers, **result.headers})
    except PerimeterError as error:
        if isinstance(error, RateLimited):
            log.info("rate limited: %s", error.detail)
        return _error_response(error, request, headers)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error_response(PerimeterError("An unexpected error occurred; it has been logged."), request, headers)


def _idempotent(ctx: Ctx, operation: Callable[[Ctx], Result], key: str, raw: bytes) -> Response:
    request = ctx.request
    params = json.dumps(request.uri_params or {}, sort_keys=True)

    def produce() -> StoredResponse:
        try:
            result = operation(ctx)
            return StoredResponse(result.status, dump(result.body), result.headers)
        except PerimeterError as error:
            if error.status >= 500 or isinstance(error, RateLimited):
                raise
            body, extra = problem(error, (request.context or {}).get("path"))
            return StoredResponse(error.status, body, extra)

    stored, replayed = ctx.services.idempotency.run(
        ctx.tenant_id, key, fingerprint(request.method, request.path + params, raw), produce)
    extra = {"Idempotency-Key": key}
    if replayed:
        extra["Idempotent-Replayed"] = "true"
    return respond(stored.status, stored.body, {**ctx.headers, **stored.headers, **extra})
