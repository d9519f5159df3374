"""The one HTTP client that may reach a tenant's hosts (webhook receivers, scanned sites).

`send()` makes one exchange: it resolves the host once (an IP literal is used as is), lets the
caller's rule pick the addresses from the answer, refuses any of them the target guard refuses (a
rule can narrow the guard, never widen it), and connects to a checked address only: no proxy (it
would resolve the name itself), no second resolution, no redirect followed (a 3xx is returned as
is; a caller that walks redirects sends each hop through `send()` again). TLS sends SNI for, and
verifies the certificate against, the host name while the TCP connection goes to the pinned
address; the CA bundle is REQUESTS_CA_BUNDLE, else SSL_CERT_FILE, else certifi's. `verify=False` is
an explicit opt-in for identification (appliances serve self-signed certificates): the guard, the
pinned address and SNI stay, only the certificate is not checked. The whole
exchange has a wall-clock deadline kept by a watchdog that shuts the socket down (a server
dripping bytes cannot stretch it), and at most `max_body` bytes of the body are read.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import os
import socket
import ssl
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import certifi

from chalicelib.core.addresses import IPAddress, IPNetwork, SelfEndpoint
from chalicelib.net.guard import is_blocked, is_self_endpoint, parse_ip
from chalicelib.net.ports import Resolver

DEFAULT_PORTS = {"http": 80, "https": 443}
# Set by the client whatever the caller passes: framing and routing are the client's to decide.
OWNED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "user-agent",
                           "accept-encoding", "expect", "te", "upgrade", "proxy-authorization"})
# Characters left as they are when percent-encoding a path and query: RFC 3986 reserved,
# unreserved and '%' (already-encoded octets stay encoded).
_SAFE = "!#$%&'()*+,/:;=?@[]~-._"

AddressRule = Callable[[tuple[IPAddress, ...]], Sequence[IPAddress]]
"""The caller's rule over every address of the host: those to try, in order; raises to refuse."""


class FailureKind:
    """Stable values of `HttpFailure.kind`."""

    CONNECT = "connect"
    TLS = "tls"
    TIMEOUT = "timeout"
    PROTOCOL = "protocol"


class HttpFailure(Exception):
    """The guard let the exchange through but it failed: no connection, TLS, the deadline, a broken answer."""

    def __init__(self, kind: str, message: str, address: IPAddress | None = None, elapsed: float = 0.0) -> None:
        super().__init__(message)
        self.kind = kind
        self.address = address  # the address connected to, if a connection was made
        self.elapsed = elapsed  # seconds from the first connection attempt


class AddressRefused(Exception):
    """The target guard refuses an address the caller's rule chose (or the rule chose none)."""

    def __init__(self, message: str, addresses: Sequence[IPAddress] = ()) -> None:
        super().__init__(message)
        self.addresses = tuple(addresses)


@dataclass(frozen=True, slots=True)
class Destination:
    """Where a request goes: scheme, host (IDNA name or canonical IP, no brackets), port, request target."""

    scheme: str
    host: str
    port: int
    target: str = "/"  # path and query, as sent in the request line

    @property
    def host_header(self) -> str:
        """The Host header value: the host (bracketed when IPv6), with the port when not the default."""
        bracketed = f"[{self.host}]" if ":" in self.host else self.host
        return bracketed if self.port == DEFAULT_PORTS[self.scheme] else f"{bracketed}:{self.port}"

    @classmethod
    def from_url(cls, url: str) -> Destination:
        """Split an http(s) URL; an IP host in any spelling becomes its canonical form.

        The path and query are percent-encoded where needed. Raises ValueError for another scheme,
        no host or a bad port.
        """
        parts = urllib.parse.urlsplit(url)
        scheme = parts.scheme.lower()
        if scheme not in DEFAULT_PORTS:
            raise ValueError(f"{url!r} is not an http or https URL")
        host = (parts.hostname or "").rstrip(".")
        if not host:
            raise ValueError(f"{url!r} has no host")
        literal = parse_ip(host)
        target = urllib.parse.quote(parts.path or "/", safe=_SAFE)
        if parts.query:
            target += "?" + urllib.parse.quote(parts.query, safe=_SAFE)
        return cls(scheme, str(literal) if literal is not None else host, parts.port or DEFAULT_PORTS[scheme], target)


