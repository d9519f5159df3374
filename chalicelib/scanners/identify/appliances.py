"""Remote-access and perimeter appliances, and login panels, recognised from HTTP responses.

`appliance_rules.json` (versioned) holds one rule per product: vendor, CPE, kind (`appliance` ->
`appliance-portal-exposed`, `panel` -> `login-panel-exposed`), matchers over an HttpFacts (title,
body, headers, Set-Cookie names, certificate names, favicon MD5, status) and version extractors.
`match_appliance` is pure; `appliance_findings` is the per-service check: it matches the port's root
page and, only when that names nothing, requests the known portal paths through a fetcher.
"""

from __future__ import annotations

import functools
import ipaddress
import json
import re
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.scanners.base import Catalog, FindingSpec, ScanContext, address_allowed
from chalicelib.scanners.identify.model import HttpFacts, Service
from chalicelib.scans.models import Finding, Severity, SignalKey

RULES_FILE = Path(__file__).with_name("appliance_rules.json")
CODES = {"appliance": "appliance-portal-exposed", "panel": "login-panel-exposed"}
MATCH_KEYS = frozenset({"title", "body", "headers", "cookie", "cert", "favicon", "status"})
VERSION_SOURCES = ("title", "body")
MAX_MISSES = 3  # fetches answering None in a row before the port is left alone
MARK_CHARS = 80
HTTP_NAMES = frozenset({"http", "https", "http-alt", "https-alt", "http-proxy", "http-mgmt", "ssl/http",
                        "ssl/https", "ssl/http-alt", "www", "webmin", "kibana", "jenkins"})
TLS_PORTS = frozenset({443, 2083, 2087, 4443, 8443, 9443, 10443})

Fetcher = Callable[[str], HttpFacts | None]

CATALOG = Catalog(SignalKey.SCAN, {
    "appliance-portal-exposed": FindingSpec(
        Severity.HIGH, "A VPN, firewall or remote-access gateway portal is exposed",
        "Keep the appliance on its vendor's latest fixed release, restrict its portal to known networks or "
        "put it behind an identity-aware proxy, and require MFA.", "CWE-1188"),
    "login-panel-exposed": FindingSpec(
        Severity.MEDIUM, "An administration, mail or virtualisation login panel is exposed",
        "Reach admin panels only over a VPN or from allow-listed addresses, and require MFA.", "CWE-1188"),
})


@dataclass(frozen=True)
class Matcher:
    """Conditions that must all hold on one response (unset ones are ignored)."""

    title: re.Pattern[str] | None = None
    body: re.Pattern[str] | None = None
    headers: tuple[tuple[str, re.Pattern[str]], ...] = ()
    cookie: re.Pattern[str] | None = None
    cert: re.Pattern[str] | None = None
    favicon: frozenset[str] = frozenset()
    status: frozenset[int] = frozenset()

    def markers(self, facts: HttpFacts) -> list[str] | None:
        """What matched (`where: text`), or None when any condition fails."""
        marks: list[str] = []
        texts: list[tuple[str, re.Pattern[str] | None, Sequence[str]]] = [
            ("title", self.title, [facts.title or ""]), ("body", self.body, [facts.body]),
            ("cookie", self.cookie, cookie_names(facts.headers)), ("cert", self.cert, [cert_text(facts)]),
            *((f"header {name}", pattern, [header_value(facts, name)]) for name, pattern in self.headers),
        ]
        for where, pattern, values in texts:
            if pattern is None:
                continue
            hit = next((m for v in values if v and (m := pattern.search(v))), None)
            if hit is None:
                return None
            marks.append(f"{where}: {hit.group(0)[:MARK_CHARS]}")
        if self.favicon:
            if facts.favicon_md5 not in self.favicon:
                return None
            marks.append(f"favicon: {facts.favicon_md5}")
        if self.status:
            if facts.status not in self.status:
                return None
            marks.append(f"status: {facts.status}")
        return marks


@dataclass(frozen=True)
class ApplianceRule:
    """One product: who makes it, how NVD names it, how to recognise it and read its version."""

    id: str
    product: str
    vendor: str
    cpe: str
    kind: str
    kev: tuple[str, ...]
    paths: tuple[str, ...]
    matchers: tuple[Matcher, ...]
    versions: tuple[tuple[str, re.Pattern[str]], ...]

    @property
    def code(self) -> str:
        """The finding code of this rule's kind."""
        return CODES[self.kind]


