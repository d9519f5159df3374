"""A whole image scan from an OCI archive: findings per code, options, redaction, and the SBOM's structure."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import dns.resolver
import jsonschema
import pytest

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.container.check import ContainerSetup, run, scan_image
from chalicelib.scanners.container.findings import CODES
from chalicelib.scanners.container.options import ContainerOptions
from chalicelib.scanners.intel.osv import OsvData
from chalicelib.scans.models import SignalStatus
from chalicelib.scans.scoring import load_table
from tests.support.oci import FAKE_PRIVATE_KEY, build_image, make_layer, sample_image, write_oci_archive
from tests.support.osv_fixture import osv_data, sample_records

# The CycloneDX 1.5 fields this SBOM promises (a subset of the official schema, written for these tests).
CYCLONEDX_SUBSET: dict[str, Any] = {
    "type": "object", "required": ["bomFormat", "specVersion", "serialNumber", "version", "metadata", "components"],
    "properties": {
        "bomFormat": {"const": "CycloneDX"}, "specVersion": {"const": "1.5"},
        "serialNumber": {"type": "string", "pattern": "^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-"
                                                      "[0-9a-f]{12}$"},
        "version": {"type": "integer", "minimum": 1},
        "metadata": {"type": "object", "required": ["timestamp", "component", "tools"], "properties": {
            "component": {"type": "object", "required": ["type", "name", "bom-ref", "hashes"],
                          "properties": {"type": {"const": "container"}}}}},
        "components": {"type": "array", "items": {
            "type": "object", "required": ["type", "name", "bom-ref"],
            "properties": {"type": {"enum": ["library", "application", "operating-system", "container"]},
                           "purl": {"type": "string", "pattern": "^pkg:"},
                           "properties": {"type": "array", "items": {
                               "type": "object", "required": ["name", "value"], "additionalProperties": False,
                               "properties": {"name": {"type": "string"}, "value": {"type": "string"}}}}}}},
        "vulnerabilities": {"type": "array", "items": {"type": "object", "required": ["id", "affects"]}},
    },
}


@dataclasses.dataclass(frozen=True)
class WiredContext(ScanContext):
    """The ScanContext fields the lead adds for container scans."""

    container: ContainerOptions | None = None
    osv: OsvData | None = None
    container_archive_root: Path | None = None


@pytest.fixture
def archive(tmp_path: Path) -> Path:
    return write_oci_archive(sample_image(), tmp_path / "image.tar")


def _scan(archive: Path, **options: Any) -> Any:
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False))
    setup = ContainerSetup(options=ContainerOptions(**options), osv=osv_data(sample_records()),
                           archive_root=archive.parent)
    return scan_image(f"oci-archive:{archive.name}", ctx, setup)


def test_archive_scan_finds_vulnerabilities_secrets_and_misconfiguration(archive: Path) -> None:
    result = _scan(archive)
    assert result.status == SignalStatus.COMPLETE and result.max_score == 0
    vulns = {f.evidence["osv_id"]: f for f in result.findings if f.code == "vulnerable-package"}
    # openssl twice (openssl and libssl3 share the source), zlib's epoch-aware fix, requests, lodash, babel
    assert sorted(vulns) == ["DEBIAN-TEST-0001", "DEBIAN-TEST-0002", "GHSA-test-babel", "GHSA-test-lodash",
                             "GHSA-test-requests"]
    heartbleed = [f for f in result.findings if f.cve == "CVE-2014-0160"]
    assert {f.product for f in heartbleed} == {"openssl", "libssl3"}
    assert all(f.kev is True and f.severity == "high" for f in heartbleed)
    assert vulns["GHSA-test-lodash"].evidence["fixed_version"] == "4.17.19"
    assert vulns["GHSA-test-babel"].severity == "low" and vulns["GHSA-test-babel"].evidence["fixed_version"] is None
    codes = {f.code for f in result.findings}
    assert codes == {"vulnerable-package", "secret-in-image", "secret-in-env", "image-runs-as-root",
                     "image-add-from-url"}
    assert codes <= set(CODES) <= set(load_table("2026-12").deductions["container"])
    assert result.intel_version == "osv.2026-12-01.1"


def test_secrets_are_found_and_redacted(archive: Path) -> None:
    result = _scan(archive)
    secret = [f for f in result.findings if f.code == "secret-in-image"]
    assert [f.evidence["path"] for f in secret] == ["/app/deploy/id_rsa"]  # the test tree's copy is skipped
    assert secret[0].evidence["kind"] == "private-key" and secret[0].cwe == "CWE-321"
    dumped = json.dumps([f.model_dump(mode="json") for f in result.findings]) + json.dumps(result.attachments)
    body = FAKE_PRIVATE_KEY.decode().splitlines()[1]
    assert body not in dumped and "hunter2-not-real" not in dumped
    env = next(f for f in result.findings if f.code == "secret-in-env")
    assert env.evidence["variable"] == "DB_PASSWORD" and len(env.evidence["fingerprint"]) == 16


def test_severity_floor_and_ignore_unfixed_options(archive: Path) -> None:
    high = _scan(archive, severity="high")
    assert {f.severity for f in high.findings} <= {"high", "critical"}
    assert any(f.code == "vulnerable-package" for f in high.findings)
    fixed_only = _scan(archive, ignore_unfixed=True)
    assert all(f.evidence.get("fixed_version") for f in fixed_only.findings if f.code == "vulnerable-package")
    assert not any(f.evidence.get("osv_id") == "GHSA-test-babel" for f in fixed_only.findings)
    secrets_only = _scan(archive, scanners=("secret",))
    assert {f.code for f in secrets_only.findings} == {"secret-in-image"}


def test_sbom_is_cyclonedx_1_5_with_the_image_and_each_component(archive: Path) -> None:
    result = _scan(archive)
    sbom = result.attachments["sbom"]
    jsonschema.validate(sbom, CYCLONEDX_SUBSET)
    assert sbom["metadata"]["component"]["version"] == sample_image().manifest_digest
    purls = {c.get("purl") for c in sbom["components"]}
    assert "pkg:pypi/requests@2.25.0" in purls and "pkg:npm/lodash@4.17.15" in purls
    lodash = next(c for c in sbom["components"] if c.get("purl") == "pkg:npm/lodash@4.17.15")
    assert {p["name"] for p in lodash["properties"]} >= {"perimeter:layer", "perimeter:path"}
    assert "attachments" not in result.model_dump()  # the SBOM never lands in the scan item


def test_without_osv_data_the_scan_says_what_was_not_matched(archive: Path) -> None:
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False))
    result = scan_image(f"oci-archive:{archive.name}", ctx, ContainerSetup(archive_root=archive.parent))
    assert not any(f.code == "vulnerable-package" for f in result.findings)
    notes = [p["value"] for p in result.attachments["sbom"]["metadata"]["properties"] if p["name"] == "perimeter:note"]
    assert any("no OSV data for" in n and "Debian:12" in n for n in notes)


def test_archive_paths_must_stay_inside_the_archive_directory(archive: Path, tmp_path: Path) -> None:
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False))
    inside = ContainerSetup(archive_root=tmp_path / "sub")
    assert scan_image("oci-archive:../image.tar", ctx, inside).status == SignalStatus.NOT_TESTED
    assert scan_image(f"oci-archive:{archive.name}", ctx, ContainerSetup()).status == SignalStatus.NOT_TESTED


def test_a_broken_archive_is_an_error_not_a_crash(tmp_path: Path) -> None:
    (tmp_path / "bad.tar").write_bytes(b"not a tar at all")
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False))
    result = scan_image("oci-archive:bad.tar", ctx, ContainerSetup(archive_root=tmp_path))
    assert result.status == SignalStatus.ERROR and "archive" in (result.error or "")


def test_run_reads_the_setup_from_the_context(tmp_path: Path) -> None:
    image = build_image([make_layer({"etc/os-release": b"ID=debian\nVERSION_ID=12\n"})],
                        {"config": {"User": "app"}})
    write_oci_archive(image, tmp_path / "plain.tar")
    ctx = WiredContext(resolver=dns.resolver.Resolver(configure=False), container_archive_root=tmp_path,
                       container=ContainerOptions(scanners=("misconfig",)), osv=OsvData())
    result = run("oci-archive:plain.tar", ctx)
    assert result.status == SignalStatus.COMPLETE and result.findings == []


def test_an_ssh_server_and_a_root_user_are_misconfigurations(tmp_path: Path) -> None:
    layer = make_layer({"usr/sbin/sshd": b"\x7fELF" + b"\x00" * 10, "etc/os-release": b"ID=debian\nVERSION_ID=12\n"})
    for user, root in (("root", True), ("0:0", True), ("1000:1000", False)):
        write_oci_archive(build_image([layer], {"config": {"User": user}}), tmp_path / "ssh.tar")
        ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False))
        result = scan_image("oci-archive:ssh.tar", ctx, ContainerSetup(archive_root=tmp_path))
        codes = {f.code for f in result.findings}
        assert "image-sshd-installed" in codes
        assert ("image-runs-as-root" in codes) is root
