"""https to a local TLS receiver: the TCP connection goes to the pinned 127.0.0.1 while SNI and
certificate verification use the URL's host name; the CA bundle comes from the environment."""

from __future__ import annotations

import ipaddress

import certifi
import pytest

from chalicelib.core.addresses import IPNetwork
from chalicelib.webhooks.sender import ErrorKind, deliver
from tests.integration.webhooks.conftest import TLS_HOST, Receiver, TlsMaterial
from tests.support.fakes import FakeResolver

LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"),)
OTHER_HOST = "other.perimeter.test"  # same address, but not a name on the certificate


@pytest.fixture
def resolver() -> FakeResolver:
    return FakeResolver({TLS_HOST: ["127.0.0.1"], OTHER_HOST: ["127.0.0.1"]})


@pytest.fixture
def trust_test_ca(monkeypatch: pytest.MonkeyPatch, tls_material: TlsMaterial) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tls_material.ca_file))


@pytest.mark.usefixtures("trust_test_ca")
def test_https_verifies_the_hostname_while_connecting_to_the_pinned_ip(tls_receiver: Receiver,
                                                                        resolver: FakeResolver) -> None:
    outcome = deliver(tls_receiver.url("/ok", TLS_HOST, "https"), b'{"event":"webhook.test"}', {},
                      allowed=LOOPBACK, resolver=resolver)
    assert (outcome.status_code, outcome.error, outcome.address) == (200, None, "127.0.0.1")
    assert tls_receiver.server_names == [TLS_HOST]  # SNI carried the real name
    [seen] = tls_receiver.requests
    assert seen.headers["Host"] == f"{TLS_HOST}:{tls_receiver.port}"
    assert resolver.calls == [TLS_HOST]


@pytest.mark.usefixtures("trust_test_ca")
def test_a_certificate_for_another_name_is_refused_even_at_the_right_address(tls_receiver: Receiver,
                                                                              resolver: FakeResolver) -> None:
    outcome = deliver(tls_receiver.url("/ok", OTHER_HOST, "https"), b"{}", {}, allowed=LOOPBACK, resolver=resolver)
    assert (outcome.status_code, outcome.error_kind) == (None, ErrorKind.TLS)
    assert outcome.error is not None and "Hostname mismatch" in outcome.error
    assert tls_receiver.requests == []


def test_an_untrusted_ca_is_refused(monkeypatch: pytest.MonkeyPatch, tls_receiver: Receiver,
                                    resolver: FakeResolver) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", certifi.where())
    outcome = deliver(tls_receiver.url("/ok", TLS_HOST, "https"), b"{}", {}, allowed=LOOPBACK, resolver=resolver)
    assert outcome.error_kind == ErrorKind.TLS
    assert outcome.error is not None and "unable to get local issuer certificate" in outcome.error
    assert tls_receiver.requests == []


def test_ssl_cert_file_is_honoured_when_requests_ca_bundle_is_unset(
        monkeypatch: pytest.MonkeyPatch, tls_material: TlsMaterial, tls_receiver: Receiver,
        resolver: FakeResolver) -> None:
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(tls_material.ca_file))
    outcome = deliver(tls_receiver.url("/ok", TLS_HOST, "https"), b"{}", {}, allowed=LOOPBACK, resolver=resolver)
    assert outcome.status_code == 200


@pytest.mark.usefixtures("trust_test_ca")
def test_https_to_an_ip_literal_checks_the_ip_san(tls_receiver: Receiver) -> None:
    outcome = deliver(tls_receiver.url("/ok", "127.0.0.1", "https"), b"{}", {}, allowed=LOOPBACK,
                      resolver=FakeResolver({}))
    assert outcome.status_code == 200
    assert tls_receiver.server_names == [None]  # no SNI for an address
