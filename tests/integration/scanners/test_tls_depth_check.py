"""Signal `layer` in depth against loopback TLS servers restricted to cipher strings, versions and chains.

The servers live on the lab's .40 address, their names in the lab DNS zone (added by the fixture).
RC4, DES, 3DES and export suites are compiled out of the local OpenSSL (client and server): those are
probed against FakeHelloServer, which answers a bare ServerHello.
"""

from __future__ import annotations

import itertools
import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.scanners import tls, tls_ciphers
from chalicelib.scans.models import Finding, Severity, SignalResult, SignalStatus
from tests.support.httpserver import LocalHTTPServer, Response
from tests.support.lab import Lab
from tests.support.tlsserver import FakeHelloServer, Issued, TestCA, server_context

HYGIENE = {"dnssec-missing", "caa-missing"}
TLS12 = ssl.TLSVersion.TLSv1_2
TLS13 = ssl.TLSVersion.TLSv1_3


class Depth:
    """The depth servers: name -> port, and the intermediate CA that issued the chain servers' leaves."""

    def __init__(self, lab: Lab) -> None:
        self.lab = lab
        self.address = f"{lab.subnet}.40"
        self.ports: dict[str, int] = {}
        self.servers: dict[str, LocalHTTPServer] = {}
        self.intermediate: TestCA = lab.ca.intermediate("Depth Intermediate")

    def serve(self, name: str, context: ssl.SSLContext) -> None:
        server = LocalHTTPServer(self.address, routes={"/": Response(200)}, ssl_context=context).start()
        self.servers[name] = server
        self.ports[name] = server.port

    def stop(self) -> None:
        for server in self.servers.values():
            server.stop()


@pytest.fixture(scope="module")
def depth(lab: Lab) -> Iterator[Depth]:
    built = Depth(lab)
    rsa = lab.ca.issue("depth.test", ["*.depth.test"], key="rsa2048")
    chained: Issued = built.intermediate.issue("chain.depth.test", ["chain.depth.test", "full.depth.test",
                                                                     "chain13.depth.test"])
    try:
        built.serve("rsakx.depth.test", server_context(rsa, maximum=TLS12, ciphers="kRSA:!eNULL:@SECLEVEL=0"))
        built.serve("fs.depth.test", server_context(rsa))
        built.serve("mixed.depth.test", server_context(rsa, ciphers="ECDHE:kRSA:!aNULL:!eNULL:@SECLEVEL=0"))
        built.serve("weak.depth.test", server_context(
            rsa, maximum=TLS12, ciphers="ECDHE-RSA-AES128-GCM-SHA256:NULL-SHA256:AECDH-AES128-SHA:@SECLEVEL=0"))
        built.serve("chain.depth.test", server_context(chained, send_intermediate=False))
        built.serve("full.depth.test", server_context(chained))
        built.serve("chain13.depth.test", server_context(chained, minimum=TLS13, send_intermediate=False))
        lab.dns.resolver.update({name: [("A", built.address)] for name in built.ports})
        yield built
    finally:
        built.stop()


def run(depth: Depth, name: str, **overrides: Any) -> SignalResult:
    fields: dict[str, Any] = {"tls_ports": (depth.ports[name],), "http_port": 1, **overrides}
    return tls.run(name, depth.lab.context(name, **fields))


def codes(result: SignalResult) -> set[str]:
    return {f.code for f in result.findings} - HYGIENE


def only(result: SignalResult, code: str) -> Finding:
    [finding] = [f for f in result.findings if f.code == code]
    return finding


def test_a_server_with_only_rsa_key_exchange_has_no_forward_secrecy(depth: Depth) -> None:
    result = run(depth, "rsakx.depth.test")
    assert result.status is SignalStatus.COMPLETE
    assert codes(result) == {"no-forward-secrecy", "no-tls13", "tls-summary"}
    finding = only(result, "no-forward-secrecy")
    assert finding.severity is Severity.MEDIUM
    ciphers = finding.evidence["ciphers"]
    assert ciphers["forward_secrecy"] == [] and ciphers["tls13"] is False
    assert 1 <= len(ciphers["rsa_key_exchange"]) <= tls_ciphers.MAX_PER_KIND
    assert all("ECDHE" not in name and "DHE" not in name for name in ciphers["rsa_key_exchange"])
    assert ciphers["rsa_key_exchange"][0] in finding.detail


def test_a_forward_secret_only_server_has_no_cipher_finding(depth: Depth) -> None:
    result = run(depth, "fs.depth.test")
    assert codes(result) == {"tls-summary"}
    ciphers = only(result, "tls-summary").evidence["ciphers"]
    assert ciphers["forward_secrecy"][0].startswith("ECDHE-") and ciphers["tls13"] is True
    assert ciphers["rsa_key_exchange"] == [] and ciphers["weak"] == []


def test_rsa_key_exchange_beside_forward_secrecy_is_a_low_finding(depth: Depth) -> None:
    result = run(depth, "mixed.depth.test")
    assert codes(result) == {"rsa-key-exchange", "tls-summary"}
    finding = only(result, "rsa-key-exchange")
    assert finding.severity is Severity.LOW
    assert finding.evidence["ciphers"]["forward_secrecy"] and finding.evidence["ciphers"]["rsa_key_exchange"]


