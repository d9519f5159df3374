"""Webhook URL rules (DESIGN.md section 4): checked at registration and again before every send.

http or https only; https unless every address is inside the allowed networks; no userinfo or
fragment; a port in 1..65535; the host resolves (A and AAAA) and every address passes the
project's guard (`chalicelib.net.guard.is_blocked`); no address may be, on the URL's port, one of
the system's own sockets (`is_self_endpoint`, PERIMETER_SELF_ENDPOINTS), exemptions or not. IP literals in any spelling
(2852039166, 0251.0376.0251.0376, 0xA9FEA9FE, 127.1, [::ffff:127.0.0.1]) are parsed by
`parse_ip` and judged like the address they denote.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from chalicelib.core.addresses import IPAddress, IPNetwork, SelfEndpoint
from chalicelib.core.errors import InvalidDomain, PerimeterError, ServiceUnavailable, Unprocessable
from chalicelib.core.settings import self_endpoints_from_env
from chalicelib.net.guard import is_blocked, is_exempt, is_self_endpoint, normalise_domain, parse_ip
from chalicelib.net.ports import DomainNotFound, Resolver, ResolverUnavailable

INVALID = "invalid-webhook-url"
NOT_ALLOWED = "webhook-url-not-allowed"
SELF_ENDPOINT = "webhook-url-self-endpoint"
DNS_UNAVAILABLE = "dns-unavailable"
MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}

_FORBIDDEN_CHARS = re.compile(r"[\x00-\x20\x7f\\]")
_PORT = re.compile(r"^[0-9]{1,5}$")
# Characters left as they are when percent-encoding the path and query: RFC 3986 reserved,
# unreserved and '%' (already-encoded octets stay encoded).
_SAFE = "!#$%&'()*+,/:;=?@[]~-._"


@dataclass(frozen=True, slots=True)
class ValidatedUrl:
    """A webhook URL that passed every rule, with the addresses that were checked."""

    url: str  # normalised: lower-case scheme, IDNA or canonical IP host, non-default port only
    scheme: str
    host: str  # IDNA name, or the canonical IP (no brackets) for a literal
    port: int
    target: str  # path and query, as sent in the request line
    addresses: tuple[IPAddress, ...]
    is_ip_literal: bool

    @property
    def host_header(self) -> str:
        """The Host header value: host (bracketed when IPv6), with the port when not the default."""
        return _authority(self.scheme, self.host, self.port)


def _authority(scheme: str, host: str, port: int) -> str:
    bracketed = f"[{host}]" if ":" in host else host
    return bracketed if port == DEFAULT_PORTS[scheme] else f"{bracketed}:{port}"


def _invalid(url: str, why: str) -> Unprocessable:
    return Unprocessable(f"Webhook URL {url!r} is invalid: {why}.", code=INVALID)


def _refused(url: str, why: str, **extra: Any) -> Unprocessable:
    return Unprocessable(f"Webhook URL {url!r} is not allowed: {why}.", code=NOT_ALLOWED, **extra)


def _split_netloc(url: str, netloc: str) -> tuple[str, str]:
    """Split `host[:port]` or `[v6][:port]`; raises Unprocessable."""
    if netloc.startswith("["):
        host, _, rest = netloc[1:].partition("]")
        if rest and not rest.startswith(":"):
            raise _invalid(url, "unexpected text after the bracketed address")
        return "[" + host + "]", rest[1:]
    if netloc.count(":") > 1:
        raise _invalid(url, "an IPv6 address must be in brackets")
    host, _, port = netloc.partition(":")
    return host, port


def _parse_port(url: str, scheme: str, text: str) -> int:
    if not text:
        return DEFAULT_PORTS[scheme]
    if not _PORT.match(text) or not 1 <= int(text) <= 65535:
        raise _invalid(url, f"port {text!r} is not within 1..65535")
    return int(text)


def _parse_host(url: str, raw: str) -> tuple[str, IPAddress | None]:
    """(IDNA host, None) for a name or (canonical IP, address) for a literal; raises Unprocessable."""
    if raw.startswith("["):
        inner = raw[1:-1]
        if "%" in inner:
            raise _invalid(url, "IPv6 zone identifiers are not allowed")
        try:
            address: IPAddress = ipaddress.IPv6Address(inner)
        except ValueError:
            raise _invalid(url, f"{raw} is not an IPv6 address") from None
        return str(address), address
    host = raw[:-1] if raw.endswith(".") else raw
    if not host:
        raise _invalid(url, "the host is empty")
    if "%" in host:
        raise _invalid(url, "percent-encoded host names are not allowed")
    literal = parse_ip(host)
    if literal is not None:
        return str(literal), literal
    try:
        return normalise_domain(host), None
    except InvalidDomain as exc:
        raise _invalid(url, exc.detail.rstrip(".")) from None


def _check_text(url: str) -> None:
    if len(url) > MAX_URL_LENGTH:
        raise _invalid(url[:80] + "...", f"longer than {MAX_URL_LENGTH} characters")
    if _FORBIDDEN_CHARS.search(url):
        raise _invalid(url, "it contains whitespace, a control character or a backslash")


@dataclass(frozen=True, slots=True)
class ParsedUrl:
    """A webhook URL that passed the static rules (no DNS yet)."""

    scheme: str
    host: str  # IDNA name, or the canonical IP (no brackets) for a literal
    literal: IPAddress | None
    port: int
    target: str  # path and query, percent-encoded, as sent in the request line


def parse_webhook_url(url: str, allowed: tuple[IPNetwork, ...]) -> ParsedUrl:
    """Static checks only (no DNS): scheme, userinfo, fragment, host, port; raises Unprocessable.

    Plain http to a name is refused here already when nothing is exempt (`allowed` empty).
    """
    _check_text(url)
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise _invalid(url, str(exc)) from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise _refused(url, "only http and https are supported")
    if "@" in parts.netloc:
        raise _refused(url, "credentials (user:password@) are not allowed in the URL")
    if parts.fragment or url.endswith("#"):
        raise _refused(url, "a fragment (#...) is never sent; remove it")
    raw_host, port_text = _split_netloc(url, parts.netloc)
    host, literal = _parse_host(url, raw_host)
    port = _parse_port(url, scheme, port_text)
    target = quote(parts.path or "/", safe=_SAFE) + (f"?{quote(parts.query, safe=_SAFE)}" if parts.query else "")
    if scheme == "http" and not allowed and literal is None:
        raise _refused(url, "use https; plain http is only accepted for receivers inside "
                            "PERIMETER_ALLOW_PRIVATE_TARGETS")
    return ParsedUrl(scheme, host, literal, port, target)


def resolution_refusal(url: str, host: str, exc: DomainNotFound | ResolverUnavailable) -> PerimeterError:
    """The error for a host that did not resolve: Unprocessable (NXDOMAIN) or ServiceUnavailable (DNS down)."""
    if isinstance(exc, DomainNotFound):
        return _invalid(url, f"{host} does not exist (NXDOMAIN)")
    return ServiceUnavailable(f"Could not resolve {host} to check the webhook URL: {exc}", code=DNS_UNAVAILABLE)


def judge_addresses(url: str, parsed: ParsedUrl, answers: Iterable[IPAddress], allowed: tuple[IPNetwork, ...],
                    reserved: tuple[SelfEndpoint, ...]) -> ValidatedUrl:
    """Apply the address rules to the host's answers (duplicates dropped, order kept); raises Unprocessable.

    Codes: `invalid-webhook-url` (no address), `webhook-url-self-endpoint` (one of the system's own
    sockets, exemptions or not), `webhook-url-not-allowed` (a non-public address outside `allowed`,
    or plain http to an address outside it).
    """
    addresses = tuple(dict.fromkeys(ipaddress.ip_address(str(a)) for a in answers))
    if not addresses:
        raise _invalid(url, f"{parsed.host} has no A or AAAA record")
    own = [str(a) for a in addresses if is_self_endpoint(a, parsed.port, reserved)]
    if own:
        raise Unprocessable(f"Webhook URL {url!r} is not allowed: port {parsed.port} on {', '.join(own)} is one "
                            "of Perimeter's own endpoints.", code=SELF_ENDPOINT, addresses=own)
    bad = [str(a) for a in addresses if is_blocked(a, allowed)]
    if bad:
        where = (f"{parsed.host} is a non-public address" if parsed.literal is not None
                 else f"{parsed.host} resolves to non-public address(es) {', '.join(bad)}")
        raise _refused(url, f"{where}; webhook receivers must be on public addresses", addresses=bad)
    if parsed.scheme == "http" and not all(is_exempt(a, allowed) for a in addresses):
        raise _refused(url, "use https; plain http is only accepted for receivers inside "
                            "PERIMETER_ALLOW_PRIVATE_TARGETS")
    normalised = f"{parsed.scheme}://{_authority(parsed.scheme, parsed.host, parsed.port)}{parsed.target}"
    return ValidatedUrl(normalised, parsed.scheme, parsed.host, parsed.port, parsed.target, addresses,
                        parsed.literal is not None)


def check_webhook_url(url: str, allowed: tuple[IPNetwork, ...], resolver: Resolver,
                      reserved: tuple[SelfEndpoint, ...] | None = None) -> ValidatedUrl:
    """Validate a webhook URL and resolve its host once; every address must pass the guard.

    `reserved` are the system's own sockets (None: this process's PERIMETER_SELF_ENDPOINTS), refused
    whatever `allowed` says. Raises Unprocessable with code `invalid-webhook-url` (malformed,
    unresolvable), `webhook-url-self-endpoint` (one of the system's own sockets) or
    `webhook-url-not-allowed` (scheme, credentials, fragment, plain http outside `allowed`, or any
    non-public address not in `allowed`), and ServiceUnavailable (`dns-unavailable`) when DNS fails.
    """
    parsed = parse_webhook_url(url, allowed)
    reserved = self_endpoints_from_env() if reserved is None else reserved
    if parsed.literal is not None:
        return judge_addresses(url, parsed, (parsed.literal,), allowed, reserved)
    try:
        answers = resolver.resolve(parsed.host)
    except (DomainNotFound, ResolverUnavailable) as exc:
        raise resolution_refusal(url, parsed.host, exc) from None
    return judge_addresses(url, parsed, answers, allowed, reserved)
