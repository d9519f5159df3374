"""One webhook delivery attempt: resolve once, guard every address, connect to a checked address only.

No redirects are followed, no proxy is used (a proxy would resolve the name itself), the whole
exchange has a wall-clock deadline enforced by a watchdog that shuts the socket down (so a
receiver dripping bytes cannot stretch it), and at most `max_excerpt` bytes of the body are read,
of which the outcome keeps a bounded, text-only excerpt (`excerpt.response_excerpt`).
TLS verifies the certificate against the URL's host name while the TCP connection goes to the
pinned address; the CA bundle is REQUESTS_CA_BUNDLE, else SSL_CERT_FILE, else certifi's.
"""

from __future__ import annotations

import contextlib
import http.client
import os
import socket
import ssl
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import certifi

from chalicelib.domain.targets import IPAddress, IPNetwork
from chalicelib.errors import PerimeterError
from chalicelib.service.ports import Resolver
from chalicelib.webhooks.excerpt import MAX_READ_BYTES, response_excerpt
from chalicelib.webhooks.policy import DEFAULT_TIMEOUT
from chalicelib.webhooks.url_guard import NOT_ALLOWED, SELF_ENDPOINT, ValidatedUrl, check_webhook_url

USER_AGENT = "Perimeter-Webhook/1.0"
MAX_EXCERPT_BYTES = MAX_READ_BYTES  # read from the body at most; the log keeps at most 256 characters of text
# Set by the sender whatever the caller passes: framing and routing are ours to decide.
_OWNED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "user-agent",
                            "accept-encoding", "expect", "te", "upgrade", "proxy-authorization"})


