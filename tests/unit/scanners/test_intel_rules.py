"""The vendored intel data: manifest digests, the product mapping, and the rules table against hand-written edges.

EDGES is written from the vendors' advisories, independently of rules.json: for each row, versions
at the first affected, last affected and first fixed release of each line (True: affected).
"""

from __future__ import annotations

import json
import re
from importlib import resources
from typing import Any

import pytest

from chalicelib.scanners.intel.build import FEED_FILES, MANIFEST, digest
from chalicelib.scanners.intel.model import Rule
from chalicelib.scanners.intel.store import packaged_intel
from chalicelib.scanners.intel.versions import parse_version

DATA = resources.files("chalicelib.scanners.intel").joinpath("data")

EDGES: dict[str, list[tuple[str, bool]]] = {
    "httpd-2021-41773": [("2.4.48", False), ("2.4.49", True), ("2.4.50", False)],
    "httpd-2021-42013": [("2.4.48", False), ("2.4.49", True), ("2.4.50", True), ("2.4.51", False)],
    "httpd-2019-0211": [("2.4.16", False), ("2.4.17", True), ("2.4.38", True), ("2.4.39", False)],
    "openssh-2024-6387": [("8.4p1", False), ("8.5p1", True), ("9.7p1", True), ("9.8p1", False)],
    "vsftpd-2011-2523": [("2.3.2", False), ("2.3.4", True), ("2.3.5", False)],
    "proftpd-2015-3306": [("1.3.4d", False), ("1.3.5", True), ("1.3.5a", False)],
    "exim-2019-10149": [("4.86.2", False), ("4.87", True), ("4.91", True), ("4.92", False)],
    "exim-2019-15846": [("4.80", True), ("4.92.1", True), ("4.92.2", False)],
    "exim-2020-28017": [("4.89", True), ("4.94", True), ("4.94.2", False)],
    "fortios-2018-13379": [("5.4.5", False), ("5.4.6", True), ("5.4.12", True), ("5.4.13", False),
                           ("5.6.2", False), ("5.6.3", True), ("5.6.7", True), ("5.6.8", False),
                           ("6.0.0", True), ("6.0.4", True), ("6.0.5", False), ("6.2.0", False)],
    "fortios-2022-42475": [("7.2.0", True), ("7.2.2", True), ("7.2.3", False), ("7.0.0", True), ("7.0.8", True),
                           ("7.0.9", False), ("6.4.0", True), ("6.4.10", True), ("6.4.11", False), ("6.2.0", True),
                           ("6.2.11", True), ("6.2.12", False), ("6.0.0", True), ("6.0.15", True), ("6.0.16", False),
                           ("7.4.0", False)],
    "fortios-2023-27997": [("7.2.4", True), ("7.2.5", False), ("7.0.11", True), ("7.0.12", False), ("6.4.12", True),
                           ("6.4.13", False), ("6.2.13", True), ("6.2.14", False), ("6.0.0", True), ("6.0.16", True),
                           ("6.0.17", False), ("7.4.0", False)],
    "fortios-2024-21762": [("7.4.0", True), ("7.4.2", True), ("7.4.3", False), ("7.2.6", True), ("7.2.7", False),
                           ("7.0.13", True), ("7.0.14", False), ("6.4.14", True), ("6.4.15", False), ("6.2.0", True),
                           ("6.2.15", True), ("6.2.16", False), ("7.6.0", False)],
    "fortios-2022-40684": [("6.4.9", False), ("7.0.0", True), ("7.0.6", True), ("7.0.7", False), ("7.2.0", True),
                           ("7.2.1", True), ("7.2.2", False)],
    "asa-2020-3452": [("9.5.1", True), ("9.6.4.41", True), ("9.6.4.42", False), ("9.7.1", True), ("9.8.4.19", True),
                      ("9.8.4.20", False), ("9.9.2.74", False), ("9.10.1.41", True), ("9.10.1.42", False),
                      ("9.12.3.12", False), ("9.13.1.10", False), ("9.14.1.9", True), ("9.14.1.10", False),
                      ("9.15.1", False)],
    "netscaler-2019-19781": [("10.5.70.11", True), ("10.5.70.12", False), ("11.1.63.15", False), ("12.0.63.13", False),
                             ("12.1.55.17", True), ("12.1.55.18", False), ("13.0-47.22", True), ("13.0-47.24", False)],
    "netscaler-2023-3519": [("13.1-49.12", True), ("13.1-49.13", False), ("13.0-91.12", True), ("13.0-91.13", False),
                            ("14.1-4.42", False)],
    "netscaler-2023-4966": [("14.1-8.49", True), ("14.1-8.50", False), ("13.1-49.14", True), ("13.1-49.15", False),
                            ("13.0-92.18", True), ("13.0-92.19", False)],
    "netscaler-2025-5777": [("14.1-43.50", True), ("14.1-43.56", False), ("13.1-58.30", True), ("13.1-58.32", False)],
    "pcs-2019-11510": [("8.1R1", True), ("8.1R15", True), ("8.1R15.1", False), ("8.2R12", True), ("8.2R12.1", False),
                       ("8.3R7", True), ("8.3R7.1", False), ("9.0R1", True), ("9.0R3.3", True), ("9.0R3.4", False),
                       ("9.1R1", False)],
    "ics-2025-0282": [("22.7R1.4", False), ("22.7R2", True), ("22.7R2.4", True), ("22.7R2.5", False)],
    "panos-2024-3400": [("10.1.14", False), ("10.2.9", True), ("10.2.9-h1", False), ("11.0.4", True),
                        ("11.0.4-h1", False), ("11.1.2-h1", True), ("11.1.2-h3", False), ("11.2.0", False)],
    "panos-2020-2021": [("8.0.20", False), ("8.1.14", True), ("8.1.15", False), ("9.0.8", True), ("9.0.9", False),
                        ("9.1.2", True), ("9.1.3", False)],
    "panos-2019-1579": [("7.1.18", True), ("7.1.19", False), ("8.0.11-h1", True), ("8.0.12", False), ("8.1.2", True),
                        ("8.1.3", False), ("9.0.0", False)],
    "sma100-2021-20038": [("10.2.0.8-37sv", True), ("10.2.0.9-41sv", False), ("10.2.1.2-24sv", True),
                          ("10.2.1.3-27sv", False), ("9.0.0.11-31sv", False)],
    "sma100-2021-20016": [("9.0.0.10-28sv", False), ("10.2.0.2-20sv", True), ("10.2.0.5-29sv", False)],
    "exchange-2021-26855": [("15.2.792.3", True), ("15.2.792.9", True), ("15.2.792.10", False), ("15.2.721.12", True),
                            ("15.2.721.13", False), ("15.1.2176.2", True), ("15.1.2176.9", False),
                            ("15.1.2106.12", True), ("15.1.2106.13", False), ("15.0.1497.11", True),
                            ("15.0.1497.12", False), ("15.2.858.5", False)],
    "tomcat-2020-1938": [("7.0.0", True), ("7.0.99", True), ("7.0.100", False), ("8.5.0", True), ("8.5.50", True),
                         ("8.5.51", False), ("9.0.0.M1", True), ("9.0.30", True), ("9.0.31", False)],
    "tomcat-2017-12617": [("7.0.81", True), ("7.0.82", False), ("8.0.0.RC1", True), ("8.0.46", True),
                          ("8.0.47", False), ("8.5.22", True), ("8.5.23", False), ("9.0.0.M1", True),
                          ("9.0.0", True), ("9.0.1", False)],
    "tomcat-2025-24813": [("9.0.0.M1", True), ("9.0.98", True), ("9.0.99", False), ("10.1.0-M1", True),
                          ("10.1.34", True), ("10.1.35", False), ("11.0.0-M1", True), ("11.0.2", True),
                          ("11.0.3", False), ("8.5.100", False)],
    "confluence-2022-26134": [("1.3.0", True), ("7.4.16", True), ("7.4.17", False), ("7.10.0", True),
                              ("7.13.6", True), ("7.13.7", False), ("7.14.2", True), ("7.14.3", False),
                              ("7.15.1", True), ("7.15.2", False), ("7.16.3", True), ("7.16.4", False),
                              ("7.17.3", True), ("7.17.4", False), ("7.18.0", True), ("7.18.1", False)],
    "confluence-2023-22515": [("7.19.15", False), ("8.0.0", True), ("8.3.2", True), ("8.3.3", False),
                              ("8.4.2", True), ("8.4.3", False), ("8.5.1", True), ("8.5.2", False)],
    "gitlab-2021-22205": [("11.8.10", False), ("11.9.0", True), ("13.8.7", True), ("13.8.8", False),
                          ("13.9.5", True), ("13.9.6", False), ("13.10.2", True), ("13.10.3", False)],
    "jenkins-2024-23897": [("2.426.2", True), ("2.426.3", False), ("2.427", True), ("2.441", True),
                           ("2.442", False)],
    "bigip-2022-1388": [("16.1.2.1", True), ("16.1.2.2", False), ("15.1.5", True), ("15.1.5.1", False),
                        ("14.1.4.5", True), ("14.1.4.6", False), ("13.1.4", True), ("13.1.5", False),
                        ("17.0.0", False)],
}


