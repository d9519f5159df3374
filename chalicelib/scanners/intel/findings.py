"""`intel_findings(service, ctx)`: what the intel says about one identified service's product and version.

- `known-exploited-version` (critical): the version is inside a rules.json range whose CVE is in KEV;
- `critical-vulnerable-version` (critical): inside a range of a critical row whose CVE is not in KEV;
- `kev-product-family` (medium): no range matched (or no version is known) but the product has KEV entries;
- `eol-software` (high): the version's endoflife.date cycle is past its end of life;
- `outdated-software` (medium): a supported cycle, but "far behind" (OUTDATED_*): at least 3 newer releases
  in its cycle, the first of them out for at least 180 days (release-data dates).

Services without a mapped CPE give []. Nothing here connects anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib.core.clock import utcnow
from chalicelib.scanners.base import Catalog, FindingSpec, ScanContext
from chalicelib.scanners.identify.model import Service
from chalicelib.scanners.intel.model import Cycle, Intel, Product, Range
from chalicelib.scanners.intel.store import packaged_intel
from chalicelib.scanners.intel.versions import Version, try_parse
from chalicelib.scans.models import Finding, Severity, SignalKey

OUTDATED_MIN_RELEASES_BEHIND = 3
OUTDATED_MIN_DAYS_AVAILABLE = 180
FAMILY_NEWEST = 5

CATALOG = Catalog(SignalKey.SCAN, {
    "known-exploited-version": FindingSpec(
        Severity.CRITICAL, "Version with a known-exploited vulnerability (CISA KEV)",
        "Upgrade to a fixed release now (see the advisory), then look for signs of compromise: this "
        "vulnerability is exploited in the wild.", "CWE-1395"),
    "critical-vulnerable-version": FindingSpec(
        Severity.CRITICAL, "Version with a critical vulnerability",
        "Upgrade to a fixed release (see the advisory) or apply the vendor's mitigation.", "CWE-1395"),
    "kev-product-family": FindingSpec(
        Severity.MEDIUM, "Product with known-exploited vulnerabilities exposed",
        "Keep this product on the newest fixed release, follow its vendor's advisories, and expose it "
        "only where needed (VPN, allow list).", "CWE-1395"),
    "eol-software": FindingSpec(
        Severity.HIGH, "End-of-life software exposed",
        "Upgrade to a supported release: an end-of-life release gets no security fixes.", "CWE-1104"),
    "outdated-software": FindingSpec(
        Severity.MEDIUM, "Software far behind its latest release",
        "Apply the updates of this release line; set up regular patching.", "CWE-1104"),
})


def intel_for(ctx: ScanContext) -> Intel:
    """The context's intel, or the packaged data (loaded on first use)."""
    loaded = getattr(ctx, "intel", None)
    return loaded if isinstance(loaded, Intel) else packaged_intel()


def intel_version(ctx: ScanContext | None = None) -> str:
    """The intel version a scan records (`<bundle>+rules.<rules>`), of `ctx`'s intel or the packaged one."""
    return (intel_for(ctx) if ctx is not None else packaged_intel()).full_version


def service_version(service: Service) -> Version | None:
    """The service's version, from its version field or else the CPE's version part."""
    parsed = try_parse(service.version)
    if parsed is None and service.cpe:
        parts = service.cpe.split(":")
        parsed = try_parse(parts[4]) if len(parts) > 4 else None
    return parsed


@dataclass(frozen=True)
class _Subject:
    """One service as the findings name it."""

    service: Service
    product: Product
    version: Version | None
    intel: Intel

    @property
    def name(self) -> str:
        return self.service.product or self.product.name

    def make(self, code: str, key: str, detail: str, evidence: dict[str, Any], **intel: Any) -> Finding:
        where = f"{self.service.address}:{self.service.port}"
        base = {"intel_version": self.intel.full_version, "service": where, "product_id": self.product.id}
        return CATALOG.make(code, key=f"{where}|{self.product.id}|{code}|{key}", detail=detail,
                            evidence={**base, **evidence},
                            product=self.name, version=self.version.text if self.version else None,
                            cpe=self.service.cpe, **intel)


def intel_findings(service: Service, ctx: ScanContext, today: date | None = None) -> list[Finding]:
    """Version and exposure findings for one service (see the module doc); [] for unmapped products."""
    intel = intel_for(ctx)
    product = intel.product_for(service.vendor_product)
    if product is None:
        return []
    subject = _Subject(service, product, service_version(service), intel)
    day = today or utcnow().date()
    findings = _rule_findings(subject)
    if not findings:
        findings.extend(_family_finding(subject))
    findings.extend(_age_findings(subject, day))
    return findings


