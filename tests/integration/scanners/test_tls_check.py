"""Signal `layer` against real TLS servers with certificates made by the test CA."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from chalicelib.scanners import tls
from chalicelib.scans.models import Finding, Severity, SignalResult, SignalStatus
from tests.support.lab import Lab


def run(lab: Lab, domain: str, **overrides: Any) -> SignalResult:
    return tls.run(domain, lab.context(domain, **overrides))


HYGIENE = {"dnssec-missing", "caa-missing"}  # the tls variants' zones have neither; good.test has both


def codes(result: SignalResult) -> set[str]:
    return {f.code for f in result.findings}


def tls_codes(result: SignalResult) -> set[str]:
    return codes(result) - HYGIENE


def summary(result: SignalResult) -> Finding:
    return next(f for f in result.findings if f.code == "tls-summary")


def test_a_good_endpoint_has_only_the_summary_with_the_certificate(lab: Lab) -> None:
    result = run(lab, "good.test")
    assert result.status is SignalStatus.COMPLETE
    assert codes(result) == {"tls-summary"}
    evidence = summary(result).evidence
    assert evidence["trusted"] is True and evidence["negotiated"] == "TLSv1.3"
    assert evidence["versions"] == {"TLSv1.0": False, "TLSv1.1": False, "TLSv1.2": True, "TLSv1.3": True}
    cert = evidence["certificate"]
    assert cert["pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert "good.test" in cert["sans"] and cert["key_type"] == "RSA" and cert["key_bits"] == 2048
    assert 80 <= evidence["days_left"] <= 90


def test_trust_comes_from_ssl_cert_file(lab: Lab, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    result = run(lab, "good.test")
    assert codes(result) == {"cert-untrusted", "tls-summary"}
    assert "unable to get local issuer" in summary(result).evidence["trust_error"]


def test_an_expired_certificate_is_critical_and_not_also_untrusted(lab: Lab) -> None:
    result = run(lab, "expired.test")
    [expired] = [f for f in result.findings if f.code == "cert-expired"]
    assert expired.severity is Severity.CRITICAL and expired.cwe == "CWE-298"
    assert datetime.fromisoformat(expired.evidence["certificate"]["not_after"]) < datetime.now(UTC)
    assert summary(result).evidence["days_left"] < 0
    assert tls_codes(result) == {"cert-expired", "tls-summary"}


def test_a_self_signed_certificate_is_reported_as_such(lab: Lab) -> None:
    result = run(lab, "selfsigned.test")
    assert tls_codes(result) == {"cert-self-signed", "tls-summary"}
    assert summary(result).evidence["certificate"]["self_signed"] is True


def test_a_certificate_for_another_host_is_a_mismatch(lab: Lab) -> None:
    result = run(lab, "wronghost.test")
    [mismatch] = [f for f in result.findings if f.code == "cert-hostname-mismatch"]
    assert mismatch.cwe == "CWE-297" and mismatch.evidence["certificate"]["sans"] == ["other.test"]
    assert tls_codes(result) == {"cert-hostname-mismatch", "tls-summary"}


def test_a_wildcard_certificate_covers_one_label(lab: Lab) -> None:
    assert tls_codes(run(lab, "www.wildcard.test")) == {"tls-summary"}
    assert "cert-hostname-mismatch" in codes(run(lab, "wildcard.test"))


def test_a_1024_bit_rsa_key_is_weak(lab: Lab) -> None:
    result = run(lab, "weakkey.test")
    assert tls_codes(result) == {"weak-key", "tls-summary"}
    assert summary(result).evidence["certificate"]["key_bits"] == 1024


def test_a_certificate_expiring_in_days_is_a_medium_finding(lab: Lab) -> None:
    result = run(lab, "soon.test")
    [soon] = [f for f in result.findings if f.code == "cert-expiring-soon"]
    assert soon.severity is Severity.MEDIUM


def test_a_tls_1_0_only_server_is_found_and_still_inspected(lab: Lab) -> None:
    if not lab.tls10:
        pytest.skip("the local OpenSSL cannot run a TLS 1.0-only server")
    result = run(lab, "tls10.test")
    [old] = [f for f in result.findings if f.code == "tls10-enabled"]
    assert old.severity is Severity.MEDIUM and old.cwe == "CWE-327"
    assert tls_codes(result) == {"tls10-enabled", "no-tls13", "tls-summary"}
    evidence = summary(result).evidence
    assert evidence["versions"] == {"TLSv1.0": True, "TLSv1.1": False, "TLSv1.2": False, "TLSv1.3": False}
    assert evidence["negotiated"] == "TLSv1" and evidence["trusted"] is True


def test_a_server_offering_tls_1_0_to_1_3_gets_both_legacy_findings(lab: Lab) -> None:
    if not lab.tls10:
        pytest.skip("the local OpenSSL cannot run a TLS 1.0 server")
    result = run(lab, "bad.test")
    assert {"tls10-enabled", "tls11-enabled"} <= codes(result)
    assert "no-tls13" not in codes(result)


def test_a_host_serving_http_without_any_tls_port_is_a_high_no_https_finding(lab: Lab) -> None:
    result = run(lab, "plain.test")
    assert result.status is SignalStatus.COMPLETE
    assert tls_codes(result) == {"no-https"}
    [plain] = [f for f in result.findings if f.code == "no-https"]
    assert plain.severity is Severity.HIGH and plain.cwe == "CWE-319"
    port = lab.http_ports["plain.test"]
    assert plain.evidence["url"] == f"http://plain.test:{port}/" and plain.evidence["status"] == 200
    assert plain.evidence["tls_ports_tried"] == [1] and plain.evidence["tls_unreachable"]


def test_a_host_with_neither_tls_nor_http_stays_not_tested(lab: Lab) -> None:
    result = run(lab, "refused.test")
    assert result.status is SignalStatus.NOT_TESTED and "no TLS service" in (result.error or "")
    assert result.findings == []


def test_a_plain_http_port_given_as_tls_port_is_an_error_not_a_failure(lab: Lab) -> None:
    result = run(lab, "plain.test", tls_ports=(lab.http_ports["plain.test"],))
    assert result.status is SignalStatus.ERROR and "handshake" in (result.error or "")


def test_without_the_private_exemption_no_handshake_happens(lab: Lab) -> None:
    before = lab.good_https.connections + lab.good_https.handshake_failures
    result = tls.run("good.test", lab.context("good.test", exempt=False))
    assert result.status is SignalStatus.NOT_TESTED and "target guard" in (result.error or "")
    assert lab.good_https.connections + lab.good_https.handshake_failures == before
