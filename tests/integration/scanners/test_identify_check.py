"""Identification against fake products on loopback: product, version and CPE of each port, the scan check's
findings carrying them, self-signed HTTPS, the target guard, and the built-in table without nmap's file."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import random
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.core.addresses import parse_self_endpoints
from chalicelib.scanners import open_ports as ports
from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.identify import Service, fetch_http_facts, identify_services
from chalicelib.scanners.identify.engine import Plan, exchange
from chalicelib.scanners.identify.fingerprints import NMAP_PROBES
from chalicelib.scanners.identify.probes import Identity, ProbeSet, parse_probe_file
from chalicelib.scans.models import SignalStatus
from tests.support.banners import PRODUCTS, BannerServer, Reply, http_reply
from tests.support.httpserver import LocalHTTPServer, Response
from tests.support.lab import Lab
from tests.support.tlsserver import server_context

# The products on their usual ports (probe selection is by port, as in a real scan).
STANDARD = {"openssh-9.2": 22, "openssh-7.4": 2222, "vsftpd": 21, "proftpd": 2121, "exim": 25, "postfix": 587,
            "ms-esmtp": 2525, "apache": 80, "nginx": 8080, "iis": 8000, "mysql": 3306, "postgresql": 5432,
            "redis": 6379, "memcached": 11211, "elasticsearch": 9200, "mongodb": 27017, "rdp": 3389, "vnc": 5900,
            "smb": 445, "telnet": 23, "mssql": 1433}
needs_probe_file = pytest.mark.skipif(not Path(NMAP_PROBES).is_file(), reason="nmap-service-probes is not installed")
needs_nmap = pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")


@dataclasses.dataclass
class Products:
    address: str
    servers: dict[str, BannerServer]

    def port(self, name: str) -> int:
        return self.servers[name].port


@pytest.fixture(scope="module")
def products() -> Iterator[Products]:
    """Every fake product on its usual port of one random loopback address (skips without root)."""
    address = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    servers: dict[str, BannerServer] = {}
    try:
        for name, port in STANDARD.items():
            servers[name] = BannerServer(address, PRODUCTS[name][0], port).start()
    except OSError as exc:
        for server in servers.values():
            server.stop()
        pytest.skip(f"the products need their usual ports on {address}: {exc}")
    yield Products(address, servers)
    for server in servers.values():
        server.stop()


@pytest.fixture(scope="module")
def identified(products: Products, lab: Lab) -> dict[str, dict[int, Service]]:
    """identify_services over every product once with nmap's file and once with the built-in table."""
    results: dict[str, dict[int, Service]] = {}
    for source, path in (("nmap", NMAP_PROBES), ("builtin", None)):
        ctx = lab.context("bad.test", service_probes=path)
        results[source] = {s.port: s for s in identify_services(products.address, list(STANDARD.values()), ctx)}
    return results


@needs_probe_file
@pytest.mark.parametrize("name", sorted(STANDARD))
def test_each_product_is_named_with_its_version_and_cpe(name: str, products: Products,
                                                       identified: dict[str, dict[int, Service]]) -> None:
    expected = PRODUCTS[name][1]
    service = identified["nmap"][products.port(name)]
    assert (service.name, service.product, service.version, service.cpe) == (
        expected.service, expected.product, expected.version, expected.cpe)
    assert service.method in ("banner", "probe")


@pytest.mark.parametrize(("name", "product", "version"), [
    ("openssh-9.2", "OpenSSH", "9.2p1"), ("vsftpd", "vsftpd", "2.3.4"), ("exim", "Exim smtpd", "4.89"),
    ("nginx", "nginx", "1.18.0"), ("apache", "Apache httpd", "2.4.49"), ("iis", "Microsoft IIS httpd", "8.5"),
    ("mysql", "MySQL", "5.5.62"), ("redis", "Redis key-value store", "6.0.9"), ("memcached", "Memcached", "1.6.9"),
    ("elasticsearch", "Elasticsearch REST API", "7.10.2"), ("mongodb", "MongoDB", "4.4.6"),
    ("mssql", "Microsoft SQL Server", "15.0.2000"), ("postgresql", "PostgreSQL DB", None),
    ("rdp", "Microsoft Terminal Services", None), ("vnc", "VNC", None),
])
def test_without_nmaps_file_the_builtin_table_still_names_the_products(
        name: str, product: str, version: str | None, products: Products,
        identified: dict[str, dict[int, Service]]) -> None:
    service = identified["builtin"][products.port(name)]
    assert (service.product, service.version) == (product, version)


def test_the_banner_is_kept_as_printable_text(products: Products, identified: dict[str, dict[int, Service]]) -> None:
    assert identified["builtin"][products.port("vsftpd")].banner == "220 (vsFTPd 2.3.4)"
    assert identified["builtin"][products.port("apache")].http is not None


