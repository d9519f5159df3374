"""The challenge check: the TXT record first, then the HTTPS well-known file.

DNS goes through the TxtLookup port (the resolvers of PERIMETER_DNS_SERVERS); HTTP through the one
guarded client (`chalicelib.net.http.send`): the host is resolved once by the Resolver port, every
address passes the target guard (PERIMETER_ALLOW_PRIVATE_TARGETS exempts), the connection goes to a
checked address, the certificate is verified for the name, the body is read up to 4 KB and the whole
exchange has a 5 s deadline. A redirect is followed only inside the same origin (https, same host,
same port); a redirect anywhere else fails the check without a request to it.
"""

from __future__ import annotations

import hmac
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from chalicelib.net import http as guarded_http
from chalicelib.net.http import AddressRefused, Destination, Guard, HttpFailure
from chalicelib.net.ports import DomainNotFound, Resolver, ResolverUnavailable
from chalicelib.targets.models import CHALLENGE_LABEL, TXT_PREFIX, WELL_KNOWN_PATH, VerificationMethod
from chalicelib.targets.ports import TxtLookup

MAX_BODY = 4096
TIMEOUT = 5.0
MAX_REDIRECTS = 3
MAX_VALUES = 10  # TXT values echoed back in a failure, at most
MAX_VALUE_CHARS = 255
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
USER_AGENT = "Perimeter-Verifier/0.1 (+proof of control for active scans)"


@dataclass(frozen=True)
class DnsEvidence:
    """What the TXT lookup saw: the values found (bounded) or why there was no answer."""

    name: str
    expected: str
    found: tuple[str, ...] = ()
    error: str | None = None
    passed: bool = False

    @property
    def conclusive(self) -> bool:
        """True when DNS answered (a missing record is then a fact, not an outage)."""
        return self.error is None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape a failure reports."""
        return {"name": self.name, "type": "TXT", "expected": self.expected, "found": list(self.found),
                "error": self.error, "passed": self.passed}


@dataclass(frozen=True)
class HttpEvidence:
    """What the well-known request saw: the final status, or why there was none."""

    url: str
    status: int | None = None
    error: str | None = None
    passed: bool = False
    conclusive: bool = False  # an answer came, or the name or its addresses were refused outright
    hops: tuple[str, ...] = field(default=())  # same-origin redirects followed

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape a failure reports."""
        return {"url": self.url, "status": self.status, "error": self.error, "passed": self.passed,
                "redirects_followed": list(self.hops)}


