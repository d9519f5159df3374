"""The webapp check's HTTP client: one origin only, guarded, polite, budgeted and cancellable.

Every request goes through `chalicelib.net.http.send` (resolve, guard, pin) to the scan's origin
(scheme, host and port of the start URL) and nowhere else; redirects are never followed (a Location
elsewhere is recorded). A token bucket with no burst spaces requests `1/rate` seconds apart, so no
one-second window sees more than `rate + 1`. The request budget, the time budget, the scan's deadline
and its cancel event stop the client with `Stopped`; every sleep wakes at once on cancel.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from chalicelib.core.addresses import IPAddress
from chalicelib.net import http as guarded_http
from chalicelib.net.dns import DnsResolver
from chalicelib.net.http import AddressRefused, Destination, Guard, HttpFailure
from chalicelib.net.ports import DomainNotFound, ResolverUnavailable
from chalicelib.scanners.base import GuardRefused, ScanContext, resolution_failure, select_addresses

VERSION = "0.1"
USER_AGENT = f"Perimeter-WebApp/{VERSION} (+https://github.com/perimeter; authorised scan)"
MAX_BODY = 262144


class Stopped(Exception):
    """The client may send nothing more: `reason` is budget, deadline or cancelled."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class RequestFailed(Exception):
    """One request got no usable answer (connection, TLS, timeout, protocol)."""


@dataclass(frozen=True)
class Origin:
    """scheme://host:port of the verified host; the only place the check sends anything."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin:
        """The origin of an http(s) URL; raises ValueError for anything else."""
        destination = Destination.from_url(url)
        return cls(destination.scheme, destination.host, destination.port)

    def owns(self, url: str) -> bool:
        """True when `url` is on this origin (same scheme, host and port)."""
        try:
            return Origin.of(url) == self
        except ValueError:
            return False

    @property
    def base(self) -> str:
        """scheme://host[:port] with the default port left out."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        default = guarded_http.DEFAULT_PORTS[self.scheme]
        return f"{self.scheme}://{host}" if self.port == default else f"{self.scheme}://{host}:{self.port}"


@dataclass(frozen=True)
class Reply:
    """One answered request: what was sent and what came back (body capped at MAX_BODY)."""

    method: str
    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes
    elapsed: float
    sent_body: str | None = None

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        return guarded_http.header_value(self.headers, name)

    def header_all(self, name: str) -> list[str]:
        """Every value of a repeated header (Set-Cookie)."""
        return guarded_http.header_values(self.headers, name)

    @property
    def text(self) -> str:
        """The body decoded leniently (UTF-8, replacement characters)."""
        return self.body.decode("utf-8", "replace")

    @property
    def is_html(self) -> bool:
        """True for an HTML answer (by Content-Type, or a body that starts like HTML when none is given)."""
        kind = (self.header("Content-Type") or "").lower()
        return "html" in kind or (not kind and self.body.lstrip()[:15].lower().startswith((b"<!doctype", b"<html")))


@dataclass
class Limits:
    """Politeness and budgets: requests per second, total requests, and a monotonic end time."""

    rate: float
    max_requests: int
    ends_at: float  # time.monotonic() value


@dataclass
class WebClient:
    """Sends requests to `origin` only, within `limits`, stopping on `cancelled`."""

    origin: Origin
    ctx: ScanContext
    limits: Limits
    cancelled: threading.Event
    sent: int = 0
    offsite_redirects: list[dict[str, str]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _next_slot: float = 0.0

    def check_running(self) -> None:
        """Raise Stopped when cancelled, past the time budget or out of requests."""
        if self.cancelled.is_set():
            raise Stopped("cancelled")
        if time.monotonic() >= self.limits.ends_at:
            raise Stopped("deadline")
        if self.sent >= self.limits.max_requests:
            raise Stopped("budget")

    def remaining_time(self) -> float:
        """Seconds left in the time budget (0 when past it)."""
        return max(self.limits.ends_at - time.monotonic(), 0.0)

    def _take_slot(self) -> None:
        """Wait for the next rate slot and count the request; raises Stopped."""
        with self._lock:
            self.check_running()
            now = time.monotonic()
            slot = max(now, self._next_slot)
            self._next_slot = slot + 1.0 / self.limits.rate
            self.sent += 1
        wait = slot - time.monotonic()
        if wait > 0 and self.cancelled.wait(min(wait, self.remaining_time())):
            raise Stopped("cancelled")
        if time.monotonic() >= self.limits.ends_at:
            raise Stopped("deadline")

    def get(self, url: str, params: Sequence[tuple[str, str]] = ()) -> Reply:
        """GET `url` (with `params` added to its query); raises Stopped, RequestFailed, ValueError (off origin)."""
        if params:
            parts = urllib.parse.urlsplit(url)
            query = urllib.parse.urlencode(list(params))
            url = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))
        return self.request("GET", url)

    def post(self, url: str, params: Sequence[tuple[str, str]]) -> Reply:
        """POST `params` form-encoded to `url`; raises Stopped, RequestFailed, ValueError (off origin)."""
        return self.request("POST", url, urllib.parse.urlencode(list(params)))

    def request(self, method: str, url: str, form: str | None = None, *,
                headers: Mapping[str, str] | None = None) -> Reply:
        """One exchange with the origin; a redirect is returned, never followed.

        Raises ValueError when `url` is not on the origin (nothing is sent), Stopped, RequestFailed,
        GuardRefused / CheckSkipped / CheckFailed when the guard or DNS refuses the host.
        """
        url = urllib.parse.urldefrag(url)[0]
        if not self.origin.owns(url):
            raise ValueError(f"{url} is not on {self.origin.base}")
        self._take_slot()
        destination = Destination.from_url(url)
        sent_headers = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8", **(headers or {})}
        body = form.encode() if form is not None else None
        if body is not None and not any(k.lower() == "content-type" for k in sent_headers):
            sent_headers["Content-Type"] = "application/x-www-form-urlencoded"

        def rule(answers: tuple[IPAddress, ...]) -> Sequence[IPAddress]:
            return select_addresses(destination.host, answers, self.ctx, destination.port)

        timeout = max(min(self.ctx.http_timeout, self.remaining_time()), 0.05)
        try:
            response = guarded_http.send(
                destination, resolver=DnsResolver(self.ctx.resolver),
                guard=Guard(self.ctx.allowed_networks, self.ctx.self_endpoints), rule=rule, timeout=timeout,
                max_body=MAX_BODY, user_agent=USER_AGENT, method=method, headers=sent_headers, body=body)
        except (DomainNotFound, ResolverUnavailable) as exc:
            raise resolution_failure(destination.host, exc) from None
        except AddressRefused as exc:
            raise GuardRefused(f"target guard: {exc}") from None
        except HttpFailure as exc:
            raise RequestFailed(f"{method} {url}: {exc}") from None
        reply = Reply(method, url, response.status, response.headers, response.body, response.elapsed, form)
        location = reply.header("Location")
        if location and 300 <= reply.status < 400:
            target = urllib.parse.urljoin(url, location)
            if not self.origin.owns(target) and len(self.offsite_redirects) < 50:
                self.offsite_redirects.append({"from": url, "location": target[:300]})
        return reply
