"""The challenge check against a DNS server and an HTTPS site this test starts on 127.0.0.0/8.

DNS through the TXT adapter over the configured resolvers; HTTPS through the one guarded client,
trusted via SSL_CERT_FILE: resolve once, guard, pin, verify the name, never leave the origin.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from chalicelib.core.settings import DnsServer
from chalicelib.net.dns import DnsResolver, build_resolver
from chalicelib.net.http import Guard
from chalicelib.targets.challenge import ChallengeChecker
from chalicelib.targets.dnstxt import DnsTxtLookup
from chalicelib.targets.models import VerificationMethod
from tests.support.dnsserver import LocalDNSServer
from tests.support.httpserver import LocalHTTPServer, Response
from tests.support.services import loopback_address
from tests.support.tlsserver import TestCA, server_context

SITE = "site.perimeter.test"
OTHER = "other.perimeter.test"
TOKEN = "t0ken-Abc_123"
WELL_KNOWN = "/.well-known/perimeter-challenge"
EXEMPT = Guard(allowed=(ipaddress.ip_network("127.0.0.0/8"),))


@dataclass
class Lab:
    dns: LocalDNSServer
    site: LocalHTTPServer
    other: LocalHTTPServer

    def checker(self, guard: Guard = EXEMPT) -> ChallengeChecker:
        resolver = build_resolver([DnsServer.parse(self.dns.address)], 2.0)
        return ChallengeChecker(DnsTxtLookup(resolver), DnsResolver(resolver), guard, https_port=self.site.port)

    def serve(self, route: Response) -> None:
        self.site.routes[WELL_KNOWN] = route


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(Path(tmp_path_factory.mktemp("targets-ca")))


@pytest.fixture(scope="module")
def servers(test_ca: TestCA) -> Iterator[Lab]:
    site = LocalHTTPServer(loopback_address(), ssl_context=server_context(test_ca.issue(SITE))).start()
    other = LocalHTTPServer(loopback_address(), port=site.port, ssl_context=server_context(test_ca.issue(OTHER)),
                            default=Response(200, [], TOKEN.encode())).start()
    dns = LocalDNSServer({}).start()
    try:
        yield Lab(dns, site, other)
    finally:
        dns.stop()
        site.stop()
        other.stop()


@pytest.fixture
def lab(servers: Lab, test_ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> Lab:
    """The module's servers, reset: the zone names both sites, no route is served, no request seen."""
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca.ca_file))
    servers.dns.resolver.zone.clear()
    servers.dns.resolver.update({SITE: [("A", servers.site.host)], OTHER: [("A", servers.other.host)]})
    for server in (servers.site, servers.other):
        server.routes.clear()
        server.requests.clear()
        server.connections = server.handshake_failures = 0
    return servers


# -- DNS ------------------------------------------------------------------------------------------

def test_the_txt_record_proves_control_without_a_request_to_the_site(lab: Lab) -> None:
    lab.dns.resolver.update({f"_perimeter-challenge.{SITE}": [("TXT", "unrelated"),
                                                              ("TXT", f"perimeter-challenge={TOKEN}")]})
    report = lab.checker().check(SITE, TOKEN)
    assert report.method is VerificationMethod.DNS and report.http is None
    assert set(report.dns.found) == {"unrelated", f"perimeter-challenge={TOKEN}"}
    assert lab.site.requests == []


def test_a_long_txt_record_split_into_strings_is_read_whole(lab: Lab) -> None:
    token = "x" * 300
    lab.dns.resolver.update({f"_perimeter-challenge.{SITE}": [("TXT", f"perimeter-challenge={token}")]})
    assert lab.checker().check_dns(SITE, token).passed


def test_without_the_record_the_values_found_are_reported_and_the_file_is_tried(lab: Lab) -> None:
    lab.dns.resolver.update({f"_perimeter-challenge.{SITE}": [("TXT", "perimeter-challenge=stale")]})
    report = lab.checker().check(SITE, TOKEN)
    assert report.method is None and report.dns.found == ("perimeter-challenge=stale",)
    assert report.dns.conclusive and report.http is not None and report.http.status == 404
    assert [r.path for r in lab.site.requests] == [WELL_KNOWN]


