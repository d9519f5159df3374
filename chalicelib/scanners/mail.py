"""Signal `mail`: SPF, DMARC, DKIM, MX, MTA-STS and TLS-RPT, with dnspython through the scan's resolver;
SMTP and STARTTLS on each MX through `smtp.py`.

The MTA-STS policy is fetched over HTTPS from guard-allowed addresses only, without redirects.

Over 400 lines on purpose: one signal, its finding catalog and six record parsers that share it;
splitting the parsers off would scatter the catalog keys they emit.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.net.guard import parse_ip
from chalicelib.scanners.base import (
    Catalog,
    CheckFailed,
    CheckSkipped,
    FindingSpec,
    GuardRefused,
    ScanContext,
    dns_query,
    name_exists,
    safe_check,
    txt_strings,
)
from chalicelib.scanners.fetch import FetchError, fetch
from chalicelib.scanners.smtp import smtp_findings
from chalicelib.scans.models import Finding, Severity, SignalKey
from chalicelib.scans.options import DKIM_SELECTOR

SPF_LOOKUP_LIMIT = 10
DEFAULT_DKIM_SELECTORS: tuple[str, ...] = (
    "default", "selector1", "selector2", "google", "k1", "k2", "s1", "s2", "dkim", "mail", "smtp", "mx",
)
_SELECTOR = DKIM_SELECTOR  # the rule the API checks submitted selectors with
_DOMAIN_SPEC = re.compile(r"^[a-z0-9_.%{}+=-]+$", re.IGNORECASE)

CATALOG = Catalog(SignalKey.MAIL, {
    "spf-missing": FindingSpec(Severity.HIGH, "No SPF record",
                               "Publish `v=spf1 <your senders> -all` (or `v=spf1 -all` if the domain sends no mail).",
                               "CWE-290"),
    "spf-multiple": FindingSpec(Severity.HIGH, "More than one SPF record",
                                "Merge them into a single `v=spf1` record; several records are a permerror.",
                                "CWE-290"),
    "spf-syntax-error": FindingSpec(Severity.HIGH, "SPF record has a syntax error",
                                    "Fix the record; receivers treat a malformed SPF record as a permerror.",
                                    "CWE-290"),
    "spf-plus-all": FindingSpec(Severity.HIGH, "SPF allows every sender (+all)",
                                "End the record with `-all` (or `~all` while rolling out).", "CWE-290"),
    "spf-neutral-all": FindingSpec(Severity.MEDIUM, "SPF ends in ?all (no policy)",
                                   "End the record with `-all` or `~all`.", "CWE-290"),
    "spf-no-all": FindingSpec(Severity.MEDIUM, "SPF has no `all` mechanism or redirect",
                              "End the record with `-all`.", "CWE-290"),
    "spf-softfail-all": FindingSpec(Severity.LOW, "SPF ends in ~all (soft fail)",
                                    "Move to `-all` once every legitimate sender is listed."),
    "spf-too-many-lookups": FindingSpec(Severity.MEDIUM, "SPF needs more than 10 DNS lookups",
                                        "Flatten includes or drop unused ones; over 10 lookups is a permerror.",
                                        "CWE-290"),
    "spf-include-broken": FindingSpec(Severity.MEDIUM, "SPF include or redirect has no SPF record",
                                      "Remove or fix the include; a missing target is a permerror.", "CWE-290"),
    "spf-ptr": FindingSpec(Severity.LOW, "SPF uses the deprecated ptr mechanism",
                           "Replace `ptr` with `ip4`/`ip6`/`a`/`mx`."),
    "dmarc-missing": FindingSpec(Severity.HIGH, "No DMARC record",
                                 "Publish `_dmarc` TXT `v=DMARC1; p=quarantine; rua=mailto:...` and move to "
                                 "p=reject.", "CWE-290"),
    "dmarc-multiple": FindingSpec(Severity.HIGH, "More than one DMARC record",
                                  "Keep exactly one `v=DMARC1` record; receivers ignore all of them otherwise.",
                                  "CWE-290"),
    "dmarc-invalid": FindingSpec(Severity.HIGH, "DMARC record is invalid",
                                 "Start with `v=DMARC1;` and set `p=` to none, quarantine or reject.", "CWE-290"),
    "dmarc-policy-none": FindingSpec(Severity.MEDIUM, "DMARC policy is p=none (monitoring only)",
                                     "Move to p=quarantine, then p=reject, once reports are clean.", "CWE-290"),
    "dmarc-partial-pct": FindingSpec(Severity.LOW, "DMARC applies to only part of the mail (pct<100)",
                                     "Raise pct to 100."),
    "dmarc-no-rua": FindingSpec(Severity.LOW, "DMARC has no aggregate report address (rua)",
                                "Add `rua=mailto:...` to see who sends as the domain."),
    "dkim-not-found": FindingSpec(Severity.LOW, "No DKIM key found under common selectors",
                                  "Sign outgoing mail with DKIM; give the selector in the scan options if it is "
                                  "unusual."),
    "dkim-weak-key": FindingSpec(Severity.HIGH, "DKIM key shorter than 1024 bits",
                                 "Rotate to a 2048-bit RSA (or Ed25519) key.", "CWE-326"),
    "dkim-short-key": FindingSpec(Severity.LOW, "DKIM key is 1024-bit RSA",
                                  "Rotate to a 2048-bit RSA key.", "CWE-326"),
    "dkim-key-revoked": FindingSpec(Severity.INFO, "DKIM selector is published with an empty (revoked) key"),
    "no-mx": FindingSpec(Severity.INFO, "The domain has no MX record",
                         "If the domain never receives mail, publish a null MX (`0 .`)."),
    "null-mx": FindingSpec(Severity.INFO, "The domain publishes a null MX (accepts no mail)"),
    "mx-unresolvable": FindingSpec(Severity.MEDIUM, "An MX host has no address",
                                   "Point MX records at hosts with A/AAAA records."),
    "mta-sts-missing": FindingSpec(Severity.LOW, "No MTA-STS policy",
                                   "Publish `_mta-sts` TXT and a policy at https://mta-sts.<domain>/.well-known/"
                                   "mta-sts.txt.", "CWE-319"),
    "mta-sts-policy-unreachable": FindingSpec(Severity.MEDIUM, "MTA-STS is announced but the policy cannot be fetched",
                                              "Serve the policy over HTTPS with a valid certificate for "
                                              "mta-sts.<domain>.", "CWE-319"),
    "mta-sts-policy-invalid": FindingSpec(Severity.MEDIUM, "MTA-STS policy is invalid",
                                          "Fix version, mode, mx and max_age lines.", "CWE-319"),
    "mta-sts-testing": FindingSpec(Severity.LOW, "MTA-STS policy is in testing mode",
                                   "Switch to mode: enforce once TLS reports are clean."),
    "mta-sts-mode-none": FindingSpec(Severity.LOW, "MTA-STS policy mode is none",
                                     "Switch to mode: enforce."),
    "mta-sts-mx-mismatch": FindingSpec(Severity.MEDIUM, "An MX host is not covered by the MTA-STS policy",
                                       "List every MX host (or a wildcard) in the policy's mx lines."),
    "mta-sts-policy-not-checked": FindingSpec(Severity.INFO, "MTA-STS policy not fetched"),
    "tlsrpt-missing": FindingSpec(Severity.LOW, "No TLS-RPT record",
                                  "Publish `_smtp._tls` TXT `v=TLSRPTv1; rua=mailto:...`."),
    "tlsrpt-invalid": FindingSpec(Severity.LOW, "TLS-RPT record is invalid",
                                  "Use `v=TLSRPTv1; rua=mailto:...` (or https:)."),
    "mail-summary": FindingSpec(Severity.INFO, "Mail authentication records observed"),
})


# -------------------------------------------------------------------------------------------- SPF


class SpfSyntaxError(ValueError):
    """A term of an SPF record is malformed."""


@dataclass(frozen=True)
class SpfTerm:
    """One mechanism (`qualifier`, `name`, `value`) or modifier (`qualifier` empty, name, value)."""

    qualifier: str
    name: str
    value: str
    modifier: bool = False


_MECHANISMS = frozenset({"all", "include", "a", "mx", "ptr", "ip4", "ip6", "exists"})
_LOOKUP_MECHANISMS = frozenset({"include", "a", "mx", "ptr", "exists"})


def is_spf(text: str) -> bool:
    """True for a TXT string that is an SPF record (`v=spf1` followed by a space or the end)."""
    lowered = text.strip().lower()
    return lowered == "v=spf1" or lowered.startswith("v=spf1 ")


def parse_spf(record: str) -> list[SpfTerm]:
    """The terms of an SPF record; raises SpfSyntaxError."""
    if not is_spf(record):
        raise SpfSyntaxError("record does not start with v=spf1")
    terms: list[SpfTerm] = []
    for raw in record.split()[1:]:
        if "=" in raw.split(":")[0]:
            name, _, value = raw.partition("=")
            if not re.match(r"^[a-z][a-z0-9_.-]*$", name, re.IGNORECASE) or (name.lower() in ("redirect", "exp")
                                                                               and not value):
                raise SpfSyntaxError(f"bad modifier {raw!r}")
            terms.append(SpfTerm("", name.lower(), value, modifier=True))
            continue
        qualifier = raw[0] if raw[0] in "+-~?" else "+"
        body = raw[1:] if raw[0] in "+-~?" else raw
        name, sep, value = body.partition(":")
        if "/" in name and not sep:
            name, _, cidr = name.partition("/")
            value = "/" + cidr
        name = name.lower()
        if name not in _MECHANISMS:
            raise SpfSyntaxError(f"unknown mechanism {raw!r}")
        _check_mechanism(raw, name, value, bool(sep))
        terms.append(SpfTerm(qualifier, name, value))
    return terms


def _check_mechanism(raw: str, name: str, value: str, has_value: bool) -> None:
    if name == "all" and (has_value or value):
        raise SpfSyntaxError(f"`all` takes no argument: {raw!r}")
    if name in ("include", "exists") and not value:
        raise SpfSyntaxError(f"{name} needs a domain: {raw!r}")
    if name in ("ip4", "ip6"):
        try:
            network = ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise SpfSyntaxError(f"bad address in {raw!r}") from None
        if network.version != (4 if name == "ip4" else 6):
            raise SpfSyntaxError(f"address family does not match in {raw!r}")
    if name in ("include", "exists", "a", "mx", "ptr") and value and not value.startswith("/"):
        domain = value.split("/")[0]
        if not _DOMAIN_SPEC.match(domain):
            raise SpfSyntaxError(f"bad domain in {raw!r}")


def _domain_arg(term: SpfTerm) -> str | None:
    """The domain a lookup term points at, or None when it uses macros or the current domain."""
    target = term.value.split("/")[0] if term.value and not term.value.startswith("/") else ""
    return target.rstrip(".").lower() if target and "%" not in target else None


@dataclass
class SpfWalk:
    """The result of following includes and redirects: lookup count and broken targets."""

    lookups: int = 0
    broken: list[str] = field(default_factory=list)
    records: dict[str, str] = field(default_factory=dict)


def walk_spf(domain: str, terms: list[SpfTerm], fetch_record: Callable[[str], list[str]], walk: SpfWalk | None = None,
             depth: int = 0) -> SpfWalk:
    """Count DNS-querying terms recursively through include and redirect (RFC 7208 4.6.4).

    `fetch_record(domain) -> list[str]` returns the SPF records at a domain. Stops early past the limit.
    """
    walk = walk or SpfWalk()
    has_all = any(t.name == "all" and not t.modifier for t in terms)
    for term in terms:
        if walk.lookups > SPF_LOOKUP_LIMIT or depth > SPF_LOOKUP_LIMIT:
            break
        counts = (not term.modifier and term.name in _LOOKUP_MECHANISMS) or (
            term.modifier and term.name == "redirect" and not has_all)
        if not counts:
            continue
        walk.lookups += 1
        if term.name not in ("include", "redirect"):
            continue
        target = _domain_arg(term) if not term.modifier else term.value.rstrip(".").lower()
        if target is None or "%" in target or target in walk.records:
            continue
        records = [r for r in fetch_record(target) if is_spf(r)]
        if len(records) != 1:
            walk.broken.append(target)
            continue
        walk.records[target] = records[0]
        try:
            walk_spf(target, parse_spf(records[0]), fetch_record, walk, depth + 1)
        except SpfSyntaxError:
            walk.broken.append(target)
    return walk


def spf_all_qualifier(terms: list[SpfTerm], walk: SpfWalk) -> str | None:
    """The qualifier of the record's `all`, or of its redirect target's; None when there is none."""
    for term in terms:
        if term.name == "all" and not term.modifier:
            return term.qualifier
    redirect = next((t for t in terms if t.modifier and t.name == "redirect"), None)
    if redirect is not None:
        target = walk.records.get(redirect.value.rstrip(".").lower())
        if target:
            try:
                return spf_all_qualifier(parse_spf(target), walk)
            except SpfSyntaxError:
                return None
    return None


def spf_findings(domain: str, records: list[str],
                 fetch_record: Callable[[str], list[str]]) -> tuple[list[Finding], dict[str, Any]]:
    """SPF findings for the TXT records at `domain`, and the evidence gathered."""
    spf = [r for r in records if is_spf(r)]
    evidence: dict[str, Any] = {"records": spf}
    if not spf:
        return [CATALOG.make("spf-missing", evidence={"txt": records})], evidence
    if len(spf) > 1:
        return [CATALOG.make("spf-multiple", detail=f"{len(spf)} records.", evidence=evidence)], evidence
    try:
        terms = parse_spf(spf[0])
    except SpfSyntaxError as exc:
        return [CATALOG.make("spf-syntax-error", detail=str(exc), evidence=evidence)], evidence
    walk = walk_spf(domain, terms, fetch_record)
    evidence.update(lookups=walk.lookups, includes=walk.records)
    findings = []
    qualifier = spf_all_qualifier(terms, walk)
    codes = {"+": "spf-plus-all", "?": "spf-neutral-all", "~": "spf-softfail-all", None: "spf-no-all"}
    if qualifier in codes:
        findings.append(CATALOG.make(codes[qualifier], evidence=evidence, key=str(qualifier)))
    if walk.lookups > SPF_LOOKUP_LIMIT:
        findings.append(CATALOG.make("spf-too-many-lookups", evidence=evidence,
                                     detail=f"At least {walk.lookups} lookups; the limit is {SPF_LOOKUP_LIMIT}."))
    if walk.broken:
        findings.append(CATALOG.make("spf-include-broken", evidence={**evidence, "broken": walk.broken},
                                     detail=f"No single SPF record at {', '.join(walk.broken)}."))
    if any(t.name == "ptr" and not t.modifier for t in terms):
        findings.append(CATALOG.make("spf-ptr", evidence=evidence))
    return findings, evidence


# ------------------------------------------------------------------------------------------ DMARC


def parse_tags(record: str) -> dict[str, str]:
    """`k=v; k=v` tag lists (DMARC, DKIM, MTA-STS TXT, TLS-RPT) to a dict, keys lower-cased."""
    tags: dict[str, str] = {}
    for part in record.split(";"):
        key, sep, value = part.partition("=")
        if sep:
            tags.setdefault(key.strip().lower(), value.strip())
    return tags


def dmarc_findings(records: list[str]) -> tuple[list[Finding], dict[str, Any]]:
    """DMARC findings for the TXT records at `_dmarc.<domain>`."""
    dmarc = [r for r in records if r.strip().lower().replace(" ", "").startswith("v=dmarc1")]
    evidence: dict[str, Any] = {"records": dmarc}
    if not dmarc:
        return [CATALOG.make("dmarc-missing", evidence={"txt": records})], evidence
    if len(dmarc) > 1:
        return [CATALOG.make("dmarc-multiple", evidence=evidence)], evidence
    tags = parse_tags(dmarc[0])
    evidence["tags"] = tags
    policy = tags.get("p", "").lower()
    if tags.get("v") != "DMARC1" or policy not in ("none", "quarantine", "reject"):
        return [CATALOG.make("dmarc-invalid", evidence=evidence,
                             detail="v must be DMARC1 and p one of none, quarantine, reject.")], evidence
    findings = []
    if policy == "none":
        findings.append(CATALOG.make("dmarc-policy-none", evidence=evidence))
    pct = tags.get("pct", "100")
    if pct.isdigit() and int(pct) < 100:
        findings.append(CATALOG.make("dmarc-partial-pct", evidence=evidence, detail=f"pct={pct}."))
    if not tags.get("rua"):
        findings.append(CATALOG.make("dmarc-no-rua", evidence=evidence))
    return findings, evidence


# ------------------------------------------------------------------------------------------- DKIM


def dkim_key_bits(tags: dict[str, str]) -> tuple[str, int | None]:
    """(key type, bits) of a DKIM record's p= key; bits None when the key cannot be read."""
    key_type = tags.get("k", "rsa").lower()
    data = re.sub(r"\s+", "", tags.get("p", ""))
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return key_type, None
    if key_type == "ed25519":
        return key_type, 256 if len(raw) == 32 else None
    try:
        key = serialization.load_der_public_key(raw)
    except (ValueError, TypeError):
        return key_type, None
    return key_type, key.key_size if isinstance(key, rsa.RSAPublicKey) else None