@dataclass(frozen=True, slots=True)
class Guard:
    """The target guard: the exempt networks (PERIMETER_ALLOW_PRIVATE_TARGETS) and the system's own sockets."""

    allowed: tuple[IPNetwork, ...] = ()
    reserved: tuple[SelfEndpoint, ...] = ()

    def permits(self, address: IPAddress, port: int) -> bool:
        """True when a connection to (address, port) may be made."""
        return not is_self_endpoint(address, port, self.reserved) and not is_blocked(address, self.allowed)

    def every(self, port: int) -> AddressRule:
        """The strictest rule: every address must be permitted (else AddressRefused); IPv4 first."""

        def rule(addresses: tuple[IPAddress, ...]) -> Sequence[IPAddress]:
            refused = [a for a in addresses if not self.permits(a, port)]
            if refused:
                raise AddressRefused("refused by the target guard: " + ", ".join(map(str, refused)), refused)
            return sorted(addresses, key=lambda a: a.version)

        return rule


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """The first value of header `name` (case-insensitive) in `headers`, or None."""
    lowered = name.lower()
    return next((v for k, v in headers if k.lower() == lowered), None)


def header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    """Every value of a repeated header (Set-Cookie), in order."""
    lowered = name.lower()
    return [v for k, v in headers if k.lower() == lowered]


@dataclass(frozen=True, slots=True)
class HttpResponse:
    """What one exchange produced: status, headers in order (repeats kept), at most `max_body` bytes of body."""

    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    address: IPAddress  # the address connected to
    elapsed: float  # seconds from the first connection attempt to the end of the body read
    truncated: bool = False  # the body had more than max_body bytes; the rest was not read
    body_error: str | None = None  # the body ended early or was cut at the deadline
    peer_certificate: bytes | None = None  # the server's leaf certificate (DER), for https

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        return header_value(self.headers, name)


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


def ca_bundle() -> str:
    """The CA file (or directory) HTTPS verifies against: REQUESTS_CA_BUNDLE, else SSL_CERT_FILE, else certifi's."""
    for var in ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE"):
        value = os.environ.get(var)
        if value:
            return value
    return certifi.where()


@lru_cache(maxsize=8)
def _tls_context(bundle: str) -> ssl.SSLContext:
    if os.path.isdir(bundle):
        context = ssl.create_default_context(capath=bundle)
    else:
        context = ssl.create_default_context(cafile=bundle)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


