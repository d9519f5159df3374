"""HTTP(S) facts of an identified port: one guarded GET of a path, its title, generator, headers,
favicon MD5 and leaf certificate, and the software the web rules name from them.

Every request goes through `chalicelib.net.http.send` to the service's own address only (a host
name, when known, is resolved and must include that address; it is sent as SNI and Host), with
certificate checks off: appliances serve self-signed certificates and must still be named.
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
from collections.abc import Sequence

from cryptography import x509

from chalicelib.core.addresses import IPAddress
from chalicelib.net import http as guarded_http
from chalicelib.net.dns import DnsResolver
from chalicelib.net.guard import parse_ip
from chalicelib.net.http import AddressRefused, Destination, Guard, HttpFailure, HttpResponse
from chalicelib.net.ports import DomainNotFound, ResolverUnavailable
from chalicelib.scanners.base import ScanContext, address_allowed
from chalicelib.scanners.identify.fingerprints import web_rules
from chalicelib.scanners.identify.model import HttpFacts, Service, Software
from chalicelib.scanners.identify.probes import Identity

USER_AGENT = "Perimeter-Scanner/0.1 (+posture check)"
MAX_BODY = 65536
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_META = re.compile(r"<meta\s[^>]*>", re.IGNORECASE)
_ATTR = re.compile(r"""(name|content)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
HTTPS_NAMES = frozenset({"https", "ssl/http", "https-alt", "ssl/https"})


def is_http(service: Service) -> bool:
    """True for a service that speaks HTTP (plain or over TLS)."""
    name = service.name.removeprefix("ssl/")
    return name.startswith("http") or name in ("elasticsearch", "kibana", "webmin")


def _scheme(service: Service) -> str:
    return "https" if service.name in HTTPS_NAMES or service.extra.get("tls") == "true" else "http"


def _get(service: Service, path: str, ctx: ScanContext, timeout: float, max_body: int) -> HttpResponse | None:
    """One GET of `path` on the service's address (and host name, when known); None when refused or failed."""
    address = parse_ip(service.address)
    if address is None or not address_allowed(address, ctx, service.port):
        return None
    host = service.host or service.address

    def rule(answers: tuple[IPAddress, ...]) -> Sequence[IPAddress]:
        return [a for a in answers if a == address]  # only the address identified; the guard checks it again

    try:
        return guarded_http.send(
            Destination(_scheme(service), host, service.port, path), resolver=DnsResolver(ctx.resolver),
            guard=Guard(ctx.allowed_networks, ctx.self_endpoints), rule=rule, timeout=timeout,
            max_body=max_body, user_agent=USER_AGENT, headers={"Accept": "*/*"}, verify=False)
    except (AddressRefused, HttpFailure, DomainNotFound, ResolverUnavailable, ValueError):
        if host != service.address:  # the name no longer resolves to it: ask the address itself
            return _get(_with_host(service, None), path, ctx, timeout, max_body)
        return None


def _with_host(service: Service, host: str | None) -> Service:
    return dataclasses.replace(service, host=host)


def _certificate(der: bytes | None) -> tuple[str | None, str | None, tuple[str, ...]]:
    if not der:
        return None, None, ()
    try:
        cert = x509.load_der_x509_certificate(der)
    except ValueError:
        return None, None, ()
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names = tuple(str(n) for n in san.get_values_for_type(x509.DNSName))
    except (x509.ExtensionNotFound, ValueError):
        names = ()
    return cert.subject.rfc4514_string(), cert.issuer.rfc4514_string(), names


def title_of(body: str) -> str | None:
    """The page's <title>, unescaped, whitespace collapsed, at most 200 characters; None when absent."""
    found = _TITLE.search(body)
    if found is None:
        return None
    text = " ".join(html.unescape(found.group(1)).split())
    return text[:200] or None


def generator_of(body: str) -> str | None:
    """The content of <meta name="generator">, or None."""
    for tag in _META.findall(body):
        attrs = {k.lower(): v for k, v in _ATTR.findall(tag)}
        if attrs.get("name", "").lower() == "generator" and attrs.get("content"):
            return str(attrs["content"])[:200]
    return None


def fetch_http_facts(service: Service, path: str, ctx: ScanContext, *, favicon: bool = False,
                     timeout: float | None = None) -> HttpFacts | None:
    """GET `path` on the service's scheme, address and port (guarded, certificate not checked).

    With `favicon`, /favicon.ico is fetched too and its MD5 kept. Returns None when the guard
    refuses the address or the exchange fails; never raises for those.
    """
    wait = ctx.http_timeout if timeout is None else timeout
    response = _get(service, path, ctx, wait, MAX_BODY)
    if response is None:
        return None
    headers: dict[str, str] = {}
    for name, value in response.headers:
        key = name.lower()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    body = response.body.decode("utf-8", "replace")
    subject, issuer, names = _certificate(response.peer_certificate)
    digest = None
    if favicon:
        icon = _get(service, "/favicon.ico", ctx, wait, MAX_BODY)
        if icon is not None and icon.status == 200 and icon.body:
            digest = hashlib.md5(icon.body, usedforsecurity=False).hexdigest()
    host = service.host or service.address
    bracketed = f"[{host}]" if ":" in host else host
    return HttpFacts(url=f"{_scheme(service)}://{bracketed}:{service.port}{path}", status=response.status,
                     headers=headers, title=title_of(body), body=body, favicon_md5=digest,
                     tls=_scheme(service) == "https", cert_subject=subject, cert_issuer=issuer, cert_names=names)


def server_header(facts: HttpFacts) -> str | None:
    """The Server header, whitespace collapsed, at most 80 characters (None when absent or empty): the product
    a port is named by when no rule knows it, as nmap's version script http-server-header names it."""
    text = " ".join(facts.headers.get("server", "").split())[:80]
    return text or None


def web_software(facts: HttpFacts) -> list[Software]:
    """The software the web rules name from the headers and the generator: one per header, the first rule wins."""
    values = dict(facts.headers)
    generator = generator_of(facts.body)
    if generator:
        values["generator"] = generator
    found: dict[str, Software] = {}
    for web_rule in web_rules():
        value = values.get(web_rule.header)
        identity: Identity | None = web_rule.apply(value) if value else None
        if identity is None or not identity.product or web_rule.header in found:
            continue
        found[web_rule.header] = Software(identity.product, identity.version, identity.app_cpe,
                                           f"{web_rule.header}: {value}"[:200])
    return list(found.values())
