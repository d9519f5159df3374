"""Cert-IX `trivy` and `zap` scans: Perimeter's container and webapp scans in Cert-IX's shapes.

The CI gate below is written from the facts of Cert-IX's GitHub Actions example (submit a `trivy` scan
of the built image with scanners vuln/misconfig/secret, severity CRITICAL and HIGH and ignoreUnfixed;
wait for a terminal status; a failed scan fails the job; read `summary.critical` and `summary.high`
from the results; any critical blocks the deployment) and run against our answers, for a scan and for
a template launch. `zap` needs proof of control: the refusal is Cert-IX's error shape, 403.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from chalicelib.bootstrap import Services
from chalicelib.scans.models import (
    Finding,
    ScanError,
    ScanStatus,
    Severity,
    SignalKey,
    SignalResult,
    SignalStatus,
)
from chalicelib.webhooks.formats.certix import vendor_scan_type
from tests.contract import test_certix as _certix
from tests.contract.clients.certix import CertixClient, CertixRefused, chalice_transport

aws, resources, wired, keys = _certix.aws, _certix.resources, _certix.wired, _certix.keys
chalice, certix, refused, BASE = _certix.chalice, _certix.certix, _certix.refused, _certix.BASE

IMAGE = "example.com/acme/shop:3f2a91c"  # the registry host must resolve (FakeResolver knows example.com)
CI_OPTIONS = {"scanners": ["vuln", "misconfig", "secret"], "severity": ["CRITICAL", "HIGH"], "ignoreUnfixed": True}
TEMPLATE = {"priority": "high", "options": {"scanners": ["vuln", "misconfig", "secret"],
                                            "severity": ["CRITICAL", "HIGH"]}, "tags": ["ci", "container"]}


def vuln(n: int, severity: Severity, signal: SignalKey = SignalKey.CONTAINER) -> Finding:
    return Finding(id=f"v{n}", signal=signal, code="vulnerable-package", severity=severity,
                   title=f"openssl has CVE-2026-{n:04d}", cve=f"CVE-2026-{n:04d}", product="openssl",
                   version="3.0.2", evidence={"purl": "pkg:deb/debian/openssl@3.0.2", "fixed": "3.0.3"})


def finish(services: Services, scan_id: str, findings: list[Finding], signal: SignalKey,
           error: str | None = None) -> None:
    """What the pipeline does for an active scan: record its signal (no points; `error`: it could not run) and
    complete it."""
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    result = SignalResult(status=SignalStatus.ERROR if error else SignalStatus.COMPLETE, max_score=0,
                          findings=findings, severity_counts=counts, error=error)
    services.scans.transition("acme", scan_id, ScanStatus.SCORING)
    services.scans.update("acme", scan_id, lambda _: {"signals": {signal.value: result},
                                                      "findings_count": len(findings), "severity_counts": counts})
    services.scans.transition("acme", scan_id, ScanStatus.COMPLETE)


def advancing(services: Services, findings: list[Finding] | str | None) -> Callable[[float], None]:
    """A `sleep` for the client's polling: each pause moves the newest scan one step (None: the scan fails; a
    string: the scan completes but its check could not run, for that reason)."""
    def sleep(_: float) -> None:
        [scan], _cursor = services.scans.list("acme", limit=1)
        if scan.status is ScanStatus.PENDING:
            services.scans.transition("acme", scan.scan_id, ScanStatus.SCANNING)
        elif findings is None:
            services.scans.transition("acme", scan.scan_id, ScanStatus.FAILED, error=ScanError(
                code="image-unavailable", message="The image could not be pulled."))
        elif isinstance(findings, str):
            finish(services, scan.scan_id, [], SignalKey.CONTAINER, error=findings)
        else:
            finish(services, scan.scan_id, findings, SignalKey.CONTAINER)
    return sleep


def ci_gate(client: CertixClient, start: Callable[[], dict[str, Any]]) -> tuple[int, tuple[Any, ...]]:
    """What the vendor's documented CI step decides, as an exit code and why: a failed scan blocks (with its
    error), then any critical finding blocks; high findings are reported but pass."""
    scan = start()
    outcome = client.poll(scan["id"], "trivy", limit=600)
    if outcome["status"] == "failed":
        return 1, ("scan failed", outcome.get("error"))
    summary = client.results(scan["id"], "trivy").get("summary", {})
    counts = (summary.get("critical", 0), summary.get("high", 0))
    return (1 if counts[0] > 0 else 0), ("critical, high", *counts)


@pytest.fixture
def verified(wired: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every host passes the proof-of-control gate (the gate's own behaviour is tested in tests/unit/targets)."""
    monkeypatch.setattr(wired.scans, "verify_active", lambda tenant_id, host: None)


