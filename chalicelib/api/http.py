"""The request pipeline every route goes through, and the one place errors become HTTP.

auth -> rate limit -> role -> body bound -> (Idempotency-Key) -> operation -> JSON or problem+json -> audit.
Chalice's own 405/415/400/500 answers become problem+json in `chalice_errors_as_problems`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalice.app import Request, Response
from pydantic import BaseModel, ValidationError

from chalicelib.access.auth import Principal
from chalicelib.access.idempotency import StoredResponse, fingerprint
from chalicelib.access.policy import POLICY, UNREGISTERED_ROLE
from chalicelib.bootstrap import Services, get_services
from chalicelib.core.errors import (
    BadRequest,
    Forbidden,
    JsonTooDeep,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PerimeterError,
    RateLimited,
    Unprocessable,
    UnsupportedMediaType,
)
from chalicelib.core.observability import append_keys

log = logging.getLogger(__name__)

M = TypeVar("M", bound=BaseModel)
JSON = "application/json"
PROBLEM = "application/problem+json"
SECURITY_HEADERS = {"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"}
# The deepest JSON nesting a body may have: ours need 4; json.loads recurses once per level.
MAX_JSON_DEPTH = 32
_JSON_TOKENS = re.compile(rb'[][{}"\\]')
_OPEN, _QUOTE, _BACKSLASH = frozenset(b"[{"), ord('"'), ord("\\")


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

    def body(self, model: type[M]) -> M:
        """Parse the JSON body into `model`; raises BadRequest or Unprocessable."""
        return parse_body(model, self.request.raw_body)

    def query(self, model: type[M]) -> M:
        """Parse the query string into `model`; raises Unprocessable."""
        params = self.request.query_params
        return validate(model, {k: params.get(k) for k in params} if params else {})


def path_id(name: str, value: str) -> str:
    """A path parameter as Chalice handed it over; ids of absurd length are simply not found (NotFound)."""
    if not 0 < len(value) <= 100:
        raise NotFound(f"No such {name}.", code="not-found")
    return value


# Rewrites a 2xx JSON body just before it leaves, fresh or replayed (a webhook secret stored sealed).
Finish = Callable[[Services, Any], Any]


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
    check_json_depth(raw)
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("The body is not valid JSON.", code="malformed-json") from None
    if not isinstance(data, dict):
        raise Unprocessable("The body must be a JSON object.", errors=[
            {"field": "(body)", "message": "must be an object", "type": "object_type"}])
    return validate(model, data)


def check_json_depth(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> None:
    """Refuse a body nesting arrays/objects deeper than `limit`, without decoding it; raises JsonTooDeep.

    One linear pass over the structural bytes, skipping string contents (escapes included).
    """
    data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
    if data.count(b"[") + data.count(b"{") <= limit:
        return
    depth, in_string, escaped = 0, False, -1
    for match in _JSON_TOKENS.finditer(data):
        pos = match.start()
        if pos == escaped:
            continue
        byte = data[pos]
        if byte == _BACKSLASH:
            escaped = pos + 1 if in_string else escaped
        elif byte == _QUOTE:
            in_string = not in_string
        elif in_string:
            continue
        elif byte in _OPEN:
            depth += 1
            if depth > limit:
                raise JsonTooDeep(f"The body nests arrays or objects more than {limit} levels deep.")
        else:
            depth -= 1


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


def problem_bytes(error: PerimeterError, instance: str | None = None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and encoded body of a problem+json answer (for servers outside chalice)."""
    body, extra = problem(error, instance)
    headers = {"Content-Type": PROBLEM, **SECURITY_HEADERS, **extra}
    return error.status, headers, json.dumps(body, separators=(",", ":")).encode()


ErrorRenderer = Callable[[PerimeterError, str | None], tuple[dict[str, Any], dict[str, str]]]
HeaderRenamer = Callable[[dict[str, str]], dict[str, str]]


def _same_headers(headers: dict[str, str]) -> dict[str, str]:
    return headers


@dataclass(frozen=True)
class ResponseStyle:
    """How one API surface renders errors and rate-limit headers.

    /v1 answers problem+json with our headers (the default); a vendor dialect (chalicelib/api/dialects)
    renders the same errors in its vendor's error shape and media type and renames the headers its
    vendor documents. The status code of an error is the same in every style.
    """

    error: ErrorRenderer = problem
    error_media: str = PROBLEM
    headers: HeaderRenamer = _same_headers


V1_STYLE = ResponseStyle()
_PATH_STYLES: list[tuple[str, ResponseStyle]] = []