def _json(name: str) -> Any:
    return json.loads(DATA.joinpath(name).read_bytes())


def _rules() -> list[Rule]:
    return [rule for rows in packaged_intel().rules.values() for rule in rows]


def test_manifest_digests_match_the_vendored_files() -> None:
    manifest = _json(MANIFEST)
    for name in FEED_FILES:
        body = DATA.joinpath(name).read_bytes()
        assert manifest["files"][name]["sha256"] == digest(body), name
        assert manifest["files"][name]["licence"] in {"CC0-1.0", "MIT"} and manifest["files"][name]["snapshot"]
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}\.\d+", manifest["intel_version"])


def test_vendored_data_stays_small() -> None:
    total = sum(len(DATA.joinpath(n).read_bytes()) for n in (*FEED_FILES, MANIFEST, "products.json", "rules.json"))
    assert total < 1_000_000


def test_every_rules_row_has_hand_written_edges_and_every_edge_a_row() -> None:
    assert {r.id for r in _rules()} == set(EDGES)


@pytest.mark.parametrize("rule_id", sorted(EDGES))
def test_rule_ranges_match_the_advisory_edges(rule_id: str) -> None:
    rule = next(r for r in _rules() if r.id == rule_id)
    for version, affected in EDGES[rule_id]:
        assert (rule.matching_range(parse_version(version)) is not None) is affected, f"{rule_id} {version}"