def dkim_findings(found: dict[str, str], probed: list[str], failed: list[str]) -> tuple[list[Finding], dict[str, Any]]:
    """DKIM findings for {selector: record} found among the probed selectors."""
    evidence: dict[str, Any] = {"probed": probed, "found": found}
    if failed:
        evidence["lookup_errors"] = failed
    findings: list[Finding] = []
    for selector, record in sorted(found.items()):
        tags = parse_tags(record)
        item: dict[str, Any] = {"selector": selector, "record": record}
        if not tags.get("p"):
            findings.append(CATALOG.make("dkim-key-revoked", key=selector, evidence=item))
            continue
        key_type, bits = dkim_key_bits(tags)
        item.update(key_type=key_type, bits=bits)
        if key_type == "rsa" and bits is not None and bits < 1024:
            findings.append(CATALOG.make("dkim-weak-key", key=selector, evidence=item, detail=f"{bits}-bit RSA."))
        elif key_type == "rsa" and bits == 1024:
            findings.append(CATALOG.make("dkim-short-key", key=selector, evidence=item))
    if not found and len(failed) < len(probed):
        findings.append(CATALOG.make("dkim-not-found", evidence=evidence,
                                     detail=f"Probed selectors: {', '.join(probed)}."))
    return findings, evidence


