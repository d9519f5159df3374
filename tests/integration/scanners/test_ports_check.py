"""Signal `scan` against real loopback listeners, with nmap and with the built-in scanner."""

from __future__ import annotations

import shutil

import pytest

from chalicelib.scanners import open_ports as ports
from chalicelib.scans.models import Finding, Severity, SignalResult, SignalStatus
from chalicelib.scans.options import parse_port_spec
from tests.support.httpserver import RawListener
from tests.support.lab import Lab

needs_nmap = pytest.mark.skipif(shutil.which("nmap") is None, reason="nmap is not installed")


PORT_CODES = {*ports.RISKY_PORTS.values(), "open-port"}


def by_port(result: SignalResult) -> dict[int, Finding]:
    """The one finding per open port (the exposure checks' findings about the same ports left out)."""
    return {f.evidence["port"]: f for f in result.findings if f.code in PORT_CODES}


def need_listeners(lab: Lab, *wanted: int) -> None:
    missing = [p for p in wanted if p not in lab.listeners]
    if missing:
        pytest.skip(f"ports {missing} are taken on this machine")


@pytest.mark.parametrize("use_nmap", [pytest.param(True, marks=needs_nmap), False], ids=["nmap", "builtin"])
def test_exposed_database_docker_and_vnc_are_found_by_severity(lab: Lab, use_nmap: bool) -> None:
    need_listeners(lab, 6379, 2375, 5900)
    result = ports.run("bad.test", lab.context("bad.test", use_nmap=use_nmap))
    assert result.status is SignalStatus.COMPLETE
    found = by_port(result)
    assert found[6379].code == "database-exposed" and found[6379].severity is Severity.HIGH
    assert found[2375].code == "docker-api-exposed" and found[2375].severity is Severity.CRITICAL
    assert found[5900].code == "vnc-exposed"
    assert 3306 not in found  # nothing listens there
    assert found[6379].evidence["scanner"] == ("nmap" if use_nmap else "builtin")
    assert found[6379].evidence["addresses"] == [lab.bad]


@needs_nmap
def test_nmap_and_builtin_scanner_report_the_same_open_ports(lab: Lab) -> None:
    spec = lab.port_set("bad.test") + ",1-300"
    addresses = [lab.bad]
    wanted = parse_port_spec(spec)
    assert ports.scan_nmap(addresses, wanted) == ports.scan_builtin(addresses, wanted)


def test_a_well_configured_host_shows_only_its_web_ports(lab: Lab) -> None:
    result = ports.run("good.test", lab.context("good.test", use_nmap=False))
    assert {(f.code, f.evidence["port"]) for f in result.findings} == {
        ("open-port", lab.https_ports["good.test"]), ("open-port", lab.http_ports["good.test"])}


def test_every_open_port_is_identified_without_asking(lab: Lab) -> None:
    need_listeners(lab, 6379, 5900)
    result = ports.run("bad.test", lab.context("bad.test", use_nmap=False))
    found = by_port(result)
    assert found[5900].evidence["banner"] == "RFB 003.008"  # server speaks first
    assert (found[5900].product, found[5900].evidence["identified_by"]) == ("VNC", "banner")
    assert found[6379].evidence["banner"].startswith("-ERR unknown command")  # answers a probe
    assert found[6379].evidence["identified_by"] in ("probe", "port")


@pytest.mark.parametrize("use_nmap", [pytest.param(True, marks=needs_nmap), False], ids=["nmap", "builtin"])
def test_without_the_private_exemption_nothing_is_scanned(lab: Lab, use_nmap: bool) -> None:
    listener = RawListener(lab.bad, 0).start()
    try:
        ctx = lab.context("bad.test", exempt=False, ports=str(listener.port), use_nmap=use_nmap)
        result = ports.run("bad.test", ctx)
    finally:
        listener.stop()
    assert result.status is SignalStatus.NOT_TESTED
    assert "target guard" in (result.error or "") and lab.bad in (result.error or "")
    assert listener.accepted == 0


def test_a_name_without_addresses_is_not_tested(lab: Lab) -> None:
    result = ports.run("mailonly.test", lab.context("mailonly.test"))
    assert result.status is SignalStatus.NOT_TESTED and "no A or AAAA" in (result.error or "")


def test_a_failing_resolver_is_an_error(lab: Lab) -> None:
    result = ports.run("servfail.test", lab.context("servfail.test"))
    assert result.status is SignalStatus.ERROR


def test_builtin_scanner_drops_tcp_self_connects(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """A connect whose local and peer address are equal (simultaneous open) is not an open port."""
    import socket as socket_module

    listener = RawListener(lab.bad, 0).start()
    real = socket_module.socket.getsockname

    def same_as_peer(self):  # pretend the kernel paired us with ourselves
        return self.getpeername() if self.type == socket_module.SOCK_STREAM else real(self)

    try:
        assert ports.scan_builtin([lab.bad], [listener.port]) == {lab.bad: [listener.port]}
        monkeypatch.setattr(socket_module.socket, "getsockname", same_as_peer)
        assert ports.scan_builtin([lab.bad], [listener.port]) == {lab.bad: []}
    finally:
        monkeypatch.undo()
        listener.stop()