def _rule_findings(subject: _Subject) -> list[Finding]:
    if subject.version is None:
        return []
    out = []
    for rule in subject.intel.rules.get(subject.product.id, ()):
        matched = rule.matching_range(subject.version)
        if matched is None:
            continue
        kev = subject.intel.kev.get(rule.cve)
        if kev is None and rule.severity != "critical":
            continue
        evidence: dict[str, Any] = {"rule": rule.id, "range": matched.as_dict(), "advisory": rule.advisory,
                                    "rules_version": subject.intel.rules_version}
        if rule.note:
            evidence["note"] = rule.note
        detail = f"{subject.name} {subject.version.text if subject.version else ''}: {rule.cve}, {rule.title}."
        if kev is not None:
            ransomware = str(kev.get("knownRansomwareCampaignUse", "")).lower() == "known"
            evidence["kev"] = {"dateAdded": kev.get("dateAdded"), "name": kev.get("vulnerabilityName"),
                               "knownRansomwareCampaignUse": kev.get("knownRansomwareCampaignUse")}
            out.append(subject.make("known-exploited-version", rule.cve, detail + _fix_text(matched), evidence,
                                    cve=rule.cve, kev=True, ransomware=ransomware))
        else:
            out.append(subject.make("critical-vulnerable-version", rule.cve, detail + _fix_text(matched), evidence,
                                    cve=rule.cve, kev=False, ransomware=False))
    return out


def _fix_text(matched: Range) -> str:
    if matched.first_fixed is None:
        return " No fixed release in this line: upgrade to a supported one."
    return f" Fixed in {matched.first_fixed.text}."


def _family_finding(subject: _Subject) -> list[Finding]:
    family = subject.product.kev_family
    if not family:
        return []
    ransomware = sum(1 for v in family if str(v.get("knownRansomwareCampaignUse", "")).lower() == "known")
    newest = [v["cveID"] for v in family[:FAMILY_NEWEST]]
    why = "no known range matched its version" if subject.version else "its version is not known"
    detail = (f"{subject.name}: {len(family)} CISA KEV entries ({ransomware} used by ransomware); {why}. "
              f"Newest added: {', '.join(newest)}.")
    evidence = {"kev_count": len(family), "ransomware_count": ransomware, "newest_cves": newest,
                "kev_catalog": subject.intel.manifest.get("files", {}).get("kev.json", {}).get("snapshot")}
    return [subject.make("kev-product-family", subject.product.id, detail, evidence, kev=True,
                         ransomware=ransomware > 0)]


def cycle_of(product: Product, version: Version) -> Cycle | None:
    """The release cycle `version` belongs to: the product's cycle ranges, else the longest cycle prefix."""
    for start, end, name in product.cycle_ranges:
        if not version < start and version < end:
            return next((c for c in product.cycles if c.name == name), None)
    candidates = [c for c in product.cycles if c.version is not None and version.in_cycle(c.version)]
    return max(candidates, key=lambda c: len(c.version.release) if c.version else 0, default=None)


def _age_findings(subject: _Subject, today: date) -> list[Finding]:
    if subject.version is None:
        return []
    cycle = cycle_of(subject.product, subject.version)
    if cycle is None:
        return []
    eol_date = cycle.eol if isinstance(cycle.eol, date) else None
    if cycle.eol is True or (eol_date is not None and eol_date <= today):
        when = eol_date.isoformat() if eol_date else "a past date"
        detail = (f"{subject.name} {subject.version.text} is in release cycle {cycle.name}, end of life since "
                  f"{when}; the cycle's last release is {cycle.latest or 'unknown'}.")
        evidence = {"cycle": cycle.name, "eol": eol_date.isoformat() if eol_date else True, "latest": cycle.latest,
                    "source": "endoflife.date"}
        return [subject.make("eol-software", f"eol|{cycle.name}", detail, evidence)]
    return _outdated(subject, cycle, today)


def _outdated(subject: _Subject, cycle: Cycle, today: date) -> list[Finding]:
    """`outdated-software` when at least 3 newer releases of the cycle exist and the first is 180+ days old."""
    assert subject.version is not None and cycle.version is not None
    newer: list[tuple[str, str]] = []
    for text, released in subject.product.releases.items():
        parsed = try_parse(text)
        if parsed is not None and parsed.in_cycle(cycle.version) and subject.version < parsed:
            newer.append((released, text))
    if len(newer) < OUTDATED_MIN_RELEASES_BEHIND:
        return []
    newer.sort()
    first_date, first_text = newer[0]
    available = (today - date.fromisoformat(first_date)).days
    if available < OUTDATED_MIN_DAYS_AVAILABLE:
        return []
    latest_date, latest_text = newer[-1]
    detail = (f"{subject.name} {subject.version.text} is {len(newer)} releases behind {latest_text} in cycle "
              f"{cycle.name}; an update ({first_text}) has been available since {first_date} ({available} days).")
    evidence = {"cycle": cycle.name, "releases_behind": len(newer), "latest": latest_text, "latest_date": latest_date,
                "first_newer": first_text, "first_newer_date": first_date, "days_available": available,
                "source": "endoflife.date release-data",
                "threshold": {"releases_behind": OUTDATED_MIN_RELEASES_BEHIND,
                              "days_available": OUTDATED_MIN_DAYS_AVAILABLE}}
    return [subject.make("outdated-software", f"outdated|{cycle.name}", detail, evidence)]