# ------------------------------------------------------------------------------------- MTA-STS


def parse_sts_policy(text: str) -> dict[str, Any]:
    """Parse an MTA-STS policy body; raises ValueError when version, mode, mx or max_age is wrong."""
    policy: dict[str, Any] = {"mx": []}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if not sep:
            continue
        key, value = key.strip().lower(), value.strip()
        if key == "mx":
            policy["mx"].append(value.lower().rstrip("."))
        else:
            policy.setdefault(key, value)
    if policy.get("version") != "STSv1":
        raise ValueError("version must be STSv1")
    if policy.get("mode") not in ("enforce", "testing", "none"):
        raise ValueError("mode must be enforce, testing or none")
    if policy["mode"] != "none" and not policy["mx"]:
        raise ValueError("an enforce/testing policy needs mx lines")
    max_age = str(policy.get("max_age", ""))
    if not max_age.isdigit() or int(max_age) > 31557600:
        raise ValueError("max_age must be an integer up to 31557600")
    return policy


def mx_covered(host: str, patterns: list[str]) -> bool:
    """True when an MX host matches an MTA-STS mx pattern (`*.` covers one label)."""
    host = host.lower().rstrip(".")
    for pattern in patterns:
        if pattern == host:
            return True
        if pattern.startswith("*.") and host.partition(".")[2] == pattern[2:]:
            return True
    return False


