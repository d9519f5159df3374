"""Signal `reputation`: DNS blocklists for the domain (`domain:` zones) and its addresses (`ip:` zones).

A listing is an A answer in 127.0.0.0/8; 127.255.255.252, .254 and .255 are the lists' error answers
(typo'd zone, public resolver refused, rate limited), reported as zone errors, never as listings.
Only guard-allowed addresses are looked up: private ranges mean nothing to a public blocklist.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from chalicelib.core.addresses import IPAddress
from chalicelib.net.guard import parse_ip
from chalicelib.scanners.base import (
    Catalog,
    CheckFailed,
    CheckSkipped,
    FindingSpec,
    ScanContext,
    allowed_addresses,
    dns_query,
    safe_check,
    txt_strings,
)
from chalicelib.scans.models import Finding, Severity, SignalKey

ERROR_ANSWERS: dict[str, str] = {
    "127.255.255.252": "typing error in the DNSBL name",
    "127.255.255.254": "query via a public or unattributed resolver refused",
    "127.255.255.255": "excessive number of queries",
}
_LISTING_NET = ipaddress.ip_network("127.0.0.0/8")

CATALOG = Catalog(SignalKey.REPUTATION, {
    "domain-listed": FindingSpec(Severity.HIGH, "Domain is on a DNS blocklist",
                                 "Find out why (compromised site, spam, phishing), fix the cause, then request "
                                 "delisting from the list operator."),
    "address-listed": FindingSpec(Severity.HIGH, "An address of the domain is on a DNS blocklist",
                                  "Check the host for compromise or open relays, then request delisting."),
    "zone-error": FindingSpec(Severity.INFO, "A blocklist could not be queried",
                              "Query the list through a resolver its operator accepts (e.g. a registered DQS key)."),
})


@dataclass(frozen=True)
class Lookup:
    """One blocklist query and its outcome: listed codes, or an error answer."""

    zone: str
    query: str
    subject: str
    kind: str
    codes: tuple[str, ...] = ()
    error: str | None = None
    reason: str | None = None


def reverse_name(address: IPAddress) -> str:
    """The DNSBL label sequence for an address: reversed octets (IPv4) or nibbles (IPv6)."""
    if isinstance(address, ipaddress.IPv4Address):
        return ".".join(reversed(str(address).split(".")))
    return ".".join(reversed(address.exploded.replace(":", "")))


def classify(answers: list[str]) -> tuple[tuple[str, ...], str | None]:
    """(listing codes, error) from the A answers of a DNSBL query."""
    errors = [ERROR_ANSWERS[a] for a in answers if a in ERROR_ANSWERS]
    if errors:
        return (), f"{errors[0]} ({', '.join(a for a in answers if a in ERROR_ANSWERS)})"
    codes = tuple(sorted(a for a in answers if ipaddress.ip_address(a) in _LISTING_NET))
    return codes, None


def lookup(ctx: ScanContext, zone: str, query: str, subject: str, kind: str) -> Lookup:
    """Query one DNSBL name; a DNS failure becomes an error outcome."""
    try:
        answers = [r.address for r in dns_query(ctx.resolver, query, "A")]
    except CheckFailed as exc:
        return Lookup(zone, query, subject, kind, error=str(exc))
    codes, error = classify(answers)
    reason = None
    if codes:
        try:
            reason = " ".join(txt_strings(ctx.resolver, query))[:300] or None
        except CheckFailed:
            reason = None
    return Lookup(zone, query, subject, kind, codes=codes, error=error, reason=reason)


def plan(domain: str | None, addresses: list[IPAddress], zones: tuple[str, ...]) -> list[tuple[str, str, str, str]]:
    """(zone, query name, subject, kind) for every domain and address lookup to make."""
    queries = []
    for entry in zones:
        kind, _, zone = entry.partition(":")
        zone = zone.strip(".")
        if kind == "domain" and domain:
            queries.append((zone, f"{domain}.{zone}", domain, "domain"))
        elif kind == "ip":
            queries += [(zone, f"{reverse_name(a)}.{zone}", str(a), "ip") for a in addresses]
    return queries


def findings_for(lookups: list[Lookup]) -> list[Finding]:
    """A finding per listing and per zone error."""
    findings: list[Finding] = []
    for item in lookups:
        evidence: dict[str, Any] = {"zone": item.zone, "query": item.query, "subject": item.subject}
        if item.error:
            findings.append(CATALOG.make("zone-error", key=item.query, detail=item.error,
                                         evidence={**evidence, "error": item.error}))
        elif item.codes:
            code = "domain-listed" if item.kind == "domain" else "address-listed"
            evidence.update(answers=list(item.codes), reason=item.reason)
            findings.append(CATALOG.make(code, key=item.query, evidence=evidence,
                                         detail=f"{item.subject} is listed on {item.zone} ({', '.join(item.codes)})."))
    return findings


def _check(target: str, ctx: ScanContext) -> list[Finding]:
    if not ctx.dnsbl_zones:
        raise CheckSkipped("no DNSBL zones configured.")
    literal = parse_ip(target)
    domain = None if literal is not None else target.rstrip(".").lower()
    try:
        addresses = allowed_addresses(target, ctx)
    except CheckSkipped:
        addresses = []  # nothing public to look up; the domain zones still apply
    queries = plan(domain, addresses, ctx.dnsbl_zones)
    if not queries:
        raise CheckSkipped("no domain or public address to look up.")
    lookups = [lookup(ctx, *q) for q in queries]
    if all(item.error for item in lookups):
        raise CheckFailed("every blocklist query failed: " + "; ".join(f"{i.zone}: {i.error}" for i in lookups))
    return findings_for(lookups)


run = safe_check(SignalKey.REPUTATION)(_check)
