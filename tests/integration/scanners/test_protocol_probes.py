"""The per-service protocol probes against loopback doubles (tests/support/services.py): each finding and
its clean case, what each probe sent, and that a guard-refused address is never connected to."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.identify.model import HttpFacts, Service
from chalicelib.scanners.protocols import (
    PROTOCOL_CHECKS,
    check_elasticsearch,
    check_ftp,
    check_memcached,
    check_mongodb,
    check_redis,
    check_ssh,
)
from chalicelib.scans.models import Finding, Severity, SignalKey
from tests.support.lab import Lab
from tests.support.services import (
    FtpServer,
    MemcachedServer,
    MongoServer,
    ProtocolServer,
    RedisServer,
    SshServer,
    elasticsearch_server,
)

Check = Callable[[Service, ScanContext], list[Finding]]


@pytest.fixture
def serve() -> Iterator[Callable[[Any], Any]]:
    """Start a double for the test and stop it afterwards."""
    started: list[Any] = []

    def start(server: Any) -> Any:
        started.append(server.start())
        return server

    yield start
    for server in started:
        server.stop()


def ctx(lab: Lab, exempt: bool = True) -> ScanContext:
    return lab.context("good.test", exempt=exempt)


def on(server: ProtocolServer, name: str) -> Service:
    return Service(server.host, server.port, name)


def test_anonymous_ftp_login_is_a_high_finding_with_banner_and_directory(lab: Lab, serve: Any) -> None:
    server = serve(FtpServer(anonymous=True))
    [finding] = check_ftp(on(server, "ftp"), ctx(lab))
    assert (finding.code, finding.signal, finding.severity) == ("ftp-anonymous", SignalKey.SCAN, Severity.HIGH)
    assert "vsFTPd 3.0.3" in finding.evidence["banner"] and finding.evidence["pwd"] == "/pub"
    assert finding.cwe and finding.remediation
    assert [c.split(" ")[0] for c in server.wait_idle().commands] == ["USER", "PASS", "PWD", "QUIT"]  # nothing listed


def test_an_ftp_server_refusing_anonymous_has_no_finding(lab: Lab, serve: Any) -> None:
    server = serve(FtpServer(anonymous=False))
    assert check_ftp(on(server, "ftp"), ctx(lab)) == []
    assert server.accepted == 1 and not any(c.startswith("PWD") for c in server.wait_idle().commands)


def test_redis_answering_info_without_a_password_is_critical(lab: Lab, serve: Any) -> None:
    server = serve(RedisServer(version="5.0.7"))
    [finding] = check_redis(on(server, "redis"), ctx(lab))
    assert (finding.code, finding.severity) == ("datastore-unauthenticated", Severity.CRITICAL)
    assert (finding.product, finding.version) == ("Redis", "5.0.7")
    assert finding.evidence["info_server"]["redis_mode"] == "standalone"
    assert "executable" not in finding.evidence["info_server"]  # paths are not kept
    assert server.wait_idle().commands == ["INFO server", "QUIT"]


def test_redis_with_requirepass_has_no_finding(lab: Lab, serve: Any) -> None:
    server = serve(RedisServer(password="s3cret"))
    assert check_redis(on(server, "redis"), ctx(lab)) == []
    assert server.wait_idle().commands == ["INFO server", "QUIT"]


def test_memcached_answering_version_is_critical_and_sasl_is_clean(lab: Lab, serve: Any) -> None:
    open_server = serve(MemcachedServer(version="1.4.15"))
    [finding] = check_memcached(on(open_server, "memcache"), ctx(lab))
    assert (finding.product, finding.version, finding.severity) == ("memcached", "1.4.15", Severity.CRITICAL)
    assert open_server.wait_idle().commands == ["version", "quit"]
    closed = serve(MemcachedServer(auth=True))
    assert check_memcached(on(closed, "memcached"), ctx(lab)) == []


def test_mongodb_running_an_auth_only_command_is_critical(lab: Lab, serve: Any) -> None:
    server = serve(MongoServer(auth=False, version="4.4.29"))
    [finding] = check_mongodb(on(server, "mongodb"), ctx(lab))
    assert (finding.code, finding.product, finding.version) == ("datastore-unauthenticated", "MongoDB", "4.4.29")
    assert finding.evidence["protocol"] == "OP_MSG" and finding.evidence["auth_state"] == "open"
    assert server.wait_idle().commands == ["hello", "buildInfo", "getParameter"]  # never listDatabases or find


def test_mongodb_requiring_authentication_has_no_finding(lab: Lab, serve: Any) -> None:
    server = serve(MongoServer(auth=True))
    assert check_mongodb(on(server, "mongodb"), ctx(lab)) == []
    assert server.wait_idle().commands == ["hello", "buildInfo", "getParameter"]


def test_a_pre_op_msg_mongodb_is_probed_over_op_query(lab: Lab, serve: Any) -> None:
    server = serve(MongoServer(auth=False, version="3.2.22", legacy=True))
    [finding] = check_mongodb(on(server, "mongodb"), ctx(lab))
    assert finding.version == "3.2.22" and finding.evidence["protocol"] == "OP_QUERY"
    assert server.accepted == 2


def test_elasticsearch_banner_without_credentials_is_critical(lab: Lab, serve: Any) -> None:
    server = serve(elasticsearch_server(open_access=True, version="6.8.23"))
    [finding] = check_elasticsearch(Service(server.host, server.port, "elasticsearch"), ctx(lab))
    assert (finding.product, finding.version, finding.severity) == ("Elasticsearch", "6.8.23", Severity.CRITICAL)
    assert finding.evidence["banner"]["cluster_name"] == "prod-logs"
    assert [r.path for r in server.requests] == ["/"]


def test_elasticsearch_answering_401_has_no_finding(lab: Lab, serve: Any) -> None:
    server = serve(elasticsearch_server(open_access=False))
    assert check_elasticsearch(Service(server.host, server.port, "elasticsearch"), ctx(lab)) == []
    assert len(server.requests) == 1


def test_an_opensearch_root_page_seen_by_identification_needs_no_new_request(lab: Lab, serve: Any) -> None:
    server = serve(elasticsearch_server(open_access=True, version="2.11.0", distribution="opensearch"))
    body = '{"cluster_name": "c", "version": {"number": "2.11.0", "distribution": "opensearch"}}'
    facts = HttpFacts(url=f"http://{server.host}:{server.port}/", status=200, headers={}, body=body)
    [finding] = check_elasticsearch(Service(server.host, server.port, "http", http=facts), ctx(lab))
    assert (finding.product, finding.evidence["seen_by"]) == ("OpenSearch", "identification")
    assert server.requests == []


def test_ssh_weak_algorithms_are_a_low_finding_naming_them(lab: Lab, serve: Any) -> None:
    server = serve(SshServer(kex=["diffie-hellman-group14-sha1", "curve25519-sha256"], hostkey=["ssh-rsa"],
                             ciphers=["aes128-ctr", "aes128-cbc"], macs=["hmac-sha2-256", "hmac-md5"]))
    [finding] = check_ssh(on(server, "ssh"), ctx(lab))
    assert (finding.code, finding.severity) == ("ssh-weak-algorithms", Severity.LOW)
    for name in ("diffie-hellman-group14-sha1", "ssh-rsa", "aes128-cbc", "hmac-md5"):
        assert name in finding.detail
    assert (finding.product, finding.version) == ("OpenSSH", "7.4")
    assert finding.evidence["banner"] == "SSH-2.0-OpenSSH_7.4"
    assert server.wait_idle().commands == ["SSH-2.0-PerimeterScanner_1.0"]


def test_ssh_with_modern_algorithms_only_has_no_finding(lab: Lab, serve: Any) -> None:
    server = serve(SshServer(kex=["curve25519-sha256"], hostkey=["ssh-ed25519", "rsa-sha2-512", "ssh-rsa"],
                             ciphers=["aes256-gcm@openssh.com"], macs=["hmac-sha2-512-etm@openssh.com"],
                             ident="SSH-2.0-OpenSSH_9.6"))
    assert check_ssh(on(server, "ssh"), ctx(lab)) == []
    assert server.accepted == 1


DOUBLES: list[tuple[Check, Callable[[], Any], str]] = [
    (check_ftp, lambda: FtpServer(anonymous=True), "ftp"),
    (check_redis, lambda: RedisServer(), "redis"),
    (check_memcached, lambda: MemcachedServer(), "memcached"),
    (check_mongodb, lambda: MongoServer(auth=False), "mongodb"),
    (check_elasticsearch, lambda: elasticsearch_server(open_access=True), "elasticsearch"),
    (check_ssh, lambda: SshServer(["diffie-hellman-group1-sha1"], ["ssh-dss"], ["3des-cbc"], ["hmac-md5"]), "ssh"),
]


@pytest.mark.parametrize(("check", "make", "name"), DOUBLES, ids=[d[2] for d in DOUBLES])
def test_a_guard_refused_address_is_never_connected_to(lab: Lab, serve: Any, check: Check,
                                                       make: Callable[[], Any], name: str) -> None:
    server = serve(make())
    service = Service(server.host, server.port, name)
    assert check(service, ctx(lab, exempt=False)) == []
    assert (server.connections if hasattr(server, "connections") else server.accepted) == 0
    assert check(service, ctx(lab)) != []  # the same double, guard exemption on: the probe does connect


@pytest.mark.parametrize("check", PROTOCOL_CHECKS, ids=[c.__name__ for c in PROTOCOL_CHECKS])
def test_a_probe_ignores_services_it_does_not_handle(lab: Lab, check: Check) -> None:
    assert check(Service("127.0.0.1", 1, "http"), ctx(lab)) == []


@pytest.mark.parametrize("check", PROTOCOL_CHECKS, ids=[c.__name__ for c in PROTOCOL_CHECKS])
def test_a_closed_port_is_no_finding_and_no_error(lab: Lab, check: Check) -> None:
    for name in ("ftp", "ssh", "redis", "mongodb", "elasticsearch", "memcached"):
        assert check(Service(lab.tlslab, 1, name), ctx(lab)) == []