def fetch_sts_policy(domain: str, ctx: ScanContext) -> tuple[str | None, str, str]:
    """(policy text or None, finding code when None, reason) from https://mta-sts.<domain>/.well-known/."""
    port = "" if ctx.https_port == 443 else f":{ctx.https_port}"
    url = f"https://mta-sts.{domain}{port}/.well-known/mta-sts.txt"
    try:
        result = fetch(url, ctx, max_redirects=0, max_body=65536)
    except (GuardRefused, CheckFailed) as exc:  # refused by the guard, or our resolver failed: not the domain's fault
        return None, "mta-sts-policy-not-checked", str(exc)
    except (CheckSkipped, FetchError) as exc:
        return None, "mta-sts-policy-unreachable", str(exc)
    if result.final.status != 200:
        return None, "mta-sts-policy-unreachable", f"HTTP {result.final.status} for {url}."
    return result.body.decode("utf-8", "replace"), "", url


def sts_findings(domain: str, txt: list[str], mx_hosts: list[str],
                 ctx: ScanContext) -> tuple[list[Finding], dict[str, Any]]:
    """MTA-STS findings: the `_mta-sts` record and the policy fetched from mta-sts.<domain>."""
    records = [r for r in txt if r.strip().lower().replace(" ", "").startswith("v=stsv1")]
    evidence: dict[str, Any] = {"records": records}
    if not records:
        return ([CATALOG.make("mta-sts-missing", evidence=evidence)] if mx_hosts else []), evidence
    body, code, reason = fetch_sts_policy(domain, ctx)
    if body is None:
        return [CATALOG.make(code, evidence=evidence, detail=reason)], evidence
    evidence.update(policy=body, policy_url=reason)
    try:
        policy = parse_sts_policy(body)
    except ValueError as exc:
        return [CATALOG.make("mta-sts-policy-invalid", evidence=evidence, detail=str(exc))], evidence
    findings = []
    if policy["mode"] == "testing":
        findings.append(CATALOG.make("mta-sts-testing", evidence=evidence))
    if policy["mode"] == "none":
        findings.append(CATALOG.make("mta-sts-mode-none", evidence=evidence))
    else:
        for host in mx_hosts:
            if not mx_covered(host, policy["mx"]):
                findings.append(CATALOG.make("mta-sts-mx-mismatch", key=host, evidence={**evidence, "mx": host},
                                             detail=f"{host} is not in the policy's mx lines."))
    return findings, evidence


