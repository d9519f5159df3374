"""`container` scans through the whole embedded stack: the API seals the registry password, the pipeline
hands it to a real scanner subprocess, which pulls the sample image from an OCI registry on loopback and
matches it against OSV data stored where the scanner task reads it (PERIMETER_INTEL_DIR/osv).

This module starts its own stack: the session stack has no PERIMETER_INTEL_DIR, and without OSV data a
container scan reports packages as "not matched" instead of vulnerable.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.oci import OciRegistry, sample_image
from tests.support.osv_fixture import sample_records, write_osv
from tests.support.stack import RunningStack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PASSWORD = "e2e-registry-pass-7c1d93f0aa"  # the authed registry's password: must never be shown or stored clear
SEVERITIES = ["critical", "high", "medium", "low", "info"]
EXPECTED_VULNS = {  # (package, OSV id) -> (installed, fixed, severity), from tests/support/osv_fixture.py
    ("openssl", "DEBIAN-TEST-0001"): ("3.0.9-1", "3.0.11-1~deb12u1", "high"),
    ("libssl3", "DEBIAN-TEST-0001"): ("3.0.9-1", "3.0.11-1~deb12u1", "high"),
    ("zlib1g", "DEBIAN-TEST-0002"): ("1:1.2.13.dfsg-1", "1:1.2.13.dfsg-2", "medium"),
    ("lodash", "GHSA-test-lodash"): ("4.17.15", "4.17.19", "high"),
    ("requests", "GHSA-test-requests"): ("2.25.0", "2.31.0", "medium"),
    ("@babel/core", "GHSA-test-babel"): ("7.22.0", None, "low"),
}
COMPONENTS = {("openssl", "3.0.9-1"), ("libssl3", "3.0.9-1"), ("zlib1g", "1:1.2.13.dfsg-1"), ("lodash", "4.17.15"),
              ("@babel/core", "7.22.0"), ("requests", "2.25.0")}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    """A stack whose scanner reads the OSV fixture from PERIMETER_INTEL_DIR, and may pull from loopback."""
    intel = Path(tmp_path_factory.mktemp("container-intel"))
    write_osv(intel, sample_records())
    running = start_stack({"PERIMETER_INTEL_DIR": str(intel), "PERIMETER_ALLOW_PRIVATE_TARGETS": "127.0.0.0/8",
                           "PERIMETER_RATE_LIMIT": "100000", "PERIMETER_LOG_LEVEL": "INFO"})
    yield running
    assert running.stop(keep_data=True) == 0, "\n".join(running.output[-40:])
    files = [p.read_bytes() for p in running.data_dir.rglob("*") if p.is_file()]
    shutil.rmtree(running.data_dir, ignore_errors=True)
    assert any(b"registry_auth_sealed" in data for data in files), "the stored scan items were not where we looked"
    assert not any(PASSWORD.encode() in data for data in files), "the registry password was stored in clear"


@pytest.fixture(scope="module")
def registries() -> Iterator[dict[str, OciRegistry]]:
    """The sample image on an open registry and on one that wants a Bearer token for PASSWORD."""
    image = sample_image()
    started = {"open": OciRegistry("team/app", image).start(),
               "authed": OciRegistry("team/app", image, auth="bearer", password=PASSWORD).start()}
    try:
        yield started
    finally:
        for registry in started.values():
            registry.stop()


def headers(stack: RunningStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}


def scan(stack: RunningStack, reference: str, container: dict[str, Any] | None = None,
         timeout: float = 60.0, **options: Any) -> dict[str, Any]:
    """Submit a container scan and poll it to a terminal status; returns the scan view."""
    body = {"target": reference, "scan_type": "container",
            "options": {**options, **({"container": container} if container else {})}}
    created = requests.post(f"{stack.base_url}/v1/scans", headers=headers(stack), json=body, timeout=30)
    assert created.status_code == 202, created.text
    assert created.json()["self_assessment_url"] is None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        view = requests.get(created.json()["status_url"], headers=headers(stack), timeout=10).json()
        if view["status"] in ("complete", "failed", "cancelled"):
            return dict(view)
        time.sleep(0.2)
    raise AssertionError(f"container scan not done in {timeout} s\n" + "\n".join(stack.output[-30:]))


def findings(stack: RunningStack, token: str, query: str = "") -> list[dict[str, Any]]:
    page = requests.get(f"{stack.base_url}/v1/scans/{token}/findings?limit=200{query}", headers=headers(stack),
                        timeout=10).json()
    assert page["next_cursor"] is None and page["total"] == len(page["items"])
    return list(page["items"])


def vulns(items: list[dict[str, Any]]) -> dict[tuple[str, str], tuple[str, str | None, str]]:
    return {(f["evidence"]["package"], f["evidence"]["osv_id"]):
            (f["evidence"]["installed_version"], f["evidence"]["fixed_version"], f["severity"])
            for f in items if f["code"] == "vulnerable-package"}


def test_an_authenticated_pull_gives_sbom_vulnerabilities_counts_and_gate(stack: RunningStack,
                                                                          registries: dict[str, OciRegistry]) -> None:
    registry = registries["authed"]
    view = scan(stack, registry.reference, {"registry_auth": {"username": registry.username, "password": PASSWORD}})
    assert view["status"] == "complete", (view.get("error"), view["signals"])
    assert view["signals"]["container"]["status"] == "complete", view["signals"]["container"]
    assert view["target"] == registry.reference and view["domain"] is None
    assert view["options"]["container"]["registry_auth"] == {"username": registry.username}
    assert view["score"] is None and view["grade"] is None  # container signals carry no points

    items = findings(stack, view["scan_token"])
    assert vulns(items) == EXPECTED_VULNS
    openssl = next(f for f in items if f["code"] == "vulnerable-package" and f["evidence"]["package"] == "openssl")
    assert openssl["cve"] == "CVE-2014-0160" and openssl["product"] == "openssl" and openssl["version"] == "3.0.9-1"
    codes = {f["code"] for f in items}
    assert {"secret-in-image", "secret-in-env", "image-runs-as-root", "image-add-from-url"} <= codes
    assert "hunter2-not-real" not in json.dumps(items)  # the image's ENV secret is a fingerprint only

    counts = {s: sum(1 for f in items if f["severity"] == s) for s in SEVERITIES}
    assert view["severity_counts"] == counts and view["findings_count"] == len(items)
    assert view["gate"] == {"passed": False, "fail_on": "high", "counts": counts, "not_checked": {}}
    assert view["signals"]["container"]["severity_counts"] == counts

    assert view["sbom_url"] == f"{stack.base_url}/v1/scans/{view['scan_token']}/sbom"
    link = requests.get(view["sbom_url"], headers={**headers(stack), "Accept": "application/json"}, timeout=10)
    assert link.status_code == 200 and link.json()["sha256"], link.text
    sbom = requests.get(view["sbom_url"], headers=headers(stack), timeout=10)
    assert sbom.status_code == 200 and sbom.history[0].status_code == 302
    document = sbom.json()
    assert document["bomFormat"] == "CycloneDX" and document["specVersion"].startswith("1.")
    assert document["metadata"]["component"]["version"] == registry.image.manifest_digest
    assert {(c["name"], c.get("version")) for c in document["components"]} >= COMPONENTS

    # Write-only: not in the scan view, the listing, the findings, the SBOM, or the logs we can read.
    listing = requests.get(f"{stack.base_url}/v1/scans?scan_type=container&limit=100", headers=headers(stack),
                           timeout=10).text
    report = requests.get(f"{stack.base_url}/v1/scans/{view['scan_token']}/report?format=json",
                          headers=headers(stack), timeout=10)
    assert report.status_code == 200
    for shown in (json.dumps(view), listing, json.dumps(items), sbom.text, report.text, "\n".join(stack.output)):
        assert PASSWORD not in shown and registry.token not in shown
    token_requests = [r for r in registry.server.requests if r.path.startswith("/token")]  # type: ignore[union-attr]
    assert token_requests, "the scanner authenticated with the opened password"


def test_the_authed_registry_without_credentials_is_an_error_not_a_clean_image(
        stack: RunningStack, registries: dict[str, OciRegistry]) -> None:
    view = scan(stack, registries["authed"].reference)
    signal = view["signals"]["container"]
    assert signal["status"] == "error" and "credentials" in (signal.get("error") or ""), signal
    assert vulns(findings(stack, view["scan_token"])) == {}
    # Nothing was tested: the empty result must not pass the CI gate, which fails and says why.
    assert view["coverage"]["error"] == ["container"] and view["coverage"]["tested"] == []
    assert view["gate"]["passed"] is False and "credentials" in view["gate"]["not_checked"]["container"], view["gate"]


def test_severity_and_ignore_unfixed_change_the_result(stack: RunningStack,
                                                       registries: dict[str, OciRegistry]) -> None:
    reference = registries["open"].reference
    high_up = scan(stack, reference, {"severity": ["critical", "high"]})
    assert high_up["status"] == "complete", high_up.get("error")
    kept = findings(stack, high_up["scan_token"])
    assert kept and {f["severity"] for f in kept} <= {"critical", "high"}
    assert vulns(kept) == {k: v for k, v in EXPECTED_VULNS.items() if v[2] == "high"}
    assert high_up["severity_counts"]["medium"] == high_up["severity_counts"]["low"] == 0
    assert high_up["gate"]["passed"] is False

    fixed_only = scan(stack, reference, {"ignore_unfixed": True}, fail_on="critical")
    assert fixed_only["status"] == "complete", fixed_only.get("error")
    assert vulns(findings(stack, fixed_only["scan_token"])) == {
        k: v for k, v in EXPECTED_VULNS.items() if v[1] is not None}
    assert fixed_only["gate"] == {"passed": True, "fail_on": "critical", "counts": fixed_only["severity_counts"],
                                  "not_checked": {}}
    assert fixed_only["severity_counts"]["critical"] == 0 and fixed_only["severity_counts"]["high"] > 0