@dataclass(frozen=True)
class ApplianceRules:
    """The versioned rule table and the portal paths it requests, in order."""

    version: str
    rules: tuple[ApplianceRule, ...]
    paths: tuple[str, ...]


@dataclass(frozen=True)
class ApplianceMatch:
    """A rule that recognised a response, with what matched and the version, when the page revealed one."""

    rule: ApplianceRule
    url: str
    status: int
    markers: tuple[str, ...]
    version: str | None = None

    @property
    def cpe(self) -> str:
        """The CPE 2.2 URI, with the version when known (`cpe:/a:jenkins:jenkins:2.426.1`)."""
        return f"{self.rule.cpe}:{self.version}" if self.version else self.rule.cpe


def header_value(facts: HttpFacts, name: str) -> str:
    """A response header as the rules judge it; a Location that only echoes the requested path is ''.

    A redirector that keeps the path (`301 https://$host$request_uri`) answers a request for a portal
    path with that same path: the redirect names the path we asked for, not an appliance.
    """
    value = facts.headers.get(name, "")
    if name == "location" and value:
        requested = urllib.parse.urlsplit(facts.url)
        target = urllib.parse.urlsplit(urllib.parse.urljoin(facts.url, value))
        if target.path == requested.path and requested.path not in ("", "/"):
            return ""
    return value


def cookie_names(headers: Mapping[str, str]) -> list[str]:
    """The cookie names a (joined) Set-Cookie header sets."""
    return re.findall(r"(?:^|,)\s*([!#$%&'*+\-.^_`|~0-9A-Za-z]+)=", headers.get("set-cookie", ""))


def cert_text(facts: HttpFacts) -> str:
    """The certificate's subject, issuer and SAN names, one per line ('' without a certificate)."""
    return "\n".join(v for v in (facts.cert_subject, facts.cert_issuer, *facts.cert_names) if v)


def _compile(where: str, pattern: Any) -> re.Pattern[str]:
    if not isinstance(pattern, str) or not pattern:
        raise ValueError(f"{where}: a pattern must be a non-empty string")
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"{where}: bad pattern {pattern!r}: {exc}") from None


def _matcher(where: str, raw: Mapping[str, Any]) -> Matcher:
    unknown = set(raw) - MATCH_KEYS
    if not raw or unknown:
        raise ValueError(f"{where}: empty matcher or unknown keys {sorted(unknown)}")
    headers = tuple((name.lower(), _compile(f"{where} header {name}", p)) for name, p in raw.get("headers", {}).items())
    single = {k: _compile(f"{where} {k}", raw[k]) for k in ("title", "body", "cookie", "cert") if k in raw}
    return Matcher(headers=headers, favicon=frozenset(str(m).lower() for m in raw.get("favicon", [])),
                   status=frozenset(int(s) for s in raw.get("status", [])), **single)


def _version(where: str, raw: Mapping[str, Any]) -> tuple[str, re.Pattern[str]]:
    source = str(raw.get("from", ""))
    if source not in VERSION_SOURCES and not source.startswith("header:"):
        raise ValueError(f"{where}: version source {source!r}")
    pattern = _compile(where, raw.get("pattern"))
    if pattern.groups != 1:
        raise ValueError(f"{where}: a version pattern needs exactly one group")
    return source, pattern


def _rule(raw: Mapping[str, Any]) -> ApplianceRule:
    rid = str(raw.get("id", "?"))
    if raw.get("kind") not in CODES or not raw.get("match"):
        raise ValueError(f"rule {rid}: kind must be one of {sorted(CODES)} and match non-empty")
    if not re.fullmatch(r"cpe:/[aoh]:[a-z0-9_.\-]+:[a-z0-9_.\-]+", str(raw.get("cpe", ""))):
        raise ValueError(f"rule {rid}: cpe must be a CPE 2.2 vendor:product URI, got {raw.get('cpe')!r}")
    paths = tuple(str(p) for p in raw.get("paths", []))
    if any(not p.startswith("/") for p in paths) or not raw.get("product") or not raw.get("vendor"):
        raise ValueError(f"rule {rid}: paths must start with / and product and vendor be set")
    return ApplianceRule(
        id=rid, product=str(raw["product"]), vendor=str(raw["vendor"]), cpe=str(raw["cpe"]), kind=str(raw["kind"]),
        kev=tuple(str(k) for k in raw.get("kev", [])), paths=paths,
        matchers=tuple(_matcher(f"rule {rid} match {i}", m) for i, m in enumerate(raw["match"])),
        versions=tuple(_version(f"rule {rid} version {i}", v) for i, v in enumerate(raw.get("version", []))),
    )


