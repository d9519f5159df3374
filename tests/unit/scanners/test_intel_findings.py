"""intel_findings: what an identified service's product and version say about its exposure."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import dns.resolver
import pytest

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.identify.model import Service
from chalicelib.scanners.intel.build import Bundle
from chalicelib.scanners.intel.findings import intel_findings, intel_version
from chalicelib.scanners.intel.model import Intel
from chalicelib.scanners.intel.store import code_tables
from chalicelib.scans.models import Finding, Severity, SignalKey

TODAY = date(2026, 12, 7)


@pytest.fixture
def ctx() -> ScanContext:
    return ScanContext(resolver=dns.resolver.Resolver(configure=False))


def _service(cpe: str | None, version: str | None = None, product: str | None = None) -> Service:
    return Service(address="198.51.100.7", port=443, name="https", product=product, version=version, cpe=cpe)


def _by_code(findings: list[Finding]) -> dict[str, list[Finding]]:
    out: dict[str, list[Finding]] = {}
    for f in findings:
        out.setdefault(f.code, []).append(f)
    return out


def test_apache_2_4_49_is_a_known_exploited_critical_with_cve_kev_and_ransomware(ctx: ScanContext) -> None:
    found = _by_code(intel_findings(_service("cpe:/a:apache:http_server:2.4.49", "2.4.49", "Apache httpd"), ctx,
                                    today=TODAY))
    kev = {f.cve: f for f in found["known-exploited-version"]}
    assert set(kev) == {"CVE-2021-41773", "CVE-2021-42013"}
    first = kev["CVE-2021-41773"]
    assert first.severity is Severity.CRITICAL and first.signal is SignalKey.SCAN
    assert first.kev is True and first.ransomware is True
    assert (first.product, first.version, first.cpe) == ("Apache httpd", "2.4.49", "cpe:/a:apache:http_server:2.4.49")
    assert first.evidence["rule"] == "httpd-2021-41773" and first.evidence["range"]["first_fixed"] == "2.4.50"
    assert first.evidence["intel_version"] == intel_version(ctx) and "Fixed in 2.4.50" in first.detail
    assert "kev-product-family" not in found


def test_fixed_apache_gets_no_cve_finding(ctx: ScanContext) -> None:
    found = _by_code(intel_findings(_service("cpe:/a:apache:http_server:2.4.51", "2.4.51"), ctx, today=TODAY))
    assert "known-exploited-version" not in found and "critical-vulnerable-version" not in found


def test_regresshion_openssh_is_critical_vulnerable_but_not_kev(ctx: ScanContext) -> None:
    found = _by_code(intel_findings(_service("cpe:/a:openbsd:openssh:9.2p1", "9.2p1"), ctx, today=TODAY))
    (finding,) = found["critical-vulnerable-version"]
    assert finding.cve == "CVE-2024-6387" and finding.kev is False and finding.severity is Severity.CRITICAL
    assert "known-exploited-version" not in found
    assert intel_findings(_service("cpe:/a:openbsd:openssh:9.8p1", "9.8p1"), ctx, today=TODAY) == []


def test_version_is_read_from_the_cpe_when_the_field_is_empty(ctx: ScanContext) -> None:
    found = _by_code(intel_findings(_service("cpe:/o:fortinet:fortios:6.0.4"), ctx, today=TODAY))
    assert "CVE-2018-13379" in {f.cve for f in found["known-exploited-version"]}


def test_kev_family_without_a_version_names_counts_and_newest_cves(ctx: ScanContext) -> None:
    (finding,) = intel_findings(_service("cpe:/o:fortinet:fortios"), ctx, today=TODAY)
    assert finding.code == "kev-product-family" and finding.severity is Severity.MEDIUM
    assert finding.evidence["kev_count"] >= 10 and finding.evidence["ransomware_count"] >= 1
    assert len(finding.evidence["newest_cves"]) == 5 and finding.kev is True and finding.ransomware is True
    assert "version is not known" in finding.detail


def test_end_of_life_cycle_names_the_cycle_its_date_and_latest(ctx: ScanContext) -> None:
    found = _by_code(intel_findings(_service("cpe:/a:exim:exim:4.96", "4.96"), ctx, today=TODAY))
    (eol,) = found["eol-software"]
    assert eol.severity is Severity.HIGH
    assert (eol.evidence["cycle"], eol.evidence["eol"], eol.evidence["latest"]) == ("4.96", "2023-11-04", "4.96.2")
    assert "4.96" in eol.detail and "2023-11-04" in eol.detail and "4.96.2" in eol.detail
    assert "outdated-software" not in found


def test_exchange_build_maps_to_its_product_year_cycle(ctx: ScanContext) -> None:
    found = _by_code(intel_findings(_service("cpe:/a:microsoft:exchange_server:15.1.2507.6", "15.1.2507.6"), ctx,
                                    today=TODAY))
    assert found["eol-software"][0].evidence["cycle"] == "2016"


def test_unmapped_or_versionless_unknown_products_give_nothing(ctx: ScanContext) -> None:
    assert intel_findings(_service("cpe:/a:example:widget:1.0", "1.0"), ctx, today=TODAY) == []
    assert intel_findings(_service(None, "1.0"), ctx, today=TODAY) == []
    assert intel_findings(_service("cpe:/a:postfix:postfix"), ctx, today=TODAY) == []


def _small_intel(releases: dict[str, str], eol: object = False) -> Intel:
    """An Intel with one product, nginx, whose cycle 1.26 is supported (or not) and has `releases`."""
    products, rules = code_tables()
    bundle = Bundle(
        kev={"dateReleased": "2026-01-01", "vulnerabilities": []},
        endoflife={"snapshot": "2026-01-01", "products": {"nginx": {"product": "nginx", "releases": [
            {"releaseCycle": "1.26", "eol": eol, "latest": max(releases, key=lambda v: releases[v]),
             "latestReleaseDate": max(releases.values()), "releaseDate": "2024-04-23"}]}}},
        releases={"snapshot": "2026-01-01", "products": {"nginx": releases}},
    )
    manifest: dict[str, Any] = {"intel_version": "2026-01-01.1", "files": {}}
    return Intel.build(manifest, bundle, products, rules)


def test_far_behind_a_supported_cycle_is_outdated_with_age_and_count(ctx: ScanContext) -> None:
    intel = _small_intel({"1.26.0": "2024-04-23", "1.26.1": "2024-05-29", "1.26.2": "2024-08-14",
                          "1.26.3": "2025-02-05"})
    (finding,) = intel_findings(_service("cpe:/a:igor_sysoev:nginx:1.26.0", "1.26.0"),
                                dataclasses.replace(ctx, intel=intel), today=TODAY)
    assert finding.code == "outdated-software" and finding.severity is Severity.MEDIUM
    assert finding.evidence["releases_behind"] == 3 and finding.evidence["first_newer"] == "1.26.1"
    assert finding.evidence["days_available"] == (TODAY - date(2024, 5, 29)).days
    assert finding.evidence["intel_version"] == "2026-01-01.1+rules." + code_tables()[1]["version"]


def test_close_to_latest_or_recently_behind_is_not_outdated(ctx: ScanContext) -> None:
    two_behind = _small_intel({"1.26.0": "2024-04-23", "1.26.1": "2024-05-29", "1.26.2": "2024-08-14"})
    recent = _small_intel({"1.26.0": "2026-09-01", "1.26.1": "2026-10-01", "1.26.2": "2026-11-01",
                           "1.26.3": "2026-11-20"})
    for intel in (two_behind, recent):
        assert intel_findings(_service("cpe:/a:igor_sysoev:nginx:1.26.0", "1.26.0"),
                              dataclasses.replace(ctx, intel=intel), today=TODAY) == []


def test_a_cycle_past_its_eol_date_is_eol_not_outdated(ctx: ScanContext) -> None:
    intel = _small_intel({"1.26.0": "2024-04-23", "1.26.1": "2024-05-29", "1.26.2": "2024-08-14",
                          "1.26.3": "2025-02-05"}, eol="2025-04-23")
    (finding,) = intel_findings(_service("cpe:/a:igor_sysoev:nginx:1.26.0", "1.26.0"),
                                dataclasses.replace(ctx, intel=intel), today=TODAY)
    assert finding.code == "eol-software" and finding.evidence["eol"] == "2025-04-23"
    assert intel_findings(_service("cpe:/a:igor_sysoev:nginx:1.26.0", "1.26.0"), dataclasses.replace(ctx, intel=intel),
                          today=date(2025, 4, 1))[0].code == "outdated-software"


def test_a_rule_cve_absent_from_the_loaded_kev_becomes_critical_vulnerable(ctx: ScanContext) -> None:
    products, rules = code_tables()
    bundle = Bundle(kev={"dateReleased": "2026-01-01", "vulnerabilities": []},
                    endoflife={"snapshot": "2026-01-01", "products": {}},
                    releases={"snapshot": "2026-01-01", "products": {}})
    intel = Intel.build({"intel_version": "2026-01-01.1", "files": {}}, bundle, products, rules)
    found = _by_code(intel_findings(_service("cpe:/a:apache:http_server:2.4.49", "2.4.49"),
                                    dataclasses.replace(ctx, intel=intel), today=TODAY))
    assert {f.cve for f in found["critical-vulnerable-version"]} == {"CVE-2021-41773", "CVE-2021-42013"}
    assert "known-exploited-version" not in found


def test_finding_ids_are_stable_and_distinct_per_service(ctx: ScanContext) -> None:
    a = intel_findings(_service("cpe:/a:exim:exim:4.96", "4.96"), ctx, today=TODAY)
    b = intel_findings(_service("cpe:/a:exim:exim:4.96", "4.96"), ctx, today=TODAY)
    other = intel_findings(dataclasses.replace(_service("cpe:/a:exim:exim:4.96", "4.96"), port=25), ctx, today=TODAY)
    assert [f.id for f in a] == [f.id for f in b] and not {f.id for f in a} & {f.id for f in other}
