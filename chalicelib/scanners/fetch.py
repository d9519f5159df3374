"""The scanners' GET with a redirect walk: every hop is its own guarded request
(`chalicelib.net.http`), resolved through the scan's resolver, checked against the
target guard and connected to by address (SNI and certificate checks keep the name).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from dataclasses import dataclass, field

from chalicelib.core.addresses import IPAddress
from chalicelib.net import http as guarded_http
from chalicelib.net.dns import DnsResolver
from chalicelib.net.http import AddressRefused, Destination, FailureKind, Guard, HttpFailure
from chalicelib.net.ports import DomainNotFound, ResolverUnavailable
from chalicelib.scanners.base import CheckSkipped, GuardRefused, ScanContext, resolution_failure, select_addresses

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Perimeter-Scanner/0.1 (+posture check)"


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
        return guarded_http.header_value(self.headers, name)

    def header_all(self, name: str) -> list[str]:
        """Every value of a repeated header such as Set-Cookie."""
        return guarded_http.header_values(self.headers, name)


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
        if urllib.parse.urlsplit(current).scheme not in guarded_http.DEFAULT_PORTS:
            result.stopped = f"redirect to {current} not followed: unsupported scheme"
            return result
    result.stopped = f"more than {max_redirects} redirects"
    return result


def _request(url: str, ctx: ScanContext, max_body: int) -> tuple[Hop, bytes]:
    """One GET to the first guard-allowed address of the URL's host that accepts a connection.

    Raises CheckSkipped/CheckFailed (guard, DNS) or FetchError.
    """
    try:
        destination = Destination.from_url(url)
    except ValueError as exc:
        raise FetchError(f"{url}: {exc}") from None

    def rule(answers: tuple[IPAddress, ...]) -> Sequence[IPAddress]:
        # The port too: never the system's own sockets.
        return select_addresses(destination.host, answers, ctx, destination.port)

    try:
        response = guarded_http.send(
            destination, resolver=DnsResolver(ctx.resolver), guard=Guard(ctx.allowed_networks, ctx.self_endpoints),
            rule=rule, timeout=ctx.http_timeout, max_body=max_body, user_agent=USER_AGENT,
            headers={"Accept": "*/*"},
        )
    except (DomainNotFound, ResolverUnavailable) as exc:
        raise resolution_failure(destination.host, exc) from None
    except AddressRefused as exc:
        raise GuardRefused(f"target guard: {exc}") from None
    except HttpFailure as exc:
        if exc.kind == FailureKind.TLS:
            raise FetchError(f"TLS failure on {url}: {exc}", tls=True) from None
        raise FetchError(f"{url}: {exc}") from None
    hop = Hop(url=url, address=str(response.address), status=response.status, headers=list(response.headers))
    return hop, response.body