def test_a_trivy_scan_as_the_ci_example_submits_it_is_a_container_scan(certix: CertixClient,
                                                                        wired: Services) -> None:
    scan = certix.create_scan(IMAGE, "trivy", priority="high", name="CI Scan - 3f2a91c8", options=CI_OPTIONS)
    assert (scan["scanType"], scan["status"], scan["target"], scan["priority"]) == ("trivy", "queued", IMAGE, "high")
    assert scan["options"] == CI_OPTIONS and scan["score"] is None
    stored = wired.scans.get("acme", scan["id"])
    assert stored.scan_type.value == "container" and stored.options.container is not None
    assert (stored.options.container.severity, stored.options.container.ignore_unfixed) == (
        [Severity.CRITICAL, Severity.HIGH], True)
    assert stored.options.container.scanners == ("vuln", "misconfig", "secret")
    assert certix.get_scan(scan["id"], "trivy")["id"] == scan["id"]
    assert refused(certix.get_scan, scan["id"], "nmap").code == "SCAN_NOT_FOUND"
    assert [s["id"] for s in certix.list_scans(scanType="trivy")["data"]] == [scan["id"]]
    assert [s["id"] for s in certix.list_scans(scanType="container")["data"]] == [scan["id"]]
    assert certix.list_scans(scanType="nmap")["data"] == []
    by_type = certix.usage("30d")["scansByType"]
    assert by_type["trivy"] == 1 and by_type["zap"] == 0 and "container" not in by_type


@pytest.mark.parametrize(("findings", "code", "why"), [
    ([vuln(1, Severity.CRITICAL), vuln(2, Severity.HIGH), vuln(3, Severity.HIGH)], 1, ("critical, high", 1, 2)),
    ([vuln(2, Severity.HIGH)], 0, ("critical, high", 0, 1)),
    ([], 0, ("critical, high", 0, 0)),
    (None, 1, ("scan failed", "The image could not be pulled.")),
    ("registry answered 401 Unauthorized", 1,
     ("scan failed", "The image could not be scanned: registry answered 401 Unauthorized")),
])
def test_the_documented_ci_gate_blocks_on_critical_findings(wired: Services, chalice: Any,
                                                            keys: dict[str, str], findings: list[Finding] | str | None,
                                                            code: int, why: tuple[Any, ...]) -> None:
    client = CertixClient(keys["acme"], BASE, chalice_transport(chalice), sleep=advancing(wired, findings))
    exit_code, reason = ci_gate(client, lambda: client.create_scan(IMAGE, "trivy", priority="high",
                                                                   options=CI_OPTIONS))
    assert (exit_code, reason) == (code, why)


def test_the_ci_gate_on_a_scan_launched_from_the_documented_template(wired: Services, chalice: Any,
                                                                      keys: dict[str, str]) -> None:
    findings = [vuln(1, Severity.CRITICAL), vuln(2, Severity.HIGH)]
    client = CertixClient(keys["acme"], BASE, chalice_transport(chalice), sleep=advancing(wired, findings))
    template = client.create_template("Container CI Scan", "trivy", **TEMPLATE)
    assert (template["scanType"], template["options"], template["tags"]) == (
        "trivy", {**TEMPLATE["options"], "ignoreUnfixed": False}, ["ci", "container"])
    exit_code, reason = ci_gate(client, lambda: client.launch_template(template["id"], IMAGE))
    assert (exit_code, reason) == (1, ("critical, high", 1, 1))
    [scan], _ = wired.scans.list("acme", limit=1)
    assert scan.template_id == template["id"] and scan.scan_type.value == "container"
    results = client.results(scan.scan_id, "trivy")
    assert results["summary"] == {"critical": 1, "high": 1, "medium": 0, "low": 0, "info": 0, "total": 2}
    assert [(f["severity"], f["cve"]) for f in results["findings"]] == [("critical", "CVE-2026-0001"),
                                                                         ("high", "CVE-2026-0002")]
    assert (results["scanType"], results["services"], results["score"]) == ("trivy", [], None)
    relaunched = client.launch_template(template["id"], IMAGE, options={"severity": ["CRITICAL"],
                                                                        "ignoreUnfixed": True})
    assert relaunched["options"]["severity"] == ["CRITICAL"] and relaunched["options"]["ignoreUnfixed"] is True


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"options": {"ports": "1-1024"}}, "UNSUPPORTED_OPTION", "options.ports"),
    ({"options": {"rateLimit": 5}}, "UNSUPPORTED_OPTION", "options.rateLimit"),
    ({"options": {"scanners": ["vuln", "license"]}}, "UNSUPPORTED_OPTION", "options.scanners"),
    ({"options": {"severity": ["UNKNOWN"]}}, "UNSUPPORTED_OPTION", "options.severity"),
    ({"options": {"severity": ["SEVERE"]}}, "VALIDATION_ERROR", "options.severity.0"),
    ({"options": {"ignoreUnfixed": "yes please"}}, "VALIDATION_ERROR", "options.ignoreUnfixed"),
    ({"target": "nginx:latest"}, "INVALID_IMAGE_REFERENCE", None),
    ({"target": "internal.example/app:1"}, "TARGET_NOT_ALLOWED", None),
])
def test_trivy_refusals_name_the_option_in_cert_ix_words(certix: CertixClient, body: dict[str, Any],
                                                         code: str, field: str | None) -> None:
    reply = certix.raw("POST", "/scans", json_body={"target": IMAGE, "scanType": "trivy", **body})
    error = reply.json()
    assert (reply.status, error["success"], error["code"]) == (422, False, code)
    if field is not None:
        assert error.get("field") == field or error["details"][0]["field"] == field
    assert certix.list_scans()["data"] == []


