"""DNS hygiene against a local authoritative server: DNSSEC, CAA tree climbing, dangling CNAMEs."""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest

from chalicelib.scanners import dns_hygiene
from chalicelib.scanners.base import CheckFailed, ScanContext
from chalicelib.scans.models import Severity, SignalKey
from tests.support.dnsserver import LocalDNSServer, Zone, dnssec_records
from tests.support.lab import Lab

SOA = "ns.{0} hostmaster.{0} 1 3600 600 86400 60"
ADDRESS = "192.0.2.10"


def zone() -> Zone:
    return {
        "signed.test": [("SOA", SOA.format("signed.test")), ("A", ADDRESS), ("CAA", '0 issue "letsencrypt.org"'),
                        *dnssec_records("signed.test")],
        "www.signed.test": [("A", ADDRESS)],
        "island.test": [("SOA", SOA.format("island.test")), ("A", ADDRESS), dnssec_records("island.test")[0]],
        "orphan-ds.test": [("A", ADDRESS), dnssec_records("orphan-ds.test")[1]],
        "bare.test": [("A", ADDRESS)],
        "caa.test": [("CAA", "0 issuewild \";\"")],
        "deep.sub.caa.test": [("A", ADDRESS)],
        # a delegated sub-zone with its own apex and keys, below an unsigned parent
        "shop.bare.test": [("SOA", SOA.format("shop.bare.test")), ("A", ADDRESS), *dnssec_records("shop.bare.test")],
        "dangle.test": [("A", ADDRESS), ("MX", "10 mail.dangle.test")],
        "www.dangle.test": [("CNAME", "gone-app.cloudapp.test")],
        "mta-sts.dangle.test": [("CNAME", "hop.provider.test")],
        "hop.provider.test": [("CNAME", "missing.provider.test")],
        "autodiscover.dangle.test": [("CNAME", "alive.provider.test")],
        "alive.provider.test": [("A", ADDRESS)],
        "mail.dangle.test": [("CNAME", "mx.gone-mail.test")],
        "healthy.test": [("A", ADDRESS)],
        "www.healthy.test": [("CNAME", "alive.provider.test")],
        "loop.test": [("A", ADDRESS)],
        "www.loop.test": [("CNAME", "a.loop.test")],
        "a.loop.test": [("CNAME", "www.loop.test")],
    }


@pytest.fixture(scope="module")
def dns_server() -> Iterator[LocalDNSServer]:
    server = LocalDNSServer(zone()).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def ctx(lab: Lab, dns_server: LocalDNSServer) -> ScanContext:
    settings = lab.settings(dns_servers=[dns_server.address])
    return ScanContext.from_settings(settings)


def issues(target: str, ctx: ScanContext) -> dict[str, dns_hygiene.HygieneIssue]:
    return {i.code: i for i in dns_hygiene.layer_issues(target, ctx)}


def test_a_signed_zone_with_a_ds_and_a_caa_record_has_no_issue(ctx: ScanContext) -> None:
    assert issues("signed.test", ctx) == {}
    assert issues("www.signed.test", ctx) == {}  # the apex found through its SOA, CAA inherited


def test_an_unsigned_zone_without_caa_has_both_low_issues_with_the_answers(ctx: ScanContext) -> None:
    found = issues("bare.test", ctx)
    assert set(found) == {"dnssec-missing", "caa-missing"}
    assert found["dnssec-missing"].evidence == {"zone": "bare.test", "dnskey": [], "ds": []}
    assert found["caa-missing"].evidence == {"names_checked": ["bare.test"]}


def test_dnskey_without_ds_is_an_unanchored_island_and_still_missing(ctx: ScanContext) -> None:
    issue = issues("island.test", ctx)["dnssec-missing"]
    [key] = issue.evidence["dnskey"]
    assert key["flags"] == 257 and key["algorithm"] == 13 and issue.evidence["ds"] == []
    assert "no DS" in issue.detail


def test_ds_without_dnskey_is_reported_as_breaking_validation(ctx: ScanContext) -> None:
    issue = issues("orphan-ds.test", ctx)["dnssec-missing"]
    assert issue.evidence["dnskey"] == [] and len(issue.evidence["ds"]) == 1
    assert "validating resolvers fail" in issue.detail


def test_a_delegated_signed_subzone_is_judged_at_its_own_apex(ctx: ScanContext) -> None:
    found = issues("www.shop.bare.test", ctx)
    assert "dnssec-missing" not in found
    assert found["caa-missing"].evidence["names_checked"] == ["www.shop.bare.test", "shop.bare.test", "bare.test"]


def test_caa_at_a_parent_covers_a_deep_name_by_tree_climbing(ctx: ScanContext) -> None:
    assert "caa-missing" not in issues("deep.sub.caa.test", ctx)


def test_an_ip_literal_has_no_dns_hygiene(ctx: ScanContext, dns_server: LocalDNSServer) -> None:
    before = len(dns_server.resolver.queries)
    assert dns_hygiene.layer_issues("192.0.2.10", ctx) == []
    assert dns_hygiene.dangling_cname_findings("192.0.2.10", ctx) == []
    assert len(dns_server.resolver.queries) == before


def test_cnames_ending_in_nxdomain_are_high_dangling_findings_with_the_chain(ctx: ScanContext) -> None:
    findings = {f.evidence["name"]: f for f in dns_hygiene.dangling_cname_findings("dangle.test", ctx)}
    assert set(findings) == {"www.dangle.test", "mta-sts.dangle.test", "mail.dangle.test"}
    www = findings["www.dangle.test"]
    assert (www.signal, www.code, www.severity) == (SignalKey.SCAN, "dangling-cname", Severity.HIGH)
    assert www.evidence["chain"] == ["www.dangle.test", "gone-app.cloudapp.test"]
    assert findings["mta-sts.dangle.test"].evidence["chain"] == [
        "mta-sts.dangle.test", "hop.provider.test", "missing.provider.test"]
    assert "missing.provider.test" in findings["mta-sts.dangle.test"].detail


def test_a_cname_to_a_live_name_and_a_cname_loop_are_not_dangling(ctx: ScanContext) -> None:
    assert dns_hygiene.dangling_cname_findings("healthy.test", ctx) == []
    assert dns_hygiene.dangling_cname_findings("loop.test", ctx) == []
    chain, ending = dns_hygiene.cname_chain(ctx.resolver, "www.loop.test")
    assert ending == "loop" and chain == ["www.loop.test", "a.loop.test", "www.loop.test"]


def test_the_chain_walk_is_bounded(ctx: ScanContext, dns_server: LocalDNSServer) -> None:
    names = [f"c{i}.long.test" for i in range(dns_hygiene.MAX_CHAIN + 5)]
    dns_server.resolver.update({a: [("CNAME", b)] for a, b in itertools.pairwise(names)})
    chain, ending = dns_hygiene.cname_chain(ctx.resolver, names[0])
    assert ending == "too-long" and len(chain) == dns_hygiene.MAX_CHAIN + 1


def test_an_unanswering_resolver_makes_no_finding_and_raises_nothing(lab: Lab) -> None:
    silent = LocalDNSServer({})
    silent.start()
    address = silent.address
    silent.stop()  # nothing listens there any more
    ctx = ScanContext.from_settings(lab.settings(dns_servers=[address], dns_timeout=0.3))
    assert dns_hygiene.layer_issues("bare.test", ctx) == []
    assert dns_hygiene.dangling_cname_findings("dangle.test", ctx) == []
    with pytest.raises(CheckFailed):
        dns_hygiene.caa_issue(ctx.resolver, "bare.test")
