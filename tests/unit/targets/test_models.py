"""What a target covers, when it counts as verified, and the challenge it publishes."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.targets.challenge import CheckReport, DnsEvidence, HttpEvidence
from chalicelib.targets.models import Target, TargetStatus, VerificationMethod

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def target(method: VerificationMethod | None = None, status: TargetStatus = TargetStatus.PENDING,
           expires_at: datetime | None = None) -> Target:
    return Target(target_id="tgt_1", tenant_id="acme", domain="example.com", token="tok", status=status,
                  method=method, created_at=NOW, updated_at=NOW, expires_at=expires_at)


def test_the_challenge_names_the_txt_record_and_the_well_known_url() -> None:
    t = target()
    assert (t.dns_name, t.txt_value, t.http_url) == (
        "_perimeter-challenge.example.com", "perimeter-challenge=tok",
        "https://example.com/.well-known/perimeter-challenge")


@pytest.mark.parametrize(("host", "dns", "http"), [
    ("example.com", True, True),
    ("www.example.com", True, False),
    ("a.b.example.com", True, False),
    ("badexample.com", False, False),  # a suffix match on the text is not a subdomain
    ("example.com.evil.test", False, False),
    ("com", False, False),
])
def test_dns_proof_covers_subdomains_and_http_proof_only_the_host(host: str, dns: bool, http: bool) -> None:
    assert target(VerificationMethod.DNS).covers(host) is dns
    assert target(VerificationMethod.HTTP).covers(host) is http


def test_a_verified_target_expires_at_its_expiry() -> None:
    t = target(VerificationMethod.DNS, TargetStatus.VERIFIED, expires_at=NOW + timedelta(days=30))
    assert t.is_valid(NOW + timedelta(days=29, hours=23))
    assert t.current_status(NOW + timedelta(days=30)) is TargetStatus.EXPIRED
    assert not t.is_valid(NOW + timedelta(days=30))


def test_pending_and_lapsed_targets_are_never_valid() -> None:
    for status in (TargetStatus.PENDING, TargetStatus.LAPSED):
        assert not target(VerificationMethod.DNS, status, expires_at=NOW + timedelta(days=1)).is_valid(NOW)


def _report(dns_error: str | None, http: HttpEvidence | None) -> CheckReport:
    return CheckReport(DnsEvidence("n", "v", error=dns_error), http)


def test_an_outage_never_disproves_a_proof() -> None:
    down = HttpEvidence("u", error="timeout")
    answered = HttpEvidence("u", 404, conclusive=True)
    assert not _report("timed out", down).disproves(VerificationMethod.DNS)
    assert _report(None, down).disproves(VerificationMethod.DNS)  # DNS answered without the record
    assert not _report(None, down).disproves(VerificationMethod.HTTP)  # the site did not answer
    assert _report("timed out", answered).disproves(VerificationMethod.HTTP)