def test_an_unrated_severity_is_dropped_as_perimeter_rates_those_medium(certix: CertixClient) -> None:
    scan = certix.create_scan(IMAGE, "trivy", options={"severity": ["UNKNOWN", "MEDIUM", "critical"]})
    assert scan["options"]["severity"] == ["MEDIUM", "CRITICAL"]


def test_a_zap_scan_is_a_webapp_scan_with_builtin_and_wapiti(certix: CertixClient, wired: Services,
                                                             verified: None) -> None:
    scan = certix.create_scan("https://example.com/shop", "zap", options={"rateLimit": 5, "maxPages": 50})
    assert (scan["scanType"], scan["target"], scan["status"]) == ("zap", "https://example.com/shop", "queued")
    assert scan["options"]["engines"] == ["builtin", "wapiti"]
    assert (scan["options"]["rateLimit"], scan["options"]["maxPages"]) == (5.0, 50)
    webapp = wired.scans.get("acme", scan["id"]).options.webapp
    assert webapp is not None and (webapp.engines, webapp.rate_limit, webapp.max_pages) == (
        ("builtin", "wapiti"), 5.0, 50)
    assert refused(certix.create_scan, "https://example.com/", "zap", options={"rateLimit": 500}).body[
        "details"][0]["field"] == "options.rateLimit"
    findings = [Finding(id="w1", signal=SignalKey.WEBAPP, code="sql-injection", severity=Severity.CRITICAL,
                        title="SQL injection", cwe="CWE-89", evidence={"url": "https://example.com/shop/item",
                                                                       "parameter": "id"}),
                Finding(id="w2", signal=SignalKey.WEBAPP, code="webapp-coverage", severity=Severity.INFO,
                        title="Coverage")]
    wired.scans.transition("acme", scan["id"], ScanStatus.SCANNING)
    finish(wired, scan["id"], findings, SignalKey.WEBAPP)
    results = certix.results(scan["id"], "zap")
    assert results["summary"] == {"critical": 1, "high": 0, "medium": 0, "low": 0, "info": 1, "total": 2}
    assert results["findings"][0]["evidence"]["parameter"] == "id" and results["findings"][0]["cwe"] == "CWE-89"


def test_zap_on_an_unverified_host_is_refused_in_cert_ix_shape(certix: CertixClient) -> None:
    for attempt in (lambda: certix.raw("POST", "/scans", json_body={"target": "https://example.com/shop",
                                                                     "scanType": "zap"}),
                    lambda: certix.raw("POST", f"/scan-templates/{zap_template(certix)}/launch",
                                       json_body={"target": "example.com"})):
        reply = attempt()
        error = reply.json()
        assert (reply.status, error["success"], error["code"]) == (403, False, "TARGET_NOT_VERIFIED")
        assert (error["field"], error["value"]) == ("target", "example.com")
        assert error["verifyUrl"].endswith("/v1/targets")
        assert error["error"].startswith("zap (web application) scans send attack payloads")
        assert "example.com is not a verified target" in error["error"]
    assert certix.list_scans()["data"] == []


def zap_template(certix: CertixClient) -> str:
    return str(certix.create_template("Web app", "zap", options={"maxDepth": 2})["id"])


def test_certix_webhooks_and_views_name_the_new_types_in_cert_ix_words() -> None:
    assert [vendor_scan_type(t) for t in ("ports", "container", "webapp", "posture")] == [
        "nmap", "trivy", "zap", "posture"]


def test_refusals_of_an_unknown_scan_type_list_the_three(certix: CertixClient) -> None:
    error = refused(certix.create_scan, "example.com", "nikto")
    assert (error.code, error.body["value"]) == ("UNSUPPORTED_SCAN_TYPE", "nikto")
    assert "nmap, trivy, zap" in error.message
    with pytest.raises(CertixRefused):
        certix.create_template("x", "nikto")


def test_a_completed_scan_whose_check_could_not_run_reads_failed(certix: CertixClient, wired: Services) -> None:
    scan_id = certix.create_scan(IMAGE, "trivy")["id"]
    wired.scans.transition("acme", scan_id, ScanStatus.SCANNING)
    finish(wired, scan_id, [], SignalKey.CONTAINER, error="manifest unknown")
    view = certix.get_scan(scan_id, "trivy")
    assert (view["status"], view["errorCode"]) == ("failed", "not-checked")
    assert view["error"] == "The image could not be scanned: manifest unknown"
    assert certix.results(scan_id, "trivy")["status"] == "failed"