def register_style(prefix: str, style: ResponseStyle) -> None:
    """Render errors Chalice raises itself (405, 415, 500) under `prefix` in `style` (a dialect's base path)."""
    _PATH_STYLES.append((prefix.rstrip("/") + "/", style))


def style_for(path: str | None) -> ResponseStyle:
    """The style of the API surface `path` belongs to (V1_STYLE outside every registered prefix)."""
    if path:
        for prefix, style in _PATH_STYLES:
            if path.startswith(prefix):
                return style
    return V1_STYLE


def error_response(error: PerimeterError, instance: str | None, headers: dict[str, str],
                   style: ResponseStyle = V1_STYLE) -> Response:
    """The answer for `error` in `style`, with `headers` (the rate-limit headers, renamed by the style)."""
    body, extra = style.error(error, instance)
    return respond(error.status, body, style.headers({**headers, **extra}), media=style.error_media)


def respond(status: int, body: Any, headers: dict[str, str], *, media: str = PROBLEM) -> Response:
    """A chalice Response with JSON (or `media`, problem+json by default, for errors) and our standard headers."""
    content_type = media if status >= 400 else JSON
    all_headers: dict[str, str | list[str]] = {"Content-Type": content_type, **SECURITY_HEADERS, **headers}
    if status in (204, 302) and body is None:
        return Response(body="", status_code=status, headers=all_headers)
    return Response(body=json.dumps(body, separators=(",", ":")), status_code=status, headers=all_headers)


# chalice.app.error_response codes (and ChaliceViewError names) -> our errors.
_CHALICE_ERRORS: dict[str, type[PerimeterError]] = {
    "MethodNotAllowedError": MethodNotAllowed,
    "UnsupportedMediaType": UnsupportedMediaType,
    "BadRequest": BadRequest,
    "BadRequestError": BadRequest,
    "NotFoundError": NotFound,
}


def chalice_errors_as_problems(request: Request, get_response: Callable[[Request], Response]) -> Response:
    """Chalice http middleware: chalice's own `{"Code", "Message"}` errors become problem+json.

    Chalice answers 405 (method not routed), 415 (content type not accepted), 400 (binary response
    not accepted) and 500 (an exception outside `handle`) itself, before or after our views.
    """
    response = get_response(request)
    body = response.body
    if response.status_code < 400 or not (isinstance(body, dict) and "Code" in body and "Message" in body):
        return response
    cls = _CHALICE_ERRORS.get(str(body["Code"]))
    if cls is not None and cls.status == response.status_code:
        error = cls(str(body["Message"]))
    else:
        error = PerimeterError("An unexpected error occurred; it has been logged.")
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-type"}
    if isinstance(error, MethodNotAllowed):
        error.headers["Allow"] = str(headers.pop("Allow", ""))
    path = (request.context or {}).get("path") if request is not None else None
    return error_response(error, path, {k: str(v) for k, v in headers.items()}, style_for(request.path if request
                                                                                           else None))


def _error_response(error: PerimeterError, request: Request, headers: dict[str, str],
                    style: ResponseStyle) -> Response:
    return error_response(error, (request.context or {}).get("path"), headers, style)


def handle(request: Request | None, operation: Callable[[Any], Result], *, public: bool = False,
           max_body: int | None = None, finish: Finish | None = None, style: ResponseStyle = V1_STYLE) -> Response:
    """Run one API operation through auth, rate limits, the route's role, body bounds and idempotency.

    A `public` operation skips all of that and is called with None instead of a Ctx. `max_body`
    raises the body bound for one operation (a base64 logo) above PERIMETER_MAX_BODY_BYTES.
    `finish` rewrites a 2xx body on its way out, after the idempotency record was written; a
    PerimeterError it raises becomes an error answer here like any other: problem+json, or the
    error shape of `style` (a vendor dialect), which also renames the rate-limit headers. A key
    whose role is below the route's (chalicelib.access.policy) gets 403 `insufficient-role` before
    the body is read. Every authenticated call that is not a read is recorded as an audit event
    (but a 429). Raises RuntimeError when called outside a request.
    """
    if request is None:
        raise RuntimeError("handle() needs the current request")
    caller: list[tuple[Services, Principal]] = []
    response = _run(request, operation, caller, public, max_body, finish, style)
    if caller and request.method.upper() not in ("GET", "HEAD") and response.status_code != 429:
        audit_call(caller[0][0], caller[0][1], request, response.status_code)
    return response


