"""The insured's public self-assessment page: `GET /sa/{sa_token}` and `POST /sa/{sa_token}` (HTML, no API key).

The capability token in the path is the only credential. These routes are served beside /v1 but are
not part of its OpenAPI document (chalicelib.api.table.ROUTED). Every answer carries a strict CSP
(no script; one hashed style block), frame, referrer and cache headers. A POST is a form
(`application/x-www-form-urlencoded`, bounded) carrying a CSRF token bound to the sa token (HMAC under a
server secret, compared in constant time); a cross-origin `Origin` or `Sec-Fetch-Site` is refused.
Requests are rate limited per sa token and per client address. Saves and submits answer 303 back to
the page (Post/Redirect/Get); answers the service refuses re-render the form with the errors (422).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
from base64 import urlsafe_b64encode
from collections.abc import Mapping
from urllib.parse import parse_qsl, urlsplit

from chalice.app import Request, Response

from chalicelib.access.ratelimit import RateDecision
from chalicelib.api.http import SECURITY_HEADERS, ResponseStyle, register_style
from chalicelib.api.operations import Routes
from chalicelib.bootstrap import Services, get_services
from chalicelib.core.errors import NotFound
from chalicelib.core.settings import Settings
from chalicelib.selfassessment.models import InvalidAnswers, SelfAssessmentPort, SelfAssessmentSubmitted
from chalicelib.selfassessment.page import (
    FieldError,
    Page,
    render_form,
    render_message,
    render_not_found,
    render_rate_limited,
    render_submitted,
    render_view,
)
from chalicelib.selfassessment.page_style import content_security_policy

log = logging.getLogger(__name__)

PATH = "/sa/{sa_token}"
FORM = "application/x-www-form-urlencoded"
HTML = "text/html; charset=utf-8"
MAX_FORM_BYTES = 16 * 1024  # a full questionnaire's answers are ~2 KiB
MAX_FORM_FIELDS = 300
TOKEN_LIMIT_PER_MINUTE = 30  # one insured, saving as they go
ADDRESS_LIMIT_PER_MINUTE = 120  # one office behind one address, or one guesser of tokens
# URL-safe characters only: the token is echoed in the 303's relative Location and must stay one path segment.
_TOKEN = re.compile(r"^[A-Za-z0-9_~-][A-Za-z0-9._~-]{0,199}$")
# What every answer of these routes carries (the page's own CSP is added per page: it names its style block).
PAGE_HEADERS = {
    **SECURITY_HEADERS,  # Cache-Control: no-store, X-Content-Type-Options: nosniff
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",  # the token is in the URL
    "Cross-Origin-Opener-Policy": "same-origin",
}

route = Routes()


def _with_page_headers(headers: dict[str, str]) -> dict[str, str]:
    return {**PAGE_HEADERS, "Content-Security-Policy": content_security_policy(None), **headers}


# Chalice's own refusals under /sa/ (405, 415) and the embedded server's stay problem+json, with these headers.
register_style("/sa", ResponseStyle(headers=_with_page_headers))


def self_assessment(services: Services) -> SelfAssessmentPort:
    """The service behind the page (`services.self_assessment`; tests may put a fake there)."""
    return services.self_assessment


def csrf_secret(settings: Settings) -> bytes:
    """The key binding CSRF tokens to sa tokens: a subkey of the key pepper (never the pepper itself)."""
    return hmac.new(settings.key_pepper.get_secret_value().encode(), b"perimeter/sa-csrf/v1", hashlib.sha256).digest()


def csrf_token(secret: bytes, sa_token: str) -> str:
    """The CSRF token for one sa token: HMAC-SHA256, URL-safe base64 without padding."""
    digest = hmac.new(secret, b"sa-csrf\x00" + sa_token.encode(), hashlib.sha256).digest()
    return urlsafe_b64encode(digest).decode().rstrip("=")


def _html(status: int, page: Page | None, headers: Mapping[str, str] | None = None) -> Response:
    all_headers: dict[str, str | list[str]] = {
        "Content-Type": HTML, **PAGE_HEADERS,
        "Content-Security-Policy": page.csp if page else content_security_policy(None), **(headers or {})}
    return Response(body=page.html.decode("utf-8") if page else "", status_code=status, headers=all_headers)


def _address(request: Request) -> str:
    identity = (request.context or {}).get("identity") or {}
    return str(identity.get("sourceIp") or "unknown")


def _limit(services: Services, request: Request, sa_token: str) -> RateDecision | None:
    """The refusal when the client address or the sa token is over its limit, else None (both are counted)."""
    limiter = services.rate_limiter
    by_address = limiter.check(f"sa-address:{_address(request)}", ADDRESS_LIMIT_PER_MINUTE)
    # The token is a credential: it is counted under its hash, never stored as it is.
    hashed = hashlib.sha256(sa_token.encode()).hexdigest()[:32]
    by_token = limiter.check(f"sa-token:{hashed}", TOKEN_LIMIT_PER_MINUTE) if _TOKEN.match(sa_token) else None
    refused = [d for d in (by_address, by_token) if d is not None and not d.allowed]
    return max(refused, key=lambda d: d.retry_after) if refused else None


def _refused(decision: RateDecision) -> Response:
    log.info("self-assessment page rate limited")
    return _html(429, render_rate_limited(decision.retry_after), {"Retry-After": str(decision.retry_after)})


def _not_found() -> Response:
    return _html(404, render_not_found())


def _failed() -> Response:
    log.exception("self-assessment page failed")
    return _html(500, render_message("Something went wrong", "The page could not be shown. Please try again later."))


def _admit(services: Services, request: Request, sa_token: str) -> Response | None:
    """The answer that ends a request before any work (429 over a limit, 404 for a malformed token), else None."""
    refusal = _limit(services, request, sa_token)
    if refusal is not None:
        return _refused(refusal)
    return None if _TOKEN.match(sa_token) else _not_found()


@route("GET", PATH, "getSelfAssessmentPage", "The insured's self-assessment page (HTML)", 200, None, public=True,
       media="text/html", path_max=200, tags=("self-assessment",))
def sa_page(request: Request | None, sa_token: str) -> Response:
    """The questionnaire (open) or the submitted answers (locked); 404 page for any token that is not live."""
    if request is None:
        raise RuntimeError("sa_page needs the current request")
    try:
        services = get_services()
        early = _admit(services, request, sa_token)
        if early is not None:
            return early
        session = self_assessment(services).open(sa_token)
        saved = request.query_params is not None and request.query_params.get("saved") == "1"
        page = render_view(session, csrf_token=csrf_token(csrf_secret(services.settings), sa_token),
                           notice="Your answers were saved." if saved else None)
        return _html(200, page)
    except NotFound:
        return _not_found()
    except Exception:
        return _failed()


def _cross_origin(request: Request, settings: Settings) -> bool:
    """True when the browser says the form came from another site (Origin or Sec-Fetch-Site)."""
    if request.headers.get("sec-fetch-site", "same-origin").lower() in ("cross-site", "same-site"):
        return True
    origin = request.headers.get("origin")
    if origin is None or origin == "null":  # `null`: our own form under Referrer-Policy no-referrer
        return False
    ours = {urlsplit(settings.public_base_url).netloc.lower(), request.headers.get("host", "").lower()} - {""}
    return urlsplit(origin).netloc.lower() not in ours


def _form(raw: bytes) -> dict[str, str] | None:
    """The form's fields, or None when it is not UTF-8, has too many fields or repeats one."""
    try:
        pairs = parse_qsl(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FORM_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return None
    fields = dict(pairs)
    return fields if len(fields) == len(pairs) else None


def _bad_form(title: str, detail: str, status: int, sa_token: str) -> Response:
    return _html(status, render_message(title, detail, link=(f"./{sa_token}", "Go back to the questions")))


@route("POST", PATH, "postSelfAssessmentPage", "Save or submit the self-assessment (HTML form)", 303, None,
       public=True, media="text/html", path_max=200, content_types=(FORM,), tags=("self-assessment",))
def sa_post(request: Request | None, sa_token: str) -> Response:
    """Save (`action=save`) or submit (`action=submit`) the answers; 303 back to the page, or the form with errors."""
    if request is None:
        raise RuntimeError("sa_post needs the current request")
    try:
        services = get_services()
        early = _admit(services, request, sa_token)
        if early is not None:
            return early
        body = request.raw_body or b""
        raw = body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body
        if len(raw) > MAX_FORM_BYTES:
            return _bad_form("Too much data", "The form sent more data than any answer needs.", 413, sa_token)
        fields = _form(raw)
        if fields is None:
            return _bad_form("The form could not be read", "Please go back and try again.", 400, sa_token)
        secret = csrf_secret(services.settings)
        expected = csrf_token(secret, sa_token)
        if _cross_origin(request, services.settings) or not hmac.compare_digest(
                fields.get("csrf", "").encode(), expected.encode()):
            log.info("self-assessment form refused: cross-site or bad CSRF token")
            return _bad_form("The form could not be accepted",
                             "It was sent from another site or has expired. Reload the page and try again.",
                             403, sa_token)
        action = fields.get("action")
        if action not in ("save", "submit"):
            return _bad_form("The form could not be read", "Choose to save or to submit your answers.", 400,
                             sa_token)
        answers = {name[2:]: value for name, value in fields.items() if name.startswith("q-")}
        return _save(self_assessment(services), sa_token, answers, action == "submit", expected)
    except NotFound:
        return _not_found()
    except Exception:
        return _failed()


def _save(port: SelfAssessmentPort, sa_token: str, answers: dict[str, str], submit: bool, csrf: str) -> Response:
    """Save or submit through the port; raises NotFound (an unknown token)."""
    try:
        port.save(sa_token, answers, submit=submit)
    except InvalidAnswers as refused:
        session = port.open(sa_token)
        errors = [FieldError(str(e.get("field", "")), str(e.get("message", refused.detail)))
                  for e in refused.extra.get("errors", []) if isinstance(e, dict)] or [FieldError("", refused.detail)]
        page = render_form(session, csrf_token=csrf, answers={**session.answers, **answers}, errors=errors)
        return _html(422, page)
    except SelfAssessmentSubmitted:
        page = render_submitted(port.open(sa_token),
                                notice="This self-assessment was already submitted; your changes were not saved.")
        return _html(409, page)
    log.info("self-assessment %s", "submitted" if submit else "saved")
    location = f"./{sa_token}" if submit else f"./{sa_token}?saved=1"
    return _html(303, None, {"Location": location})
