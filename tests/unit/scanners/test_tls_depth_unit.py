"""TLS depth without a network: the raw hello and its parser, the weak-suite table, cipher verdicts, chain verdicts."""

from __future__ import annotations

import ast
import json
import re
import socket
import ssl
import struct
from pathlib import Path

import pytest

from chalicelib.scanners import dns_hygiene, tls, tls_certs, tls_ciphers, tls_hello
from chalicelib.scanners.tls_certs import Trust, certificate_issues, chain_incomplete
from tests.support.tlsserver import TestCA, _offered_suites, _server_hello


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(Path(tmp_path_factory.mktemp("depth-ca")))


def offered(hello: bytes) -> list[int]:
    left, right = socket.socketpair()
    with left, right:
        left.sendall(hello)
        return _offered_suites(right)


def record(kind: int, payload: bytes) -> bytes:
    return bytes([kind]) + b"\x03\x03" + struct.pack("!H", len(payload)) + payload


def certificate_message(*ders: bytes) -> bytes:
    entries = b"".join(len(d).to_bytes(3, "big") + d for d in ders)
    body = len(entries).to_bytes(3, "big") + entries
    return b"\x0b" + len(body).to_bytes(3, "big") + body


# ---------------------------------------------------------------------- raw hello


def test_the_client_hello_offers_exactly_the_given_suites_and_names_the_host() -> None:
    hello = tls_hello.client_hello([0x000A, 0x0005, 0xC012], "legacy.test")
    assert offered(hello) == [0x000A, 0x0005, 0xC012]
    assert b"legacy.test" in hello and hello[:3] == b"\x16\x03\x01"


def test_an_ip_target_sends_no_server_name() -> None:
    assert b"192.0.2.1" not in tls_hello.client_hello([0x002F], "192.0.2.1")


@pytest.mark.parametrize("suites", [[], list(range(1, tls_hello.MAX_SUITES + 2))])
def test_an_empty_or_oversized_offer_is_refused(suites: list[int]) -> None:
    with pytest.raises(ValueError):
        tls_hello.client_hello(suites, None)


def test_a_server_hello_split_byte_by_byte_is_reassembled() -> None:
    parser = tls_hello.FlightParser(want_certificates=False)
    data = _server_hello(0x000A)
    results = [parser.feed(data[i: i + 1]) for i in range(len(data))]
    assert results[:-1] == [None] * (len(data) - 1)
    assert results[-1] == tls_hello.ServerFlight(0x0303, 0x000A)


def test_the_certificate_list_is_read_across_records(ca: TestCA) -> None:
    leaf = ca.issue("site.test").cert.public_bytes(tls_certs.serialization.Encoding.DER)
    root = ca.cert.public_bytes(tls_certs.serialization.Encoding.DER)
    handshake = _server_hello(0xC02B)[5:] + certificate_message(leaf, root)
    half = len(handshake) // 2
    parser = tls_hello.FlightParser(want_certificates=True)
    assert parser.feed(record(22, handshake[:half])) is None
    flight = parser.feed(record(22, handshake[half:]))
    assert flight is not None and flight.suite == 0xC02B and flight.certificates == (leaf, root)


def test_an_anonymous_suite_flight_without_certificates_ends_at_server_hello_done() -> None:
    parser = tls_hello.FlightParser(want_certificates=True)
    flight = parser.feed(record(22, _server_hello(0xC018)[5:] + b"\x0e\x00\x00\x00"))
    assert flight == tls_hello.ServerFlight(0x0303, 0xC018, ())


@pytest.mark.parametrize("data", [
    record(21, b"\x02\x28"),  # handshake_failure alert
    b"HTTP/1.1 400 Bad Request\r\n\r\n",  # not TLS at all
    record(22, b"\x0b\x00\x00\x00"),  # a certificate before any ServerHello
])
def test_anything_but_a_server_hello_is_an_error(data: bytes) -> None:
    with pytest.raises(ValueError):
        tls_hello.FlightParser(want_certificates=False).feed(data)


# ---------------------------------------------------------------------- weak-suite table