class ErrorKind:
    """Stable values of `DeliveryOutcome.error_kind`."""

    ADDRESS_NOT_ALLOWED = "address-not-allowed"
    INVALID_URL = "invalid-url"
    DNS = "dns"
    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    PROTOCOL = "protocol"


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one attempt produced. `status_code` is None when no response status was read."""

    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after: str | None  # the raw Retry-After header, for `policy.next_delay`
    response_excerpt: str  # at most 256 characters of a textual body, cleaned; or "[non-text body omitted]"
    error_kind: str | None = None
    address: str | None = None  # the address connected to

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return self.status_code is not None and 200 <= self.status_code < 300


class _Watchdog:
    """Shuts down registered sockets at the deadline, interrupting any blocked read or write."""

    def __init__(self, deadline: float) -> None:
        self.fired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(deadline - time.monotonic(), 0.0), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def watch(self, sock: socket.socket) -> None:
        """Register a socket (a duplicate descriptor is kept, so TLS wrapping does not lose it)."""
        with self._lock:
            if self.fired:
                raise TimeoutError("deadline reached")
            self._sockets.append(sock.dup())

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        """Cancel the timer and release the duplicate descriptors."""
        self._timer.cancel()
        with self._lock:
            for sock in self._sockets:
                sock.close()
            self._sockets.clear()


def _ca_bundle() -> str:
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(var)
        if value:
            return value
    return certifi.where()


@lru_cache(maxsize=8)
def _tls_context(ca_bundle: str) -> ssl.SSLContext:
    if os.path.isdir(ca_bundle):
        context = ssl.create_default_context(capath=ca_bundle)
    else:
        context = ssl.create_default_context(cafile=ca_bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _request_headers(target: ValidatedUrl, headers: Mapping[str, str]) -> dict[str, str]:
    merged = {k: v for k, v in headers.items() if k.lower() not in _OWNED_HEADERS}
    if not any(k.lower() == "content-type" for k in merged):
        merged["Content-Type"] = "application/json"
    merged.update({"Host": target.host_header, "User-Agent": USER_AGENT, "Accept-Encoding": "identity",
                   "Connection": "close"})
    return merged


def _ordered(addresses: tuple[IPAddress, ...]) -> list[IPAddress]:
    """IPv4 first (Lambda outside a dual-stack VPC has no IPv6 egress), answer order kept otherwise."""
    return sorted(addresses, key=lambda a: a.version)


def _open_socket(address: IPAddress, port: int, timeout: float, watchdog: _Watchdog) -> socket.socket:
    family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        watchdog.watch(sock)
        sock.settimeout(max(timeout, 0.001))
        sock.connect((str(address), port))
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except BaseException:
        sock.close()
        raise
    return sock


class _Failure(Exception):
    def __init__(self, kind: str, message: str) -> None:
        super().__init__(message)
        self.kind = kind


def _connect(target: ValidatedUrl, deadline: float, watchdog: _Watchdog) -> tuple[socket.socket, IPAddress]:
    """A connected (and, for https, TLS-verified) socket to one of the checked addresses."""
    candidates = _ordered(target.addresses)
    errors: list[str] = []
    for index, address in enumerate(candidates):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or watchdog.fired:
            break
        try:
            sock = _open_socket(address, target.port, remaining / (len(candidates) - index), watchdog)
        except OSError as exc:
            errors.append(f"{address}: {exc}")
            continue
        if target.scheme == "https":
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                sock = _tls_context(_ca_bundle()).wrap_socket(sock, server_hostname=target.host)
            except BaseException:
                sock.close()
                raise
        return sock, address
    if watchdog.fired or deadline - time.monotonic() <= 0:
        raise TimeoutError("no connection before the deadline" + (f" ({'; '.join(errors)})" if errors else ""))
    raise _Failure(ErrorKind.CONNECT, "could not connect: " + "; ".join(errors))


def _exchange(target: ValidatedUrl, sock: socket.socket, body: bytes, headers: dict[str, str],
              deadline: float, max_excerpt: int,
              watchdog: _Watchdog) -> tuple[int, str | None, bytes, str | None, str | None]:
    """Send the request on `sock`; (status, Retry-After, body bytes, body error, Content-Type). Raises on no status.

    http.client takes EOF as the end of the headers or body, so a response cut by the watchdog
    would look complete: the watchdog's flag decides instead.
    """
    conn = http.client.HTTPConnection(target.host, target.port)
    conn.auto_open = 0  # never reconnect by name
    conn.sock = sock
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        conn.request("POST", target.target, body=body, headers=headers)
        response = conn.getresponse()
        if watchdog.fired:
            raise TimeoutError("response headers cut at the deadline")
        status, retry_after = response.status, response.getheader("Retry-After")
        content_type = response.getheader("Content-Type")
        try:
            excerpt = response.read(max_excerpt)
        except (OSError, http.client.HTTPException) as exc:
            return (status, retry_after, b"", f"response body not read completely: {exc or type(exc).__name__}",
                    content_type)
        short = len(excerpt) < max_excerpt and (watchdog.fired or bool(response.length))
        return status, retry_after, excerpt, "response body ended early" if short else None, content_type
    finally:
        conn.close()


def _describe(exc: BaseException, timeout: float, fired: bool) -> tuple[str, str]:
    if fired or isinstance(exc, TimeoutError):
        return ErrorKind.TIMEOUT, f"no complete response within {timeout:g} s"
    if isinstance(exc, _Failure):
        return exc.kind, str(exc)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return ErrorKind.TLS, f"certificate verification failed: {exc.verify_message or exc}"
    if isinstance(exc, ssl.SSLError):
        return ErrorKind.TLS, f"TLS error: {exc}"
    if isinstance(exc, http.client.HTTPException):
        return ErrorKind.PROTOCOL, f"invalid HTTP response: {type(exc).__name__}: {exc}"
    return ErrorKind.CONNECT, f"connection failed: {type(exc).__name__}: {exc}"


def _refusal(exc: PerimeterError) -> DeliveryOutcome:
    if exc.code in (NOT_ALLOWED, SELF_ENDPOINT):
        kind = ErrorKind.ADDRESS_NOT_ALLOWED
    elif exc.status == 503:
        kind = ErrorKind.DNS
    else:
        kind = ErrorKind.INVALID_URL
    return DeliveryOutcome(None, 0, exc.detail, None, "", kind)


def deliver(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allowed: tuple[IPNetwork, ...],
    resolver: Resolver,
    timeout: float = DEFAULT_TIMEOUT,
    max_excerpt: int = MAX_EXCERPT_BYTES,
) -> DeliveryOutcome:
    """POST `body` to `url` once; never raises for network, DNS, TLS or guard failures.

    The URL is re-checked (one resolution, every address guarded) before any connection. The
    outcome's `error_kind` tells refusals (`address-not-allowed`, `invalid-url`, `dns`) from
    transport failures (`connect`, `tls`, `timeout`, `protocol`). Raises ValueError only for
    header names or values http.client refuses.
    """
    deadline = time.monotonic() + timeout
    try:
        target = check_webhook_url(url, allowed, resolver)
    except PerimeterError as exc:
        return _refusal(exc)
    request_headers = _request_headers(target, headers)
    started = time.monotonic()
    watchdog = _Watchdog(deadline)
    address: IPAddress | None = None
    try:
        sock, address = _connect(target, deadline, watchdog)
        status, retry_after, excerpt, body_error, content_type = _exchange(target, sock, body, request_headers,
                                                                           deadline, max_excerpt, watchdog)
    except (OSError, http.client.HTTPException, _Failure) as exc:
        kind, message = _describe(exc, timeout, watchdog.fired)
        latency = round((time.monotonic() - started) * 1000)
        return DeliveryOutcome(None, latency, message, None, "", kind, None if address is None else str(address))
    finally:
        watchdog.close()
    if body_error is not None and watchdog.fired:
        body_error = f"response body not complete within {timeout:g} s"
    return DeliveryOutcome(status, round((time.monotonic() - started) * 1000), body_error, retry_after,
                           response_excerpt(content_type, excerpt), None, str(address))