def test_no_record_at_all_is_an_empty_answer_and_a_servfail_an_outage(lab: Lab) -> None:
    assert lab.checker().check_dns(SITE, TOKEN).found == ()
    lab.dns.resolver.update({f"_perimeter-challenge.{SITE}": [("RCODE", "SERVFAIL")]})
    evidence = lab.checker().check_dns(SITE, TOKEN)
    assert not evidence.passed and not evidence.conclusive and evidence.error


# -- HTTPS well-known file ------------------------------------------------------------------------

def test_the_well_known_file_with_the_token_proves_control(lab: Lab) -> None:
    lab.serve(Response(200, [("Content-Type", "text/plain")], f"{TOKEN}\n".encode()))
    report = lab.checker().check(SITE, TOKEN)
    assert report.method is VerificationMethod.HTTP
    seen = lab.site.requests[0]
    assert seen.path == WELL_KNOWN and seen.headers["host"] == f"{SITE}:{lab.site.port}"


def test_a_wrong_token_fails_and_says_so(lab: Lab) -> None:
    lab.serve(Response(200, [], b"another-organizations-token"))
    http = lab.checker().check_http(SITE, TOKEN)
    assert not http.passed and http.conclusive and http.status == 200 and "not this target's token" in str(http.error)


def test_a_404_fails_with_its_status(lab: Lab) -> None:
    http = lab.checker().check_http(SITE, TOKEN)
    assert (http.passed, http.status, http.conclusive) == (False, 404, True)


def test_a_redirect_to_another_host_is_never_followed(lab: Lab) -> None:
    lab.serve(Response(302, [("Location", f"https://{OTHER}:{lab.other.port}{WELL_KNOWN}")]))
    http = lab.checker().check_http(SITE, TOKEN)
    assert not http.passed and http.status == 302 and "never followed" in str(http.error)
    assert lab.other.requests == [] and lab.other.connections == 0


def test_a_redirect_to_plain_http_on_the_same_host_is_never_followed(lab: Lab) -> None:
    lab.serve(Response(301, [("Location", f"http://{SITE}:{lab.site.port}{WELL_KNOWN}")]))
    assert not lab.checker().check_http(SITE, TOKEN).passed
    assert len(lab.site.requests) == 1


def test_a_redirect_inside_the_origin_is_followed(lab: Lab) -> None:
    lab.serve(Response(301, [("Location", "/challenge.txt")]))
    lab.site.routes["/challenge.txt"] = Response(200, [], TOKEN.encode())
    http = lab.checker().check_http(SITE, TOKEN)
    assert http.passed and http.hops == ("/challenge.txt",)


def test_a_body_over_4_kb_is_cut_and_refused(lab: Lab) -> None:
    lab.serve(Response(200, [], TOKEN.encode() + b" " * 5000))
    http = lab.checker().check_http(SITE, TOKEN)
    assert not http.passed and "4096 bytes" in str(http.error)


def test_an_address_outside_the_allow_list_is_refused_before_connecting(lab: Lab) -> None:
    lab.serve(Response(200, [], TOKEN.encode()))
    http = lab.checker(Guard()).check_http(SITE, TOKEN)  # nothing exempt: loopback is refused
    assert not http.passed and http.conclusive and "target guard" in str(http.error)
    assert lab.site.connections == 0 and lab.site.handshake_failures == 0


def test_a_certificate_for_another_name_is_a_tls_failure(lab: Lab) -> None:
    lab.dns.resolver.update({"alias.perimeter.test": [("A", lab.site.host)]})
    lab.serve(Response(200, [], TOKEN.encode()))
    http = lab.checker().check_http("alias.perimeter.test", TOKEN)
    assert not http.passed and not http.conclusive and str(http.error).startswith("tls")


def test_a_name_that_does_not_exist_is_conclusive(lab: Lab) -> None:
    http = lab.checker().check_http("gone.perimeter.test", TOKEN)
    assert not http.passed and http.conclusive and "NXDOMAIN" in str(http.error)