def test_the_weak_suite_table_is_valid_and_matches_openssl_where_openssl_knows_the_suite() -> None:
    data = json.loads(tls_ciphers.WEAK_SUITES_FILE.read_text())
    assert data["version"] and data["source"]
    suites = tls_ciphers.weak_suites()
    assert {s.weakness for s in suites} == tls_ciphers.WEAKNESSES
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.set_ciphers("ALL:COMPLEMENTOFALL:@SECLEVEL=0")
    known = {c["name"]: c["id"] & 0xFFFF for c in context.get_ciphers()}
    checked = [s for s in suites if s.openssl in known]
    assert len(checked) >= 10  # NULL and anonymous suites are still in OpenSSL 3
    assert all(known[s.openssl] == s.id for s in checked), [s.openssl for s in checked if known[s.openssl] != s.id]
    assert all(s.name.startswith("TLS_") for s in suites)


# ---------------------------------------------------------------------- verdicts


def verdicts(**report: object) -> list[str]:
    return [code for code, _ in tls_ciphers.cipher_issues(tls_ciphers.CipherReport(**report))]  # type: ignore[arg-type]


def test_cipher_verdicts() -> None:
    assert verdicts(forward_secret=["ECDHE-RSA-AES128-GCM-SHA256"], tls13=True) == []
    assert verdicts(rsa_key_exchange=["AES128-SHA"]) == ["no-forward-secrecy"]
    assert verdicts(rsa_key_exchange=["AES128-SHA"], tls13=True) == ["rsa-key-exchange"]
    assert verdicts(rsa_key_exchange=["AES128-SHA"], forward_secret=["ECDHE-RSA-AES128-SHA"]) == ["rsa-key-exchange"]
    assert verdicts(weak=["TLS_RSA_WITH_RC4_128_SHA"], weaknesses=["RC4"]) == ["no-forward-secrecy", "weak-cipher"]
    assert verdicts(weak=["TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA"], forward_secret=["x"]) == ["weak-cipher"]


def test_a_missing_intermediate_is_chain_incomplete_only_with_code_20_the_issuer_unsent_and_a_ca_issuers_url(
        ca: TestCA) -> None:
    intermediate = ca.intermediate("Unit Intermediate")
    leaf = intermediate.issue("site.test").cert
    missing = Trust(False, tls_certs.UNABLE_TO_GET_ISSUER_LOCALLY, "unable to get local issuer certificate")
    assert tls_certs.ca_issuers_urls(leaf) == [intermediate.ca_issuers_url]
    assert chain_incomplete(leaf, missing, ())
    assert not chain_incomplete(leaf, missing, (intermediate.cert,))  # sent: the root is what is missing
    assert not chain_incomplete(leaf, missing, None)  # chain unread (TLS 1.3 only)
    assert not chain_incomplete(leaf, Trust(False, 19, "self-signed certificate in certificate chain"), ())
    assert not chain_incomplete(ca.issue("site.test").cert, missing, ())  # no caIssuers: a private root
    codes = [c for c, _ in certificate_issues(leaf, "site.test", missing, leaf.not_valid_before_utc, ())]
    assert codes == ["chain-incomplete"]


# ---------------------------------------------------------------------- catalog


def test_every_code_literal_in_the_helper_modules_is_in_the_layer_or_scan_catalog() -> None:
    """A typo in a code made outside tls.py (which test_scoring already scans) fails here."""
    kebab = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)+$")
    not_codes = {"mta-sts", "too-long"}
    known = set(tls.CATALOG.specs) | set(dns_hygiene.SCAN_CATALOG.specs)
    for module in (tls_ciphers, tls_certs, tls_hello, dns_hygiene):
        tree = ast.parse(Path(str(module.__file__)).read_text())
        literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        unknown = {s for s in literals if kebab.match(s)} - not_codes - known
        assert not unknown, f"{module.__name__}: {unknown}"
    assert set(dns_hygiene.SCAN_CATALOG.specs) == {"dangling-cname"}
    new = {"no-https": "high", "no-forward-secrecy": "medium", "rsa-key-exchange": "low", "weak-cipher": "medium",
           "chain-incomplete": "medium", "dnssec-missing": "low", "caa-missing": "low"}
    assert {code: tls.CATALOG.specs[code].severity.value for code in new} == new
