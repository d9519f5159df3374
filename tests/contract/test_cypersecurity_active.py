"""CyperSecurity `zap` and `sqlmap` scans: Perimeter's webapp scan (builtin + wapiti, or sqlmap alone).

Created with the documented request (the JavaScript example's zap options `spider`, `active_scan`),
read back with the documented `results` (`vulnerabilities` for every finding above info), and refused
in the vendor's nested error, 403, when the host's control was not proven.
"""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.bootstrap import Services
from chalicelib.scans.models import Finding, ScanStatus, Severity, SignalKey, SignalResult, SignalStatus
from tests.contract import test_cypersecurity as _cyper
from tests.contract.clients.cypersecurity import CyperSecurityClient, CyperSecurityError

aws, resources, wired, http, cyper = _cyper.aws, _cyper.resources, _cyper.wired, _cyper.http, _cyper.cyper


@pytest.fixture
def verified(wired: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every host passes the proof-of-control gate (the gate itself is tested in tests/unit/targets)."""
    monkeypatch.setattr(wired.scans, "verify_active", lambda tenant_id, host: None)


def refusal(cyper: CyperSecurityClient, body: dict[str, Any]) -> CyperSecurityError:
    with pytest.raises(CyperSecurityError) as refused:
        cyper._call("POST", "/scans", body)
    return refused.value


@pytest.mark.parametrize(("kind", "options", "engines", "depth"), [
    ("zap", {"spider": True, "active_scan": True}, ("builtin", "wapiti"), 5),
    ("zap", {"spider": False}, ("builtin", "wapiti"), 0),
    ("sqlmap", None, ("sqlmap",), 5),
])
def test_zap_and_sqlmap_are_webapp_scans_with_their_engines(cyper: CyperSecurityClient, wired: Services,
                                                           verified: None, kind: str,
                                                           options: dict[str, Any] | None,
                                                           engines: tuple[str, ...], depth: int) -> None:
    scan = cyper.create_scan("example.com", kind, options)
    assert cyper.last is not None and cyper.last.status == 201
    assert set(scan) == {"id", "target", "type", "status", "created_at", "findings_count", "critical_count"}
    assert (scan["type"], scan["status"], scan["target"]) == (kind, "pending", "https://example.com/")
    stored = wired.scans.get("acme", scan["id"])
    assert stored.scan_type.value == "webapp" and stored.options.webapp is not None
    assert (stored.options.webapp.engines, stored.options.webapp.max_depth) == (engines, depth)
    assert [s["type"] for s in cyper.list_scans()["scans"]] == [kind]
    assert cyper.get_scan(scan["id"])["results"] is None


@pytest.mark.parametrize(("kind", "options", "field"), [
    ("zap", {"ports": "80"}, "options.ports"),
    ("zap", {"os_detection": True}, "options.os_detection"),
    ("zap", {"active_scan": False}, "options.active_scan"),
    ("sqlmap", {"spider": True}, "options.spider"),
    ("sqlmap", {"level": 5}, "options.level"),
    ("nmap", {"spider": True}, "options.spider"),
])
def test_options_of_another_type_are_refused_naming_them(cyper: CyperSecurityClient, verified: None, kind: str,
                                                         options: dict[str, Any], field: str) -> None:
    error = refusal(cyper, {"target": "example.com", "type": kind, "options": options})
    assert (error.status, error.code, error.details["field"]) == (422, "invalid_request", field)
    assert cyper.list_scans()["total"] == 0


@pytest.mark.parametrize("kind", ["zap", "sqlmap"])
def test_an_unverified_host_is_refused_in_the_vendor_error(cyper: CyperSecurityClient, kind: str) -> None:
    error = refusal(cyper, {"target": "https://example.com/shop", "type": kind})
    assert (error.status, error.code) == (403, "invalid_request")
    assert (error.details["field"], error.details["value"]) == ("target", "example.com")
    assert error.details["verify_url"].endswith("/v1/targets")
    assert error.message.startswith("zap and sqlmap scans send attack payloads")
    assert "example.com is not a verified target" in error.message
    assert error.headers["Content-Type"] == "application/json"
    assert cyper.list_scans()["total"] == 0


def test_a_completed_zap_scan_lists_every_finding_above_info_as_vulnerabilities(
        cyper: CyperSecurityClient, wired: Services, verified: None) -> None:
    scan_id = cyper.create_scan("https://example.com/shop", "zap")["id"]
    findings = [
        Finding(id="w1", signal=SignalKey.WEBAPP, code="reflected-xss", severity=Severity.HIGH,
                title="Reflected cross-site scripting", evidence={"url": "https://example.com/shop/search"}),
        Finding(id="w2", signal=SignalKey.WEBAPP, code="sql-injection", severity=Severity.CRITICAL,
                title="SQL injection", evidence={"url": "https://example.com/shop/item", "cvss_score": 9.8}),
        Finding(id="w3", signal=SignalKey.WEBAPP, code="webapp-coverage", severity=Severity.INFO, title="Coverage"),
    ]
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    result = SignalResult(status=SignalStatus.COMPLETE, max_score=0, findings=findings, severity_counts=counts)
    for step in (ScanStatus.SCANNING, ScanStatus.SCORING):
        wired.scans.transition("acme", scan_id, step)
    wired.scans.update("acme", scan_id, lambda _: {"signals": {"webapp": result}, "findings_count": 3,
                                                   "severity_counts": counts})
    wired.scans.transition("acme", scan_id, ScanStatus.COMPLETE)
    scan = cyper.get_scan(scan_id)
    assert (scan["type"], scan["status"], scan["findings_count"], scan["critical_count"]) == ("zap", "completed", 3, 1)
    assert scan["results"] == {"services": [], "vulnerabilities": [
        {"title": "SQL injection", "severity": "critical", "cvss_score": 9.8, "cve_id": None},
        {"title": "Reflected cross-site scripting", "severity": "high", "cvss_score": None, "cve_id": None}]}


def test_a_zap_scan_that_could_not_reach_the_site_reads_failed(cyper: CyperSecurityClient, wired: Services,
                                                               verified: None) -> None:
    scan_id = cyper.create_scan("example.com", "zap")["id"]
    result = SignalResult(status=SignalStatus.ERROR, max_score=0, error="connection refused")
    for step in (ScanStatus.SCANNING, ScanStatus.SCORING):
        wired.scans.transition("acme", scan_id, step)
    wired.scans.update("acme", scan_id, lambda _: {"signals": {"webapp": result},
                                                   "severity_counts": {s: 0 for s in Severity}})
    wired.scans.transition("acme", scan_id, ScanStatus.COMPLETE)
    scan = cyper.get_scan(scan_id)
    assert (scan["status"], scan["results"]) == ("failed", None)
    assert scan["error"] == {"code": "not-checked", "message": "The site could not be tested: connection refused"}