def tlsrpt_findings(txt: list[str], receives_mail: bool) -> tuple[list[Finding], dict[str, Any]]:
    """TLS-RPT findings for the TXT records at `_smtp._tls.<domain>`."""
    records = [r for r in txt if r.strip().lower().replace(" ", "").startswith("v=tlsrptv1")]
    evidence: dict[str, Any] = {"records": records}
    if not records:
        return ([CATALOG.make("tlsrpt-missing", evidence=evidence)] if receives_mail else []), evidence
    rua = parse_tags(records[0]).get("rua", "")
    uris = [u.strip() for u in rua.split(",") if u.strip()]
    if len(records) > 1 or not uris or not all(u.startswith(("mailto:", "https:")) for u in uris):
        return [CATALOG.make("tlsrpt-invalid", evidence=evidence)], evidence
    return [], evidence


# --------------------------------------------------------------------------------------- MX/check


def mx_findings(domain: str, ctx: ScanContext) -> tuple[list[Finding], list[str], dict[str, Any]]:
    """MX findings, the MX host names (empty for none or null MX), and evidence."""
    records = dns_query(ctx.resolver, domain, "MX")
    answers = sorted((r.preference, r.exchange.to_text().rstrip(".").lower()) for r in records)
    evidence: dict[str, Any] = {"mx": [f"{p} {h or '.'}" for p, h in answers]}
    if not answers:
        return [CATALOG.make("no-mx", evidence=evidence)], [], evidence
    if len(answers) == 1 and answers[0][1] in ("", "."):
        return [CATALOG.make("null-mx", evidence=evidence)], [], evidence
    hosts = [h for _, h in answers if h]
    findings = []
    for host in hosts:
        has_address = any(dns_query(ctx.resolver, host, rdtype) for rdtype in ("A", "AAAA"))
        if not has_address:
            findings.append(CATALOG.make("mx-unresolvable", key=host, evidence={**evidence, "host": host},
                                         detail=f"{host} has no A or AAAA record."))
    return findings, hosts, evidence


