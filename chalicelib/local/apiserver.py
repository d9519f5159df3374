"""The embedded stack's HTTP server: chalice's local gateway behind a threaded http.server.

What API Gateway does in AWS, this server does before a body is read: unknown routes are 404,
unrouted methods 405, refused content types 415, header lines over 64 KiB 431, bodies without a
Content-Length 411 and bodies over the largest per-route bound 413, and a body for an authenticated
route is read only once its API key is valid (401 otherwise). Each refusal is problem+json and
closes the connection without reading the body. A body that stops arriving is dropped after
`read_timeout` seconds (408).
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
from http import HTTPStatus
from typing import Any
from urllib.parse import urlsplit

from chalice.app import Chalice, _matches_content_type
from chalice.config import Config
from chalice.local import (
    ChaliceRequestHandler,
    CustomLocalChalice,
    LocalChalice,
    LocalDevServer,
    RouteMatcher,
    ThreadedHTTPServer,
)

from chalicelib.api.http import SECURITY_HEADERS, V1_STYLE, problem_bytes, style_for
from chalicelib.api.report_routes import BRANDING_MAX_BODY
from chalicelib.api.table import ROUTED
from chalicelib.bootstrap import get_services
from chalicelib.core.errors import (
    BadRequest,
    HeaderFieldsTooLarge,
    HttpVersionNotSupported,
    LengthRequired,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    PerimeterError,
    RequestTimeout,
    UnsupportedMediaType,
    UriTooLong,
)

log = logging.getLogger("perimeter.local.api")
READ_TIMEOUT_SECONDS = 30.0  # a client that stops sending (headers or body) loses its thread after this
LINGER_BYTES = 64 * 1024  # after a refusal, what is drained so the client reads the answer, not a reset
# Download links and self-assessment pages are capabilities: never logged.
_DOWNLOAD_TOKEN = re.compile(r"(/v1/downloads/|/sa/)[^\s\"]+")
_LENGTH = re.compile(r"[0-9]{1,18}")  # ASCII digits only (str.isdigit takes "²"), and int() stays cheap
PUBLIC = frozenset((op.method, op.path) for op in ROUTED if op.public)
# http.server's own refusals (request line, header lines, HTTP version) -> our errors.
_SERVER_ERRORS: dict[int, type[PerimeterError]] = {
    400: BadRequest, 408: RequestTimeout, 414: UriTooLong, 431: HeaderFieldsTooLarge, 505: HttpVersionNotSupported,
}


def styled_bytes(error: PerimeterError, path: str | None) -> tuple[int, dict[str, str], bytes]:
    """A refusal in the style of the API surface `path` belongs to: problem+json, or a vendor dialect's shape."""
    style = style_for(path)
    if style is V1_STYLE:
        return problem_bytes(error, path)
    body, extra = style.error(error, path)
    headers = {"Content-Type": style.error_media, **SECURITY_HEADERS, **style.headers(extra)}
    return error.status, headers, json.dumps(body, separators=(",", ":")).encode()


class Refused(Exception):
    """A request answered before its body was read."""

    def __init__(self, error: PerimeterError) -> None:
        super().__init__(error.detail)
        self.error = error


class Server(ThreadedHTTPServer):
    """A threaded HTTP server with a listen backlog that absorbs bursts."""

    request_queue_size = 256  # socketserver's default of 5 resets bursts of concurrent clients
    read_timeout: float = READ_TIMEOUT_SECONDS


