"""OSV matching: range events per ecosystem's version rules, severity sources, CVE ids."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.scanners.container.inventory import Component
from chalicelib.scanners.container.vulns import match_components, severity_of
from tests.support.osv_fixture import CVSS_HIGH, osv_data, record


def _component(ecosystem: str, name: str, version: str) -> Component:
    return Component(kind="x", name=name, version=version, purl=f"pkg:generic/{name}@{version}", ecosystem=ecosystem,
                     match_name=name, match_version=version, layer="sha256:0", path="p")


def _hits(ecosystem: str, name: str, version: str, *records: dict[str, Any]) -> list[tuple[str, str | None]]:
    data = osv_data(list(records))
    matches, _ = match_components([_component(ecosystem, name, version)], data.records)
    return [(m.osv_id, m.fixed) for m in matches]


@pytest.mark.parametrize(("version", "hit"), [
    ("1:1.2.13.dfsg-1", True), ("1:1.2.13.dfsg-2", False), ("1.2.13.dfsg-1", True), ("2:0.1-1", False)])
def test_debian_epochs_and_revisions_order_versions(version: str, hit: bool) -> None:
    rec = record("D-1", "Debian:12", "zlib", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-2"}])
    assert bool(_hits("Debian:12", "zlib", version, rec)) is hit


@pytest.mark.parametrize(("version", "hit"), [("3.1.4-r4", True), ("3.1.4-r5", False), ("3.1.3-r9", True),
                                              ("3.1.10-r0", False)])
def test_alpine_r_suffixes_compare_as_package_revisions(version: str, hit: bool) -> None:
    rec = record("A-1", "Alpine:v3.19", "openssl", [{"introduced": "0"}, {"fixed": "3.1.4-r5"}])
    assert bool(_hits("Alpine:v3.19", "openssl", version, rec)) is hit


@pytest.mark.parametrize(("version", "hit"), [("2.2.9", False), ("2.3.0", True), ("2.30.9", True),
                                              ("2.31.0", False), ("2.31.0rc1", True)])
def test_pypi_introduced_is_inclusive_and_fixed_exclusive(version: str, hit: bool) -> None:
    rec = record("P-1", "PyPI", "requests", [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}])
    assert bool(_hits("PyPI", "requests", version, rec)) is hit


@pytest.mark.parametrize(("version", "hit"), [("1.4.2", True), ("1.4.3", False), ("1.0.0", True)])
def test_last_affected_includes_itself_and_nothing_after(version: str, hit: bool) -> None:
    rec = record("N-1", "npm", "left-pad", [{"introduced": "1.0.0"}, {"last_affected": "1.4.2"}])
    assert bool(_hits("npm", "left-pad", version, rec)) is hit


def test_limit_caps_a_range_and_versions_lists_count_too() -> None:
    limited = record("G-1", "Go", "golang.org/x/net", [{"introduced": "0"}, {"limit": "0.9.0"}])
    assert _hits("Go", "golang.org/x/net", "0.8.1", limited) == [("G-1", None)]
    assert _hits("Go", "golang.org/x/net", "0.10.0", limited) == []
    listed = record("M-1", "Maven", "org.example:lib", [], versions=["1.2", "1.3"])
    assert _hits("Maven", "org.example:lib", "1.3", listed) == [("M-1", None)]
    assert _hits("Maven", "org.example:lib", "1.4", listed) == []


def test_several_ranges_report_the_fix_of_the_range_the_version_is_in() -> None:
    rec = record("D-2", "Debian:12", "curl", [{"introduced": "0"}, {"fixed": "7.88.1-10"}, {"introduced": "8.0-1"},
                                              {"fixed": "8.5.0-2"}])
    assert _hits("Debian:12", "curl", "8.1.0-1", rec) == [("D-2", "8.5.0-2")]
    assert _hits("Debian:12", "curl", "7.88.1-10", rec) == []
    assert _hits("Debian:12", "curl", "7.0-1", rec) == [("D-2", "7.88.1-10")]


def test_unfixed_vulnerabilities_have_no_fixed_version() -> None:
    rec = record("U-1", "npm", "@babel/core", [{"introduced": "0"}])
    assert _hits("npm", "@babel/core", "7.22.0", rec) == [("U-1", None)]


def test_other_ecosystems_and_names_do_not_match() -> None:
    rec = record("D-3", "Debian:11", "openssl", [{"introduced": "0"}, {"fixed": "9"}])
    assert _hits("Debian:12", "openssl", "1.0-1", rec) == []
    assert _hits("Debian:11", "openssl-dev", "1.0-1", rec) == []


def test_unparsable_versions_are_noted_not_matched() -> None:
    data = osv_data([record("P-2", "PyPI", "x", [{"introduced": "0"}, {"fixed": "2.0"}])])
    matches, notes = match_components([_component("PyPI", "x", "not a version")], data.records)
    assert matches == [] and "not comparable" in notes[0]


def test_severity_from_cvss_then_database_word_then_medium() -> None:
    assert severity_of({"severity": [{"type": "CVSS_V3", "score": CVSS_HIGH}]})[:2] == ("high", 8.1)
    v4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"
    assert severity_of({"severity": [{"type": "CVSS_V4", "score": v4}]})[0] == "critical"
    assert severity_of({"database_specific": {"severity": "MODERATE"}})[0] == "medium"
    assert severity_of({"severity": [{"type": "CVSS_V3", "score": "garbage"}]})[0] == "medium"
    assert severity_of({}, {"ecosystem_specific": {"severity": "LOW"}})[0] == "low"


def test_cve_comes_from_the_aliases() -> None:
    data = osv_data([record("GHSA-x", "npm", "a", [{"introduced": "0"}], aliases=["GHSA-y", "CVE-2099-1"])])
    matches, _ = match_components([_component("npm", "a", "1.0.0")], data.records)
    assert matches[0].cve == "CVE-2099-1"