def test_http_ports_get_their_facts_and_secondary_software(products: Products,
                                                          identified: dict[str, dict[int, Service]]) -> None:
    iis = identified["builtin"][products.port("iis")]
    assert iis.http is not None and iis.http.status == 200 and iis.http.title == "It works"
    assert iis.http.headers["server"] == "Microsoft-IIS/8.5"
    assert [s.product for s in iis.software] == ["Microsoft ASP.NET"]


def test_the_scan_check_findings_carry_the_identification(products: Products, lab: Lab) -> None:
    wanted = [products.port(n) for n in ("openssh-7.4", "vsftpd", "redis")]
    ctx = lab.context("bad.test", ports=",".join(map(str, wanted)), use_nmap=False)
    result = ports.run(products.address, ctx)
    assert result.status is SignalStatus.COMPLETE
    found = {f.evidence["port"]: f for f in result.findings if f.code in {*ports.RISKY_PORTS.values(), "open-port"}}
    ssh = found[products.port("openssh-7.4")]
    assert (ssh.code, ssh.product, ssh.version, ssh.cpe) == ("ssh-exposed", "OpenSSH", "7.4",
                                                             "cpe:/a:openbsd:openssh:7.4")
    assert ssh.evidence["banner"] == "SSH-2.0-OpenSSH_7.4" and ssh.evidence["identified_by"] == "banner"
    ftp = found[products.port("vsftpd")]
    assert (ftp.code, ftp.product, ftp.version) == ("ftp-exposed", "vsftpd", "2.3.4")
    redis = found[products.port("redis")]
    assert redis.code == "database-exposed" and redis.version == "6.0.9" and redis.evidence["identified_by"] == "probe"
    # The identification feeds the intel checks: vsftpd 2.3.4 is the backdoored release.
    backdoor = [f for f in result.findings if f.code == "critical-vulnerable-version"]
    assert [(f.product, f.version, f.cve) for f in backdoor] == [("vsftpd", "2.3.4", "CVE-2011-2523")]
    assert result.intel_version and "+rules." in result.intel_version


def test_a_guard_refused_address_is_never_connected_to(products: Products, lab: Lab) -> None:
    server = products.servers["openssh-9.2"]
    before = server.accepted
    ctx = lab.context("bad.test", exempt=False)
    [service] = identify_services(products.address, [server.port], ctx)
    assert server.accepted == before
    assert (service.product, service.method, service.extra.get("guard")) == (None, "port", "refused")


def test_the_systems_own_socket_is_never_connected_to(products: Products, lab: Lab) -> None:
    own, other = products.servers["openssh-9.2"], products.servers["vsftpd"]
    before = own.accepted
    ctx = dataclasses.replace(lab.context("bad.test"),
                              self_endpoints=parse_self_endpoints(f"{products.address}:{own.port}"))
    services = {s.port: s for s in identify_services(products.address, [own.port, other.port], ctx)}
    assert own.accepted == before and services[own.port].product is None
    assert services[other.port].product == "vsftpd"


def test_a_silent_port_comes_back_unnamed(lab: Lab) -> None:
    silent = BannerServer(lab.bad, PRODUCTS["rdp"][0]).start()  # answers only RDP requests, on an odd port
    try:
        [service] = identify_services(lab.bad, [silent.port], lab.context("bad.test", identify_budget=2.0))
    finally:
        silent.stop()
    assert service.product is None and service.method == "port"


@needs_nmap
def test_service_detection_asks_nmap_about_ports_still_unnamed(lab: Lab) -> None:
    rdp = BannerServer(lab.bad, PRODUCTS["rdp"][0]).start()
    try:
        ctx = lab.context("bad.test", service_detection=True, identify_budget=2.0, nmap_version_timeout=20)
        [service] = identify_services(lab.bad, [rdp.port], ctx)
    finally:
        rdp.stop()
    assert (service.product, service.method) == ("Microsoft Terminal Services", "nmap")


@pytest.fixture(scope="module")
def appliance(lab: Lab) -> Iterator[tuple[LocalHTTPServer, bytes]]:
    """An HTTPS portal with a self-signed certificate, a Server header, a title and a favicon."""
    icon = b"\x00\x00\x01\x00fake-icon"
    cert = lab.ca.issue("vpn.appliance.test", ["vpn.appliance.test"], self_signed=True)
    page = Response(200, [("Server", "Apache/2.4.49 (Unix)"), ("Content-Type", "text/html")],
                    b"<html><title>SSL VPN Portal</title></html>")
    server = LocalHTTPServer(lab.bad, routes={
        "/": page, "/favicon.ico": Response(200, [("Content-Type", "image/x-icon")], icon),
        "/remote/login": Response(200, [("Content-Type", "text/html")], b"<title>Please Login</title>"),
    }, ssl_context=server_context(cert)).start()
    yield server, icon
    server.stop()