def test_null_and_anonymous_suites_are_a_medium_weak_cipher_finding_naming_them(depth: Depth) -> None:
    result = run(depth, "weak.depth.test")
    assert codes(result) == {"weak-cipher", "no-tls13", "tls-summary"}
    finding = only(result, "weak-cipher")
    assert finding.severity is Severity.MEDIUM
    assert sorted(finding.evidence["ciphers"]["weak"]) == [
        "TLS_ECDH_anon_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_NULL_SHA256"]
    assert finding.evidence["ciphers"]["weaknesses"] == ["NULL", "anonymous"]
    assert "TLS_RSA_WITH_NULL_SHA256" in finding.detail


def test_3des_and_rc4_are_found_with_a_raw_hello_each_accepted_suite_dropped_from_the_next_offer() -> None:
    fake = FakeHelloServer(accepts=[0x000A, 0x0005, 0xC012, 0x0004]).start()
    try:
        found = tls_ciphers.accepted_weak("127.0.0.1", fake.port, "legacy.test", timeout=2.0)
    finally:
        fake.stop()
    names = [s.name for s in found]
    assert len(names) == tls_ciphers.MAX_PER_KIND == len(fake.offers)
    assert {s.weakness for s in found} <= {"3DES", "RC4"} and len(set(names)) == len(names)
    for earlier, later in itertools.pairwise(fake.offers):
        assert len(later) == len(earlier) - 1  # the suite accepted before is no longer offered
    report = tls_ciphers.CipherReport(forward_secret=["ECDHE-RSA-AES128-GCM-SHA256"], weak=names,
                                      weaknesses=sorted({s.weakness for s in found}))
    assert [code for code, _ in tls_ciphers.cipher_issues(report)] == ["weak-cipher"]


def test_a_server_refusing_every_weak_suite_costs_one_hello() -> None:
    fake = FakeHelloServer(accepts=[]).start()
    try:
        assert tls_ciphers.accepted_weak("127.0.0.1", fake.port, None, timeout=2.0) == []
    finally:
        fake.stop()
    assert len(fake.offers) == 1 and 0x000A in fake.offers[0] and 0x0004 in fake.offers[0]


def test_a_leaf_served_without_its_intermediate_is_chain_incomplete_not_untrusted(depth: Depth) -> None:
    result = run(depth, "chain.depth.test")
    assert codes(result) == {"chain-incomplete", "tls-summary"}
    finding = only(result, "chain-incomplete")
    assert finding.severity is Severity.MEDIUM
    chain = finding.evidence["chain"]
    assert chain["served_after_leaf"] == [] and chain["ca_issuers"] == [depth.intermediate.ca_issuers_url]
    assert "Depth Intermediate" in chain["leaf_issuer"]


def test_the_same_leaf_with_its_intermediate_is_trusted(depth: Depth) -> None:
    result = run(depth, "full.depth.test")
    assert codes(result) == {"tls-summary"}
    assert only(result, "tls-summary").evidence["trusted"] is True


def test_a_missing_root_with_the_intermediate_sent_stays_cert_untrusted(
        depth: Depth, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("")
    monkeypatch.setenv("SSL_CERT_FILE", str(empty))
    result = run(depth, "full.depth.test")
    assert codes(result) == {"cert-untrusted", "tls-summary"}
    [sent] = only(result, "cert-untrusted").evidence["chain"]["served_after_leaf"]
    assert "CN=Depth Intermediate" in sent


def test_a_tls_1_3_only_server_hides_its_chain_so_nothing_more_than_untrusted_is_claimed(depth: Depth) -> None:
    result = run(depth, "chain13.depth.test")
    assert codes(result) == {"cert-untrusted", "tls-summary"}
    assert only(result, "cert-untrusted").evidence["chain"]["served_after_leaf"] is None


def test_one_endpoint_costs_a_bounded_number_of_connections(depth: Depth) -> None:
    server = depth.servers["mixed.depth.test"]

    def seen() -> int:
        return server.connections + server.handshake_failures

    before = seen()
    run(depth, "mixed.depth.test")
    used = seen() - before
    # inspect + verify + 4 versions = 6, then 1 FS probe, the kRSA walk (1 to 3 accepted, + 1 refusal below
    # the limit) and the weak walk (1 refused hello here, at most 3)
    lowest, highest = 6 + 1 + 1 + 1, 6 + 1 + (tls_ciphers.MAX_PER_KIND + 1) + tls_ciphers.MAX_PER_KIND
    assert lowest <= used <= highest


def test_a_domain_target_gets_dnssec_and_caa_findings_and_an_ip_literal_does_not(depth: Depth, lab: Lab) -> None:
    result = run(depth, "fs.depth.test")
    hygiene = {f.code: f for f in result.findings if f.code in HYGIENE}
    assert set(hygiene) == HYGIENE
    assert hygiene["dnssec-missing"].severity is Severity.LOW
    assert hygiene["dnssec-missing"].evidence == {"zone": "depth.test", "dnskey": [], "ds": []}
    assert hygiene["caa-missing"].evidence["names_checked"] == ["fs.depth.test", "depth.test"]
    by_ip = tls.run(depth.address, lab.context(depth.address, tls_ports=(depth.ports["fs.depth.test"],)))
    assert by_ip.status is SignalStatus.COMPLETE and not {f.code for f in by_ip.findings} & HYGIENE


def test_a_well_kept_zone_has_no_hygiene_finding(lab: Lab) -> None:
    result = tls.run("good.test", lab.context("good.test"))
    assert {f.code for f in result.findings} == {"tls-summary"}