@dataclass(frozen=True)
class CheckReport:
    """The outcome of one challenge check; `http` is None when the TXT record already proved control."""

    dns: DnsEvidence
    http: HttpEvidence | None

    @property
    def method(self) -> VerificationMethod | None:
        """The method that proved control, or None."""
        if self.dns.passed:
            return VerificationMethod.DNS
        if self.http is not None and self.http.passed:
            return VerificationMethod.HTTP
        return None

    def disproves(self, method: VerificationMethod | None) -> bool:
        """True when the check definitely found no proof by `method` (an outage proves nothing)."""
        if self.method is not None:
            return False
        if method is VerificationMethod.HTTP:
            return self.http is not None and self.http.conclusive
        return self.dns.conclusive

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape a failure reports."""
        return {"dns": self.dns.as_dict(), "http": self.http.as_dict() if self.http else None}


def _clip(value: str) -> str:
    return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + "..."


def _same(text: str, expected: str) -> bool:
    return hmac.compare_digest(text.encode(), expected.encode())


class ChallengeChecker:
    """Runs the challenge check for one domain and token; never raises for what the network does."""

    def __init__(self, txt: TxtLookup, resolver: Resolver, guard: Guard, *, https_port: int = 443,
                 timeout: float = TIMEOUT, max_body: int = MAX_BODY, max_redirects: int = MAX_REDIRECTS) -> None:
        self._txt = txt
        self._resolver = resolver
        self._guard = guard
        self._port = https_port  # 443; tests point it at a loopback server's port
        self._timeout = timeout
        self._max_body = max_body
        self._max_redirects = max_redirects

    def check(self, domain: str, token: str) -> CheckReport:
        """The TXT record first; the well-known file only when the record does not prove control."""
        dns = self.check_dns(domain, token)
        return CheckReport(dns, None if dns.passed else self.check_http(domain, token))

    def check_dns(self, domain: str, token: str) -> DnsEvidence:
        """Look for `perimeter-challenge=<token>` among the TXT records of `_perimeter-challenge.<domain>`."""
        name, expected = f"{CHALLENGE_LABEL}.{domain}", f"{TXT_PREFIX}{token}"
        try:
            values = self._txt.txt(name)
        except ResolverUnavailable as exc:
            return DnsEvidence(name, expected, error=f"no DNS answer: {exc}")
        passed = any(_same(v.strip(), expected) for v in values)
        return DnsEvidence(name, expected, tuple(_clip(v) for v in values[:MAX_VALUES]), passed=passed)

    def check_http(self, domain: str, token: str) -> HttpEvidence:
        """GET https://<domain>/.well-known/perimeter-challenge; passes on 200 with the token as the body."""
        url = f"https://{domain}{WELL_KNOWN_PATH}"
        destination = Destination("https", domain, self._port, WELL_KNOWN_PATH)
        deadline = time.monotonic() + self._timeout
        hops: list[str] = []
        for _ in range(self._max_redirects + 1):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return HttpEvidence(url, error=f"no answer within {self._timeout:g} s", hops=tuple(hops))
            try:
                response = guarded_http.send(destination, resolver=self._resolver, guard=self._guard,
                                             timeout=remaining, max_body=self._max_body, user_agent=USER_AGENT)
            except DomainNotFound:
                return HttpEvidence(url, error=f"{domain} does not exist (NXDOMAIN)", conclusive=True)
            except ResolverUnavailable as exc:
                return HttpEvidence(url, error=f"{domain} could not be resolved: {exc}", hops=tuple(hops))
            except AddressRefused as exc:
                return HttpEvidence(url, error=f"{exc}: only public addresses are checked", conclusive=True,
                                    hops=tuple(hops))
            except HttpFailure as exc:
                return HttpEvidence(url, error=f"{exc.kind}: {exc}", hops=tuple(hops))
            if response.status in REDIRECT_STATUSES:
                location = response.header("Location") or ""
                following = self._same_origin(destination, location, domain)
                if following is None:
                    return HttpEvidence(url, response.status, conclusive=True, hops=tuple(hops), error=(
                        f"redirected to {_clip(location)!r}: a redirect to another host, scheme or port is never "
                        "followed; serve the file at the URL itself"))
                destination = following
                hops.append(location)
                continue
            return self._judge(url, response, token, tuple(hops))
        return HttpEvidence(url, error=f"more than {self._max_redirects} redirects", conclusive=True,
                            hops=tuple(hops))

    def _same_origin(self, current: Destination, location: str, domain: str) -> Destination | None:
        """The redirect's destination when it stays on https://<domain>:<port>, else None."""
        base = f"https://{current.host_header}{current.target}"
        try:
            following = Destination.from_url(urllib.parse.urljoin(base, location.strip()))
        except ValueError:
            return None
        if (following.scheme, following.host, following.port) != ("https", domain, self._port):
            return None
        return following

    def _judge(self, url: str, response: guarded_http.HttpResponse, token: str, hops: tuple[str, ...]) -> HttpEvidence:
        if response.status != 200:
            return HttpEvidence(url, response.status, conclusive=True, hops=hops,
                                error=f"answered {response.status}; expected 200 with the token as the body")
        if response.truncated:
            return HttpEvidence(url, 200, conclusive=True, hops=hops,
                                error=f"the body is over {self._max_body} bytes; it must be the token alone")
        if response.body_error is not None:
            return HttpEvidence(url, 200, error=response.body_error, hops=hops)
        text = response.body.decode("utf-8", "replace").strip()
        if not _same(text, token):
            return HttpEvidence(url, 200, conclusive=True, hops=hops,
                                error="the body is not this target's token (check for a stale or another "
                                      "organization's token)")
        return HttpEvidence(url, 200, passed=True, conclusive=True, hops=hops)