def test_every_kev_and_ransomware_flag_agrees_with_the_vendored_kev() -> None:
    kev = {v["cveID"]: v for v in _json("kev.json")["vulnerabilities"]}
    for row in _json("rules.json")["rules"]:
        assert row["kev"] is (row["cve"] in kev), row["id"]
        known = row["cve"] in kev and kev[row["cve"]]["knownRansomwareCampaignUse"] == "Known"
        assert row["ransomware"] is known, row["id"]


def test_rows_outside_kev_are_listed_only_when_critical() -> None:
    assert all(r.severity == "critical" for r in _rules() if not r.kev)


def test_every_row_names_a_cve_and_an_advisory_and_a_bounded_range() -> None:
    for rule in _rules():
        assert re.fullmatch(r"CVE-\d{4}-\d{4,7}", rule.cve) and rule.advisory.startswith("https://")
        assert all(r.first_fixed is not None or r.last_affected is not None for r in rule.ranges)
        for r in rule.ranges:
            if r.first_affected is not None and r.last_affected is not None:
                assert not r.last_affected < r.first_affected, rule.id
            if r.last_affected is not None and r.first_fixed is not None:
                assert r.last_affected < r.first_fixed, rule.id


def test_product_mapping_points_at_vendored_catalogue_entries() -> None:
    products = _json("products.json")["products"]
    eol = _json("endoflife.json")["products"]
    releases = _json("release-dates.json")["products"]
    cpes = [c for p in products for c in p["cpe"]]
    assert len(cpes) == len(set(cpes)), "a CPE maps to two products"
    for entry in products:
        assert all(re.fullmatch(r"[a-z0-9_.\-]+:[a-z0-9_.\-]+", c) for c in entry["cpe"]), entry["id"]
        assert entry["eol"] is None or entry["eol"] in eol, entry["id"]
        assert entry["releases"] is None or entry["releases"] in releases, entry["id"]
        for pattern in entry["kev"]:
            assert re.compile(pattern["vendor"]).pattern and re.compile(pattern["product"]).pattern


def test_appliance_families_have_kev_entries() -> None:
    intel = packaged_intel()
    for cpe in ("fortinet:fortios", "cisco:adaptive_security_appliance_software", "citrix:netscaler_gateway",
                "ivanti:connect_secure", "paloaltonetworks:pan-os", "sonicwall:sma_100_firmware",
                "microsoft:exchange_server", "vmware:vcenter_server", "vmware:esxi"):
        product = intel.product_for(cpe)
        assert product is not None and len(product.kev_family) >= 3, cpe
