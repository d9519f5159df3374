"""Certificate analysis on certificates made in the test: dates, trust verdicts, names, keys (no network)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.scanners.tls_certs import (
    Trust,
    certificate_issues,
    describe_certificate,
    hostname_matches,
    is_self_signed,
    key_is_weak,
)
from tests.support.tlsserver import TestCA

TRUSTED = Trust(True)
NOW = datetime.now(UTC)


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(Path(tmp_path_factory.mktemp("ca")))


def issue_codes(cert, host: str = "site.test", trust: Trust = TRUSTED, now: datetime = NOW) -> list[str]:
    return [code for code, _ in certificate_issues(cert, host, trust, now)]


def test_a_valid_ca_issued_certificate_has_no_issues(ca: TestCA) -> None:
    assert issue_codes(ca.issue("site.test").cert) == []


def test_an_expired_certificate_is_reported_with_days_ago(ca: TestCA) -> None:
    cert = ca.issue("site.test", days=30, not_before_days=-60).cert
    issues = certificate_issues(cert, "site.test", TRUSTED, NOW)
    assert [c for c, _ in issues] == ["cert-expired"]
    assert "days ago" in issues[0][1]


@pytest.mark.parametrize(("days_valid", "code"), [(6, "cert-expiring-soon"), (20, "cert-expiring"), (60, None)])
def test_expiry_warnings_at_14_and_30_days(ca: TestCA, days_valid: int, code: str | None) -> None:
    cert = ca.issue("site.test", days=days_valid + 1, not_before_days=-1).cert
    assert issue_codes(cert) == ([code] if code else [])


def test_a_future_certificate_is_not_yet_valid(ca: TestCA) -> None:
    assert issue_codes(ca.issue("site.test", not_before_days=3).cert) == ["cert-not-yet-valid"]


def test_an_untrusted_self_signed_certificate_is_called_self_signed_not_untrusted(ca: TestCA) -> None:
    cert = ca.issue("site.test", self_signed=True).cert
    assert is_self_signed(cert)
    assert issue_codes(cert, trust=Trust(False, 18, "self-signed certificate")) == ["cert-self-signed"]


def test_an_untrusted_chain_keeps_the_verifier_message(ca: TestCA) -> None:
    cert = ca.issue("site.test").cert
    issues = certificate_issues(cert, "site.test", Trust(False, 20, "unable to get local issuer certificate"), NOW)
    assert issues == [
        ("cert-untrusted", "Chain verification failed: unable to get local issuer certificate (code 20).")]
    assert not is_self_signed(cert)


def test_a_certificate_for_another_name_is_a_mismatch(ca: TestCA) -> None:
    assert issue_codes(ca.issue("other.test").cert) == ["cert-hostname-mismatch"]


def test_a_1024_bit_rsa_key_is_weak(ca: TestCA) -> None:
    cert = ca.issue("site.test", key="rsa1024").cert
    assert issue_codes(cert) == ["weak-key"]
    assert describe_certificate(cert)["key_bits"] == 1024


@pytest.mark.parametrize(("key_type", "bits", "weak"), [
    ("RSA", 1024, True), ("RSA", 2048, False), ("DSA", 1024, True), ("EC-secp256r1", 256, False),
    ("EC-secp192r1", 192, True), ("Ed25519", 256, False),
])
def test_key_strength_thresholds(key_type: str, bits: int, weak: bool) -> None:
    assert key_is_weak(key_type, bits) is weak


@pytest.mark.parametrize(("host", "names", "ok"), [
    ("site.test", ["site.test"], True),
    ("SITE.test.", ["site.test"], True),
    ("www.site.test", ["*.site.test"], True),
    ("site.test", ["*.site.test"], False),
    ("a.b.site.test", ["*.site.test"], False),
    ("www.site.test", ["w*.site.test"], False),
    ("evil.test", ["*.test"], False),
    ("site.test", [], False),
])
def test_hostname_matching_follows_rfc_6125(host: str, names: list[str], ok: bool) -> None:
    assert hostname_matches(host, names, []) is ok


def test_ip_targets_match_ip_sans_only() -> None:
    assert hostname_matches("192.0.2.7", ["192.0.2.7"], ["192.0.2.7"])
    assert not hostname_matches("192.0.2.8", [], ["192.0.2.7"])


def test_certificate_evidence_carries_pem_names_dates_and_key(ca: TestCA) -> None:
    issued = ca.issue("site.test", ["site.test", "www.site.test", "192.0.2.1"], key="rsa2048")
    info = describe_certificate(issued.cert)
    assert info["pem"].startswith("-----BEGIN CERTIFICATE-----")
    assert info["sans"] == ["site.test", "www.site.test", "192.0.2.1"]
    assert "CN=site.test" in info["subject"] and "CN=Perimeter Test Root" in info["issuer"]
    assert (info["key_type"], info["key_bits"], info["signature_hash"]) == ("RSA", 2048, "sha256")
    assert info["not_after"] > info["not_before"]
    assert info["self_signed"] is False and len(info["sha256"]) == 64


def test_expiry_is_judged_against_the_given_clock(ca: TestCA) -> None:
    cert = ca.issue("site.test", days=90, not_before_days=-1).cert
    assert issue_codes(cert, now=NOW + timedelta(days=100)) == ["cert-expired"]