def test_a_self_signed_https_portal_is_still_identified(appliance: tuple[LocalHTTPServer, bytes], lab: Lab) -> None:
    server, icon = appliance
    [service] = identify_services(lab.bad, [server.port], lab.context("bad.test"))
    assert service.name == "https" and service.extra.get("tls") == "true"
    assert (service.product, service.version) == ("Apache httpd", "2.4.49")
    facts = service.http
    assert facts is not None and facts.tls and facts.title == "SSL VPN Portal"
    assert facts.cert_subject == "O=Perimeter tests,CN=vpn.appliance.test"
    assert facts.cert_names == ("vpn.appliance.test",)
    assert facts.favicon_md5 == hashlib.md5(icon, usedforsecurity=False).hexdigest()


def test_fetch_http_facts_gets_one_path_of_a_service(appliance: tuple[LocalHTTPServer, bytes], lab: Lab) -> None:
    server, _ = appliance
    service = Service(lab.bad, server.port, "https", extra={"tls": "true"})
    facts = fetch_http_facts(service, "/remote/login", lab.context("bad.test"))
    assert facts is not None and (facts.status, facts.title) == (200, "Please Login")
    assert facts.url == f"https://{lab.bad}:{server.port}/remote/login"
    assert server.requests[-1].path == "/remote/login"


def test_fetch_http_facts_is_refused_by_the_guard_without_connecting(appliance: tuple[LocalHTTPServer, bytes],
                                                                    lab: Lab) -> None:
    server, _ = appliance
    before = len(server.requests)
    service = Service(lab.bad, server.port, "https", extra={"tls": "true"})
    assert fetch_http_facts(service, "/", lab.context("bad.test", exempt=False)) is None
    assert len(server.requests) == before


def test_a_host_name_is_sent_as_sni_and_host_header(appliance: tuple[LocalHTTPServer, bytes], lab: Lab) -> None:
    server, _ = appliance
    service = Service(lab.bad, server.port, "https", extra={"tls": "true"}, host="bad.test")
    facts = fetch_http_facts(service, "/", lab.context("bad.test"))
    assert facts is not None and facts.url.startswith("https://bad.test:")
    assert server.requests[-1].headers["host"] == f"bad.test:{server.port}"


def test_identification_needs_an_ip_address(lab: Lab) -> None:
    with pytest.raises(ValueError):
        identify_services("bad.test", [22], ScanContext(resolver=lab.context("bad.test").resolver))


PAUSED = "Probe TCP NULL q||\nmatch ftp m|^220 part two ok| p/Two/\nProbe TCP Hello q|HELLO\\r\\n|\n" \
         "match ftp m|^220 part two ok| p/Two/\n"


def test_a_pause_ends_the_answer_to_a_probe_but_never_the_greeting(lab: Lab) -> None:
    probes = ProbeSet(parse_probe_file(PAUSED), "test")

    async def talk(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"220 part")
        await asyncio.sleep(0.4)
        writer.write(b" two ok\r\n")
        await writer.drain()
        writer.close()

    async def scenario() -> list[tuple[bytes, Identity | None] | None]:
        server = await asyncio.start_server(talk, lab.bad, 0)
        port = server.sockets[0].getsockname()[1]
        plan = Plan(wait=1.5, connect_timeout=1.0, max_probes=1, max_rarity=9, deadline=time.monotonic() + 6,
                    idle=0.2)
        try:
            return [await exchange(lab.bad, port, probe, probes, plan) for probe in probes.probes]
        finally:
            server.close()

    greeting, answer = asyncio.run(scenario())
    assert greeting is not None and greeting[0] == b"220 part two ok\r\n"
    assert greeting[1] is not None and greeting[1].product == "Two"
    assert answer == (b"220 part", None)


@needs_probe_file
def test_an_http_port_no_rule_knows_is_named_by_its_server_header_and_spared_binary_probes(lab: Lab) -> None:
    received: list[bytes] = []
    answer = http_reply([("Server", "Wonder-Front 7"), ("Content-Type", "text/html")])

    def recording(request: bytes) -> bytes | None:
        received.append(request)
        return answer(request)

    try:
        server = BannerServer(lab.bad, Reply(answer=recording), 8000).start()  # nmap lists binary X11Probe here
    except OSError as exc:
        pytest.skip(f"port 8000 of {lab.bad} is taken: {exc}")
    try:
        [service] = identify_services(lab.bad, [server.port], lab.context("bad.test"))
    finally:
        server.stop()
    assert (service.product, service.version, service.cpe, service.method) == ("Wonder-Front 7", None, None, "http")
    assert b"\r\n\r\n" in received and any(r.startswith(b"GET /nice%20ports") for r in received)
    assert not any(r.startswith(b"\x6c\x00\x0b") for r in received)  # X11Probe, a binary request