def probe_dkim(domain: str, ctx: ScanContext) -> tuple[dict[str, str], list[str], list[str]]:
    """({selector: record}, probed selectors, selectors whose lookup failed), probing concurrently."""
    extra = [s.lower() for s in ctx.dkim_selectors if _SELECTOR.match(s)]
    selectors = list(dict.fromkeys([*DEFAULT_DKIM_SELECTORS, *extra]))

    def probe(selector: str) -> tuple[str, list[str] | None]:
        try:
            return selector, txt_strings(ctx.resolver, f"{selector}._domainkey.{domain}")
        except CheckFailed:
            return selector, None

    found: dict[str, str] = {}
    failed: list[str] = []
    with ThreadPoolExecutor(max_workers=8) as pool:
        for selector, records in pool.map(probe, selectors):
            if records is None:
                failed.append(selector)
                continue
            keys = [r for r in records if "p=" in r.replace(" ", "") or r.lower().startswith("v=dkim1")]
            if keys:
                found[selector] = keys[0]
    return found, selectors, failed


def _check(target: str, ctx: ScanContext) -> list[Finding]:
    domain = target.rstrip(".").lower()
    if parse_ip(domain) is not None:
        raise CheckSkipped("mail checks need a domain, not an IP address.")
    if not name_exists(ctx.resolver, domain):
        raise CheckSkipped(f"{domain} does not exist (NXDOMAIN).")

    def fetch_spf(name: str) -> list[str]:
        return txt_strings(ctx.resolver, name)

    mx, mx_hosts, mx_evidence = mx_findings(domain, ctx)
    spf, spf_evidence = spf_findings(domain, txt_strings(ctx.resolver, domain), fetch_spf)
    dmarc, dmarc_evidence = dmarc_findings(txt_strings(ctx.resolver, f"_dmarc.{domain}"))
    dkim, dkim_evidence = dkim_findings(*probe_dkim(domain, ctx))
    sts, sts_evidence = sts_findings(domain, txt_strings(ctx.resolver, f"_mta-sts.{domain}"), mx_hosts, ctx)
    rpt, rpt_evidence = tlsrpt_findings(txt_strings(ctx.resolver, f"_smtp._tls.{domain}"), bool(mx_hosts))
    smtp, smtp_evidence = smtp_findings(mx_hosts, ctx)
    summary = CATALOG.make("mail-summary", key=domain, evidence={
        "spf": spf_evidence, "dmarc": dmarc_evidence, "dkim": dkim_evidence, "mx": mx_evidence,
        "mta_sts": sts_evidence, "tls_rpt": rpt_evidence, "smtp": smtp_evidence,
    })
    return [*spf, *dmarc, *dkim, *mx, *sts, *rpt, *smtp, summary]


run = safe_check(SignalKey.MAIL)(_check)