def parse_rules(data: Mapping[str, Any]) -> ApplianceRules:
    """Validate and compile the rule table; raises ValueError naming the first problem."""
    rules = tuple(_rule(raw) for raw in data.get("rules", []))
    ids = [r.id for r in rules]
    if not rules or len(set(ids)) != len(ids):
        raise ValueError("rules must be non-empty with unique ids")
    paths = tuple(dict.fromkeys(p for r in rules for p in r.paths))
    if len(paths) > int(data["max_paths"]):
        raise ValueError(f"{len(paths)} portal paths, more than max_paths {data['max_paths']}")
    return ApplianceRules(version=str(data["version"]), rules=rules, paths=paths)


@functools.cache
def load_rules() -> ApplianceRules:
    """The rule table from appliance_rules.json, loaded once; raises ValueError when it is invalid."""
    return parse_rules(json.loads(RULES_FILE.read_text(encoding="utf-8")))


APPLIANCE_PATHS: tuple[str, ...] = load_rules().paths


def _extract_version(rule: ApplianceRule, facts: HttpFacts) -> str | None:
    for source, pattern in rule.versions:
        if source.startswith("header:"):
            text = facts.headers.get(source.removeprefix("header:"), "")
        else:
            text = (facts.title or "") if source == "title" else facts.body
        if text and (hit := pattern.search(text)):
            return hit.group(1)
    return None


def match_appliance(facts: HttpFacts, rules: ApplianceRules | None = None) -> ApplianceMatch | None:
    """The first rule (table order) one of whose matchers holds on `facts`, or None. Pure."""
    for rule in (rules or load_rules()).rules:
        for matcher in rule.matchers:
            marks = matcher.markers(facts)
            if marks is not None:
                return ApplianceMatch(rule, facts.url, facts.status, tuple(marks), _extract_version(rule, facts))
    return None


def speaks_http(service: Service) -> bool:
    """True when the port answered HTTP or was named as an HTTP service."""
    return service.http is not None or service.name.lower() in HTTP_NAMES


def base_url(service: Service) -> str:
    """scheme://host:port of the service (from its root page's URL when it has one)."""
    if service.http is not None:
        match = re.match(r"^(https?://[^/?#]+)", service.http.url)
        if match:
            return match.group(1)
    name = service.name.lower()
    tls = "ssl" in name or "https" in name or service.port in TLS_PORTS
    host = f"[{service.address}]" if ":" in service.address else service.address
    return f"{'https' if tls else 'http'}://{host}:{service.port}"


def _may_connect(service: Service, ctx: ScanContext) -> bool:
    try:
        address = ipaddress.ip_address(service.address)
    except ValueError:
        return False
    return address_allowed(address, ctx, service.port)


def finding_for(match: ApplianceMatch, service: Service, rules_version: str) -> Finding:
    """The scan-signal finding that names the product behind `service`."""
    rule = match.rule
    version = f" {match.version}" if match.version else ""
    evidence = {
        "url": match.url, "status": match.status, "address": service.address, "port": service.port,
        "rule": rule.id, "markers": list(match.markers), "kev_families": list(rule.kev),
        "rules_version": rules_version,
    }
    return CATALOG.make(
        rule.code, key=f"{service.address}:{service.port}:{rule.id}", evidence=evidence,
        detail=f"{rule.product}{version} answers at {match.url} ({rule.vendor}).",
        product=rule.product, version=match.version, cpe=match.cpe, kev=True if rule.kev else None,
    )


def appliance_findings(service: Service, ctx: ScanContext, fetch: Fetcher | None = None) -> list[Finding]:
    """At most one finding naming the appliance or panel behind `service`; [] when none is recognised.

    Matches `service.http` first; when that names nothing, the port speaks HTTP, `fetch` is given and
    the target guard allows the address, requests APPLIANCE_PATHS in order (absolute URLs) until one
    matches or MAX_MISSES fetches in a row answer None. Raises nothing for a service it does not handle.
    """
    rules = load_rules()
    if service.http is not None and (hit := match_appliance(service.http, rules)):
        return [finding_for(hit, service, rules.version)]
    if fetch is None or not speaks_http(service) or not _may_connect(service, ctx):
        return []
    root, misses = base_url(service), 0
    for path in rules.paths:
        facts = fetch(root + path)
        if facts is None:
            misses += 1
            if misses >= MAX_MISSES:
                break
            continue
        misses = 0
        if hit := match_appliance(facts, rules):
            return [finding_for(hit, service, rules.version)]
    return []
