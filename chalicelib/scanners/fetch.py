"""Guarded HTTP(S) fetches with requests: every hop is resolved through the scan's resolver, checked
against the target guard, and connected to by address (SNI and certificate checks keep the name).

HTTPS is always verified against ca_bundle() (REQUESTS_CA_BUNDLE / SSL_CERT_FILE / certifi).
"""

from __future__ import annotations

import ipaddress
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

import requests
from requests.adapters import HTTPAdapter

from chalicelib.scanners.base import CheckSkipped, ScanContext, allowed_addresses, ca_bundle

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Perimeter-Scanner/0.1 (+posture check)"
_DEFAULT_PORTS = {"http": 80, "https": 443}


class FetchError(Exception):
    """The request could not be made or answered (connection, TLS or protocol failure)."""

    def __init__(self, message: str, *, tls: bool = False) -> None:
        super().__init__(message)
        self.tls = tls


@dataclass(frozen=True)
class Hop:
    """One request/response in a redirect chain."""

    url: str
    address: str
    status: int
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def header_all(self, name: str) -> list[str]:
        """Every value of a repeated header such as Set-Cookie."""
        lowered = name.lower()
        return [v for k, v in self.headers if k.lower() == lowered]


@dataclass
class FetchResult:
    """The hops taken, the final body (capped), and why a redirect was not followed (if so)."""

    hops: list[Hop] = field(default_factory=list)
    body: bytes = b""
    stopped: str | None = None

    @property
    def final(self) -> Hop:
        """The last response."""
        return self.hops[-1]


class _PinnedAdapter(HTTPAdapter):
    """An adapter whose TLS connections send SNI for, and verify the certificate against, a host name."""

    def __init__(self, server_hostname: str | None) -> None:
        self._server_hostname = server_hostname
        super().__init__(max_retries=0)

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        """Add server_hostname/assert_hostname to every pool (urllib3 drops them for plain HTTP)."""
        if self._server_hostname:
            pool_kwargs["server_hostname"] = self._server_hostname
            pool_kwargs["assert_hostname"] = self._server_hostname
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def fetch(url: str, ctx: ScanContext, *, max_redirects: int = 5, max_body: int = 65536) -> FetchResult:
    """GET `url`, following at most `max_redirects` redirects, each hop guarded.

    Raises CheckSkipped/CheckFailed when the first host is refused or unresolvable, FetchError when the
    first request fails. A later hop that is refused or fails ends the chain with `stopped` set.
    """
    result = FetchResult()
    current = url
    for hop_number in range(max_redirects + 1):
        try:
            hop, body = _request(current, ctx, max_body)
        except (CheckSkipped, FetchError) as exc:
            if hop_number == 0:
                raise
            result.stopped = f"redirect to {current} not followed: {exc}"
            return result
        result.hops.append(hop)
        result.body = body
        location = hop.header("Location")
        if hop.status not in REDIRECT_STATUSES or not location:
            return result
        current = urllib.parse.urljoin(current, location)
        if urllib.parse.urlsplit(current).scheme not in _DEFAULT_PORTS:
            result.stopped = f"redirect to {current} not followed: unsupported scheme"
            return result
    result.stopped = f"more than {max_redirects} redirects"
    return result


def _request(url: str, ctx: ScanContext, max_body: int) -> tuple[Hop, bytes]:
    """One GET to the first guard-allowed address of the URL's host that answers."""
    parts = urllib.parse.urlsplit(url)
    host = parts.hostname or ""
    scheme = parts.scheme
    port = parts.port or _DEFAULT_PORTS[scheme]
    host_header = host if port == _DEFAULT_PORTS[scheme] else f"{host}:{port}"
    last_error: FetchError | None = None
    for address in allowed_addresses(host, ctx, port):  # the port too: never the system's own sockets
        literal = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        pinned = urllib.parse.urlunsplit((scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
        try:
            return _get(pinned, host, host_header, scheme == "https", ctx, max_body, url, str(address))
        except FetchError as exc:
            last_error = exc
    assert last_error is not None
    raise last_error


def _get(pinned: str, host: str, host_header: str, tls: bool, ctx: ScanContext, max_body: int,
         url: str, address: str) -> tuple[Hop, bytes]:
    with requests.Session() as session:
        session.trust_env = False  # no proxies or netrc from the environment: the guard decides
        session.mount(pinned.split("://")[0] + "://", _PinnedAdapter(host if tls else None))
        try:
            response = session.get(
                pinned, headers={"Host": host_header, "User-Agent": USER_AGENT}, allow_redirects=False,
                verify=ca_bundle(), timeout=ctx.http_timeout, stream=True,
            )
        except requests.exceptions.SSLError as exc:
            raise FetchError(f"TLS failure on {url}: {_reason(exc)}", tls=True) from None
        except requests.RequestException as exc:
            raise FetchError(f"{url}: {_reason(exc)}") from None
        with response:
            headers = [(k, v) for k, v in response.raw.headers.iteritems()]
            try:
                body = response.raw.read(max_body, decode_content=True) or b""
            except Exception:  # a body we cannot read does not void the headers
                body = b""
    return Hop(url=url, address=address, status=response.status_code, headers=headers), body


def _reason(exc: BaseException) -> str:
    """The innermost useful message of a requests/urllib3 exception chain."""
    text = str(exc)
    for marker in ("SSLCertVerificationError", "CERTIFICATE_VERIFY_FAILED", "Connection refused", "timed out"):
        if marker in text:
            start = text.find(marker)
            return text[start: start + 160].rstrip(")'\"")
    return text[:200]
