"""DNS hygiene through the scan's resolver: DNSSEC and CAA (signal `layer`), dangling CNAMEs (signal `scan`).

- DNSSEC counts as present when the zone apex answers a DNSKEY RRset AND a DS RRset exists for it (the
  parent's half of the chain of trust). A DNSKEY without DS is an unanchored island: validators treat the
  zone as unsigned, so it is reported too, with both answers as evidence. The zone apex is the closest
  name (target upwards) that owns an SOA record; without one, the last two labels.
- CAA counts as present when the target or any parent up to two labels owns a CAA RRset (RFC 8659
  climbing, stopping short of the top-level domain; CNAMEs are followed as resolution does).
- A dangling CNAME is a name the scan touches (target, www., MX hosts, mta-sts., autodiscover.) whose
  CNAME chain ends at a name that does not exist (NXDOMAIN): whoever claims that name serves as ours.
Nothing here connects to the target: every query goes to the scan's resolver.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import dns.dnssec
import dns.exception
import dns.name
import dns.resolver

from chalicelib.net.guard import parse_ip
from chalicelib.scanners.base import Catalog, CheckFailed, FindingSpec, ScanContext, dns_query
from chalicelib.scans.models import Finding, Severity, SignalKey

log = logging.getLogger(__name__)

MAX_LABELS = 10  # names climbed at most, for the zone apex and CAA
MAX_CHAIN = 8  # CNAME hops followed at most
MAX_MX_HOSTS = 5
MAX_FAILED_NAMES = 2  # after this many names whose lookup failed, the resolver is not asked further
TOUCHED_PREFIXES = ("www", "mta-sts", "autodiscover")

SCAN_CATALOG = Catalog(SignalKey.SCAN, {
    "dangling-cname": FindingSpec(
        Severity.HIGH, "A DNS alias points at a name that does not exist (subdomain takeover risk)",
        "Delete the CNAME, or re-create the resource it names (the cloud app, bucket or domain) before "
        "someone else claims it."),
})


@dataclass(frozen=True)
class HygieneIssue:
    """A layer finding before it is made: its code, a key for its id, the detail and evidence."""

    code: str
    key: str
    detail: str
    evidence: dict[str, Any] = field(default_factory=dict)


def _climb(name: str) -> list[str]:
    """`name` and its parents down to two labels (at most MAX_LABELS names)."""
    labels = name.rstrip(".").lower().split(".")
    names = [".".join(labels[i:]) for i in range(len(labels) - 1)] or [name.rstrip(".").lower()]
    return names[:MAX_LABELS]


def _owned(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list[Any]:
    """Records of `rdtype` that `name` itself owns (not reached through a CNAME); raises CheckFailed."""
    try:
        answer = resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.exception.DNSException, OSError) as exc:
        raise CheckFailed(f"DNS {rdtype} query for {name} failed: {exc}") from None
    rrset = answer.rrset
    if rrset is None or rrset.name != dns.name.from_text(name):
        return []
    return list(rrset)


def zone_apex(resolver: dns.resolver.Resolver, name: str) -> str:
    """The closest enclosing name that owns an SOA record, else the last two labels; raises CheckFailed."""
    candidates = _climb(name)
    for candidate in candidates:
        if _owned(resolver, candidate, "SOA"):
            return candidate
    return candidates[-1]


def dnssec_issue(resolver: dns.resolver.Resolver, target: str) -> HygieneIssue | None:
    """`dnssec-missing` unless the zone apex has a DNSKEY and a DS RRset; raises CheckFailed."""
    zone = zone_apex(resolver, target)
    keys = _owned(resolver, zone, "DNSKEY")
    ds = _owned(resolver, zone, "DS")
    if keys and ds:
        return None
    evidence = {
        "zone": zone,
        "dnskey": [{"flags": k.flags, "algorithm": int(k.algorithm), "key_tag": dns.dnssec.key_id(k)} for k in keys],
        "ds": [d.to_text() for d in ds],
    }
    if keys:
        detail = f"{zone} publishes DNSKEY records but its parent has no DS record: the signatures are not anchored."
    elif ds:
        detail = f"The parent of {zone} has a DS record but the zone publishes no DNSKEY: validating resolvers fail."
    else:
        detail = f"{zone} is not signed (no DNSKEY) and its parent has no DS record."
    return HygieneIssue("dnssec-missing", zone, detail, evidence)


def caa_issue(resolver: dns.resolver.Resolver, target: str) -> HygieneIssue | None:
    """`caa-missing` unless the target or a parent (RFC 8659 climbing) has CAA records; raises CheckFailed."""
    checked = _climb(target)
    for name in checked:
        if dns_query(resolver, name, "CAA"):
            return None
    return HygieneIssue("caa-missing", checked[-1],
                        "No CAA record at " + ", ".join(checked) + ": any public CA may issue certificates for it.",
                        {"names_checked": checked})


def layer_issues(target: str, ctx: ScanContext) -> list[HygieneIssue]:
    """DNSSEC and CAA issues of a domain target ([] for an IP literal); a check whose DNS query fails is
    logged and left out, never raised."""
    if parse_ip(target) is not None:
        return []
    issues: list[HygieneIssue] = []
    for check in (dnssec_issue, caa_issue):
        try:
            issue = check(ctx.resolver, target)
        except CheckFailed as exc:
            log.warning("DNS hygiene check %s on %s skipped: %s", check.__name__, target, exc)
            continue
        if issue is not None:
            issues.append(issue)
    return issues


def cname_chain(resolver: dns.resolver.Resolver, name: str) -> tuple[list[str], str]:
    """Follow `name`'s CNAMEs (at most MAX_CHAIN hops): (the chain, how it ended).

    The ending is `resolves` (the last name exists), `nxdomain`, `loop`, `too-long` or `error`.
    """
    chain = [name.rstrip(".").lower()]
    for _ in range(MAX_CHAIN + 1):
        try:
            answer = resolver.resolve(chain[-1], "CNAME", search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return chain, "nxdomain"
        except (dns.exception.DNSException, OSError):
            return chain, "error"
        if answer.rrset is None:
            return chain, "resolves"
        following = str(answer.rrset[0].target).rstrip(".").lower()
        if following in chain:
            return [*chain, following], "loop"
        if len(chain) > MAX_CHAIN:
            break
        chain.append(following)
    return chain, "too-long"


def touched_names(target: str, resolver: dns.resolver.Resolver) -> list[str]:
    """The names a scan of `target` touches: itself, www., mta-sts., autodiscover. and its MX hosts."""
    base = target.rstrip(".").lower()
    names = [base, *(f"{prefix}.{base}" for prefix in TOUCHED_PREFIXES)]
    try:
        exchanges = [str(r.exchange).rstrip(".").lower() for r in dns_query(resolver, base, "MX")]
    except CheckFailed:
        exchanges = []
    names += [e for e in exchanges if e][:MAX_MX_HOSTS]
    return list(dict.fromkeys(names))


def dangling_cname_findings(target: str, ctx: ScanContext) -> list[Finding]:
    """`dangling-cname` (signal scan, high) for each touched name whose CNAME chain ends in NXDOMAIN.

    Never raises: a name whose lookup fails is skipped, and after MAX_FAILED_NAMES such names the walk
    stops (a resolver that is down is not asked for every name). [] for an IP literal.
    """
    if parse_ip(target) is not None:
        return []
    findings: list[Finding] = []
    failures = 0
    for name in touched_names(target, ctx.resolver):
        chain, ending = cname_chain(ctx.resolver, name)
        if ending == "error":
            failures += 1
            if failures >= MAX_FAILED_NAMES:
                log.warning("dangling CNAME walk of %s stopped: %d lookups failed", target, failures)
                break
        if ending != "nxdomain" or len(chain) < 2:
            continue
        findings.append(SCAN_CATALOG.make(
            "dangling-cname", key=name,
            detail=f"{name} is an alias of {chain[-1]}, which does not exist (NXDOMAIN): whoever claims "
                   f"{chain[-1]} can serve content and receive mail or cookies as {name}.",
            evidence={"name": name, "chain": chain, "rcode": "NXDOMAIN"},
        ))
    return findings