class Handler(ChaliceRequestHandler):
    """chalice's request handler, refusing bad requests before their body the way API Gateway does."""

    # Headers and body go out in separate writes: without TCP_NODELAY a keep-alive client
    # waits ~40 ms on every response for the delayed ACK.
    disable_nagle_algorithm = True

    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Chalice, config: Config) -> None:
        self.app_object = app_object
        super().__init__(request, client_address, server, app_object, config)

    def log_message(self, format: str, *args: Any) -> None:
        """http.server's access and error lines, through logging (INFO), download tokens hidden."""
        if log.isEnabledFor(logging.INFO):
            log.info("%s %s", self.address_string(), _DOWNLOAD_TOKEN.sub(r"\1[redacted]", format % args))

    def setup(self) -> None:
        """Apply the server's read timeout to the connection (StreamRequestHandler reads `timeout`)."""
        self.timeout = getattr(self.server, "read_timeout", READ_TIMEOUT_SECONDS)
        super().setup()

    # API Gateway answers every method (405 where no route has it); http.server says 501.
    def __getattr__(self, name: str) -> Any:
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)

    def _generic_handle(self) -> None:
        try:
            super()._generic_handle()
        except Refused as refused:
            self._refuse(refused.error)

    # chalice binds these to its own _generic_handle; ours wraps it.
    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = do_PATCH = do_OPTIONS = _generic_handle  # noqa: N815

    def _parse_payload(self) -> tuple[dict[str, Any], bytes | None]:
        """The headers and the body, read only once the request passed every check; raises Refused."""
        length = self._admit()
        body = None
        if length > 0:
            try:
                body = self.rfile.read(length)
            except TimeoutError:
                raise Refused(RequestTimeout(f"The body did not arrive within {self.timeout:g} seconds.")) from None
            if len(body) < length:
                raise Refused(BadRequest("The body is shorter than its Content-Length.", code="incomplete-body"))
        return dict(self.headers), body

    def _admit(self) -> int:
        """Route, method, content type, length and (for a body) the API key; raises Refused, returns the length."""
        path = urlsplit(self.path).path
        try:
            route = RouteMatcher(list(self.app_object.routes)).match_route(path).route
        except ValueError:
            raise Refused(NotFound("No such resource.", code="not-found")) from None
        methods = self.app_object.routes[route]
        if self.command not in methods and self.command != "OPTIONS":
            raise Refused(MethodNotAllowed(f"{self.command} is not allowed here.",
                                           headers={"Allow": ", ".join(methods)}))
        entry = methods.get(self.command)
        content_type = self.headers.get("content-type", "application/json")
        if entry is not None and entry.content_types and not _matches_content_type(content_type, entry.content_types):
            raise Refused(UnsupportedMediaType(f"Unsupported media type: {content_type}"))
        length = self._content_length()
        if length > 0 and (self.command, route) not in PUBLIC:
            services = get_services()
            try:
                services.auth.authenticate(self.headers.get("authorization"), self.headers.get("x-api-key"))
            except PerimeterError as error:
                raise Refused(error) from None
            bound = max(services.settings.max_body_bytes, BRANDING_MAX_BODY)
            if length > bound:
                raise Refused(PayloadTooLarge(f"The body is {length} bytes; at most {bound} are accepted."))
        elif length > BRANDING_MAX_BODY:
            raise Refused(PayloadTooLarge(f"The body is {length} bytes; at most {BRANDING_MAX_BODY} are accepted."))
        return length

    def _content_length(self) -> int:
        """The declared body length; raises Refused for chunked bodies and unreadable lengths."""
        if self.headers.get("transfer-encoding") is not None:
            raise Refused(LengthRequired("Send the body with a Content-Length, not Transfer-Encoding."))
        declared = self.headers.get_all("content-length") or []
        if not declared:
            return 0
        if len(set(declared)) > 1 or not _LENGTH.fullmatch(declared[0].strip()):
            raise Refused(BadRequest("The Content-Length header is not one non-negative integer.",
                                     code="bad-content-length"))
        return int(declared[0].strip())

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's refusals (request line, headers, version) as problem+json; closes the connection."""
        self.log_error("code %d, message %s", code, message)
        cls = _SERVER_ERRORS.get(code)
        if cls is None:
            cls = BadRequest if 400 <= code < 500 else PerimeterError
        try:
            detail = message or HTTPStatus(code).phrase
        except ValueError:
            detail = message or "The request could not be served."
        error = cls(detail)
        self._refuse(error, log_it=False)

    def _refuse(self, error: PerimeterError, *, log_it: bool = True) -> None:
        """Answer problem+json, close the connection and drain a little so the answer is not lost to a reset."""
        if log_it:
            self.log_message("refused %s %s: %d %s", getattr(self, "command", "-"), getattr(self, "path", "-"),
                             error.status, error.code)
        status, headers, body = styled_bytes(error, urlsplit(getattr(self, "path", "") or "").path or None)
        self.close_connection = True
        with contextlib.suppress(OSError):  # a client that went away gets nothing
            self.send_response(status)
            for name, value in {**headers, "Content-Length": str(len(body)), "Connection": "close"}.items():
                self.send_header(name, value)
            self.end_headers()
            if getattr(self, "command", None) != "HEAD":
                self.wfile.write(body)
            self.wfile.flush()
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(1.0)
            drained = 0
            while drained < LINGER_BYTES:
                chunk = self.connection.recv(16 * 1024)
                if not chunk:
                    break
                drained += len(chunk)


def serve_api(host: str, port: int, *, read_timeout: float = READ_TIMEOUT_SECONDS) -> LocalDevServer:
    """A server for the Chalice app on host:port, bound but not yet serving (call serve_forever)."""
    from app import app

    # What chalice.local.create_local_server does, with our server class: a thread-local current_request.
    if not isinstance(app, LocalChalice):
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    config = Config.create(chalice_stage="local", app_name="perimeter", chalice_app=app)
    server = LocalDevServer(app, config, host, port, handler_cls=Handler, server_cls=Server)
    server.server.read_timeout = read_timeout
    return server