@lru_cache(maxsize=1)
def _unverified_context() -> ssl.SSLContext:
    """TLS without certificate checks (opt-in, for identification): old protocols and ciphers allowed."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError):
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


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


class _NoConnection(Exception):
    """Every checked address refused the connection."""


def _connect(destination: Destination, candidates: Sequence[IPAddress], deadline: float,
             watchdog: _Watchdog, verify: bool = True) -> tuple[socket.socket, IPAddress]:
    """A connected socket to the first candidate that accepts (for https, TLS-verified unless `verify` is False)."""
    errors: list[str] = []
    for index, address in enumerate(candidates):
        remaining = deadline - time.monotonic()
        if remaining <= 0 or watchdog.fired:
            break
        try:
            sock = _open_socket(address, destination.port, remaining / (len(candidates) - index), watchdog)
        except OSError as exc:
            errors.append(f"{address}: {exc}")
            continue
        if destination.scheme == "https":
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            try:
                context = _tls_context(ca_bundle()) if verify else _unverified_context()
                sock = context.wrap_socket(sock, server_hostname=destination.host)
            except BaseException:
                sock.close()
                raise
        return sock, address
    if watchdog.fired or deadline - time.monotonic() <= 0:
        raise TimeoutError("no connection before the deadline" + (f" ({'; '.join(errors)})" if errors else ""))
    raise _NoConnection("could not connect: " + "; ".join(errors))


def _request_headers(destination: Destination, headers: Mapping[str, str], user_agent: str) -> dict[str, str]:
    merged = {k: v for k, v in headers.items() if k.lower() not in OWNED_HEADERS}
    merged.update({"Host": destination.host_header, "User-Agent": user_agent, "Accept-Encoding": "identity",
                   "Connection": "close"})
    return merged


@dataclass(frozen=True, slots=True)
class _Exchange:
    destination: Destination
    method: str
    headers: dict[str, str]
    body: bytes | None
    timeout: float
    max_body: int


def _exchange(exchange: _Exchange, sock: socket.socket, address: IPAddress, deadline: float, started: float,
              watchdog: _Watchdog) -> HttpResponse:
    """Send the request on `sock` and read the answer; raises on no status.

    http.client takes EOF as the end of the headers or body, so an answer cut by the watchdog would
    look complete: the watchdog's flag decides instead.
    """
    leaf = sock.getpeercert(binary_form=True) if isinstance(sock, ssl.SSLSocket) else None
    conn = http.client.HTTPConnection(exchange.destination.host, exchange.destination.port)
    conn.auto_open = 0  # never reconnect by name
    conn.sock = sock
    try:
        sock.settimeout(max(deadline - time.monotonic(), 0.001))
        conn.request(exchange.method, exchange.destination.target, body=exchange.body, headers=exchange.headers)
        response = conn.getresponse()
        if watchdog.fired:
            raise TimeoutError("response headers cut at the deadline")
        headers = tuple(response.getheaders())
        body, truncated, body_error = b"", False, None
        try:
            body = response.read(exchange.max_body + 1)
        except (OSError, http.client.HTTPException) as exc:
            body_error = f"response body not read completely: {exc or type(exc).__name__}"
        else:
            truncated = len(body) > exchange.max_body
            body = body[:exchange.max_body]
            if not truncated and (watchdog.fired or bool(response.length)):
                body_error = "response body ended early"
        if body_error is not None and watchdog.fired:
            body_error = f"response body not complete within {exchange.timeout:g} s"
        return HttpResponse(response.status, headers, body, address, time.monotonic() - started, truncated,
                            body_error, leaf)
    finally:
        conn.close()


def _failure(exc: BaseException, timeout: float, fired: bool, address: IPAddress | None,
             elapsed: float) -> HttpFailure:
    if fired or isinstance(exc, TimeoutError):
        return HttpFailure(FailureKind.TIMEOUT, f"no complete response within {timeout:g} s", address, elapsed)
    if isinstance(exc, _NoConnection):
        return HttpFailure(FailureKind.CONNECT, str(exc), address, elapsed)
    if isinstance(exc, ssl.SSLCertVerificationError):
        return HttpFailure(FailureKind.TLS, f"certificate verification failed: {exc.verify_message or exc}",
                           address, elapsed)
    if isinstance(exc, ssl.SSLError):
        return HttpFailure(FailureKind.TLS, f"TLS error: {exc}", address, elapsed)
    if isinstance(exc, http.client.HTTPException):
        return HttpFailure(FailureKind.PROTOCOL, f"invalid HTTP response: {type(exc).__name__}: {exc}", address,
                           elapsed)
    return HttpFailure(FailureKind.CONNECT, f"connection failed: {type(exc).__name__}: {exc}", address, elapsed)


def _checked_addresses(destination: Destination, resolver: Resolver, guard: Guard,
                       rule: AddressRule | None) -> tuple[IPAddress, ...]:
    """Resolve once, apply the caller's rule, then the guard to whatever the rule chose."""
    literal = parse_ip(destination.host)
    answers = (literal,) if literal is not None else tuple(
        ipaddress.ip_address(str(a)) for a in resolver.resolve(destination.host))
    chosen = tuple((rule or guard.every(destination.port))(answers))
    refused = [a for a in chosen if not guard.permits(a, destination.port)]
    if refused or not chosen:
        raise AddressRefused(f"{destination.host} on port {destination.port}: refused by the target guard: "
                             + (", ".join(map(str, refused)) or "no address left"), refused)
    return chosen


def send(destination: Destination, *, resolver: Resolver, guard: Guard, timeout: float, max_body: int,
         user_agent: str, method: str = "GET", headers: Mapping[str, str] | None = None, body: bytes | None = None,
         rule: AddressRule | None = None, verify: bool = True) -> HttpResponse:
    """One guarded exchange with `destination`; a 3xx is returned, never followed.

    `rule` picks the addresses to try from the host's answer (default `guard.every`: all must pass);
    each is checked against `guard` again before any connection, and the next one is tried only when
    a connection is refused. Headers in OWNED_HEADERS are set by the client. `verify=False` (opt-in,
    for identification only) skips the certificate and host name checks of https; the guard, the
    pinned address and SNI are unchanged. Raises what the
    resolver raises (DomainNotFound, ResolverUnavailable), what `rule` raises, AddressRefused,
    HttpFailure (connect, TLS, deadline, protocol), and ValueError for header names or values
    http.client refuses.
    """
    deadline = time.monotonic() + timeout
    candidates = _checked_addresses(destination, resolver, guard, rule)
    exchange = _Exchange(destination, method, _request_headers(destination, headers or {}, user_agent), body,
                         timeout, max_body)
    started = time.monotonic()
    watchdog = _Watchdog(deadline)
    address: IPAddress | None = None
    try:
        sock, address = _connect(destination, candidates, deadline, watchdog, verify)
        return _exchange(exchange, sock, address, deadline, started, watchdog)
    except (OSError, http.client.HTTPException, _NoConnection) as exc:
        raise _failure(exc, timeout, watchdog.fired, address, time.monotonic() - started) from exc
    finally:
        watchdog.close()