def _run(request: Request, operation: Callable[[Any], Result], caller: list[tuple[Services, Principal]],
         public: bool, max_body: int | None, finish: Finish | None, style: ResponseStyle) -> Response:
    headers: dict[str, str] = {}
    try:
        if public:
            result = operation(None)
            return respond(result.status, dump(result.body), result.headers, media=style.error_media)
        services = get_services()
        principal = services.auth.authenticate(request.headers.get("authorization"), request.headers.get("x-api-key"))
        caller.append((services, principal))
        append_keys(tenant_id=principal.tenant.tenant_id, key_id=principal.key_id)
        limit = principal.tenant.rate_limit_per_minute or services.settings.rate_limit_per_minute
        decision = services.rate_limiter.enforce(principal.key_id, limit)
        headers.update(decision.headers())
        check_role(principal, request)
        raw = request.raw_body or b""
        bound = max(services.settings.max_body_bytes, max_body or 0)
        if len(raw) > bound:
            raise PayloadTooLarge(f"The body is {len(raw)} bytes; at most {bound} are accepted.")
        ctx = Ctx(principal=principal, request=request, services=services, headers=headers)
        key = request.headers.get("idempotency-key")
        if request.method == "POST" and key is not None:
            stored, extra = _idempotent(ctx, operation, key, raw if isinstance(raw, bytes) else raw.encode(), style)
            body = _finished(finish, services, stored.status, stored.body)
            return respond(stored.status, body, style.headers({**ctx.headers, **stored.headers, **extra}),
                           media=style.error_media)
        result = operation(ctx)
        body = _finished(finish, services, result.status, dump(result.body))
        return respond(result.status, body, style.headers({**headers, **result.headers}), media=style.error_media)
    except PerimeterError as error:
        if isinstance(error, RateLimited):
            log.info("rate limited: %s", error.detail)
        return _error_response(error, request, headers, style)
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        return _error_response(PerimeterError("An unexpected error occurred; it has been logged."), request, headers,
                               style)


def route_of(request: Request) -> str | None:
    """The route template Chalice matched (`/v1/scans/{token}`): API Gateway's and chalice local's resourcePath."""
    return (request.context or {}).get("resourcePath") or request.path


def check_role(principal: Principal, request: Request) -> None:
    """Raise Forbidden (403 `insufficient-role`) when the caller's role is below the route's least role.

    A route no operation table registered needs owner (fail closed).
    """
    rule = POLICY.rule_for(request.method, route_of(request))
    needed = rule.role if rule is not None else UNREGISTERED_ROLE
    if not principal.role.allows(needed):
        raise Forbidden(f"This operation needs the {needed} role or above; this key has the {principal.role} role.",
                        required_role=needed.value)


def audit_call(services: Services, principal: Principal, request: Request, status: int) -> None:
    """Record an authenticated call: its operation, the caller, the path ids and the answer's status.

    Never the body, the headers or the query string. A failed write is logged, not raised.
    """
    rule = POLICY.rule_for(request.method, route_of(request))
    context = request.context or {}
    try:
        services.audit.record(
            principal.tenant.tenant_id, action=rule.operation_id if rule else f"{request.method} {route_of(request)}",
            actor_key_id=principal.key_id, actor_member_id=principal.member_id,
            target={k: str(v) for k, v in (request.uri_params or {}).items()} or None, status=status,
            request_id=getattr(request.lambda_context, "aws_request_id", None) or context.get("requestId"),
            source_ip=(context.get("identity") or {}).get("sourceIp"))
    except Exception:
        log.exception("audit event not recorded for %s %s", request.method, route_of(request))


def _finished(finish: Finish | None, services: Services, status: int, body: Any) -> Any:
    return finish(services, body) if finish is not None and 200 <= status < 300 else body


def _idempotent(ctx: Ctx, operation: Callable[[Ctx], Result], key: str,
                raw: bytes, style: ResponseStyle) -> tuple[StoredResponse, dict[str, str]]:
    request = ctx.request
    params = json.dumps(request.uri_params or {}, sort_keys=True)

    def produce() -> StoredResponse:
        try:
            result = operation(ctx)
            return StoredResponse(result.status, dump(result.body), result.headers)
        except PerimeterError as error:
            if error.status >= 500 or isinstance(error, RateLimited):
                raise
            body, extra = style.error(error, (request.context or {}).get("path"))
            return StoredResponse(error.status, body, extra)

    stored, replayed = ctx.services.idempotency.run(
        ctx.tenant_id, key, fingerprint(request.method, request.path + params, raw), produce)
    extra = {"Idempotency-Key": key}
    if replayed:
        extra["Idempotent-Replayed"] = "true"
    return stored, extra
