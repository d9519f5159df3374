"""Signals `reputation` (DNSBL zones on the lab DNS server) and `breach` (a local HIBP-compatible API)."""

from __future__ import annotations

from chalicelib.scanners import breach, reputation
from chalicelib.scanners.base import ScanContext
from chalicelib.scans.models import Severity, SignalStatus
from tests.support.lab import Lab


def test_a_listed_domain_and_a_listed_address_are_both_found(lab: Lab) -> None:
    result = reputation.run("bad.test", lab.context("bad.test"))
    assert result.status is SignalStatus.COMPLETE
    found = {f.code: f for f in result.findings}
    assert set(found) == {"domain-listed", "address-listed"}
    assert found["domain-listed"].evidence["query"] == "bad.test.dbl.test"
    assert found["domain-listed"].evidence["reason"] == "listed: test phishing"
    reversed_ip = ".".join(reversed(lab.bad.split(".")))
    assert found["address-listed"].evidence["query"] == f"{reversed_ip}.zen.test"
    assert found["address-listed"].severity is Severity.HIGH


def test_a_clean_domain_has_no_findings(lab: Lab) -> None:
    result = reputation.run("good.test", lab.context("good.test"))
    assert (result.status, result.findings) == (SignalStatus.COMPLETE, [])


def test_a_refused_answer_is_a_zone_error_not_a_listing(lab: Lab) -> None:
    result = reputation.run("refused.test", lab.context("refused.test"))
    assert result.status is SignalStatus.COMPLETE
    assert [(f.code, f.severity) for f in result.findings] == [("zone-error", Severity.INFO)]
    assert "127.255.255.254" in result.findings[0].detail


def test_when_every_zone_errors_the_signal_is_an_error(lab: Lab) -> None:
    ctx = ScanContext.from_settings(lab.settings(dnsbl_zones=["domain:dbl.test"]))
    result = reputation.run("refused.test", ctx)
    assert result.status is SignalStatus.ERROR and "public or unattributed resolver" in (result.error or "")


def test_without_the_exemption_private_addresses_are_not_looked_up_but_the_domain_is(lab: Lab) -> None:
    queries_before = len(lab.dns.resolver.queries)
    result = reputation.run("bad.test", lab.context("bad.test", exempt=False))
    asked = [q for q, _ in lab.dns.resolver.queries[queries_before:]]
    assert [f.code for f in result.findings] == ["domain-listed"]
    assert not any(q.endswith(".zen.test") for q in asked)


def test_breached_accounts_are_reported_per_breach(lab: Lab) -> None:
    result = breach.run("bad.test", lab.context("bad.test"))
    assert result.status is SignalStatus.COMPLETE
    found = {f.evidence["breach"]: f for f in result.findings}
    assert found["Adobe"].code == "credentials-exposed"
    assert found["Adobe"].evidence["accounts"] == ["alice@bad.test", "bob@bad.test"]
    assert found["Canva"].code == "accounts-exposed"
    seen = [r for r in lab.breach.server.requests if r.path == "/api/v3/breacheddomain/bad.test"]
    assert seen[-1].headers["hibp-api-key"] == "test-hibp-key-0123456789"


def test_a_domain_without_breaches_is_clean(lab: Lab) -> None:
    result = breach.run("good.test", lab.context("good.test"))
    assert (result.status, result.findings) == (SignalStatus.COMPLETE, [])


def test_a_wrong_api_key_is_an_error_not_a_clean_result(lab: Lab) -> None:
    ctx = ScanContext.from_settings(lab.settings(breach_api_key="wrong-key-0123456789"))
    result = breach.run("bad.test", ctx)
    assert result.status is SignalStatus.ERROR and "HTTP 401" in (result.error or "")


def test_an_unreachable_breach_api_is_an_error(lab: Lab) -> None:
    ctx = ScanContext.from_settings(lab.settings(breach_api_url="http://127.0.0.1:1"))
    result = breach.run("bad.test", ctx)
    assert result.status is SignalStatus.ERROR and "unreachable" in (result.error or "")
