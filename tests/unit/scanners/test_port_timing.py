"""The `timing` scan option (T0-T5): accepted by /v1, carried to the scanner, nmap's -T<n> and the built-in pace."""

from __future__ import annotations

import socket
import subprocess
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.core.settings import Settings
from chalicelib.scanners import open_ports
from chalicelib.scanners.base import ScanContext
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import ScanOptions
from chalicelib.scans.service import pipeline_input
from tests.conftest import PEPPER
from tests.unit.reports.factories import make_scan

TIMED_OUT_XML = """<?xml version="1.0" encoding="UTF-8"?>
<nmaprun scanner="nmap" version="7.93">
<host starttime="1" endtime="2" timedout="true"><status state="up" reason="user-set"/>
<address addr="127.0.0.1" addrtype="ipv4"/><hostnames/></host>
</nmaprun>"""

OPEN_XML = """<?xml version="1.0" encoding="UTF-8"?>
<nmaprun scanner="nmap" version="7.93"><host><status state="up"/><address addr="127.0.0.1" addrtype="ipv4"/>
<ports><port protocol="tcp" portid="22"><state state="open"/></port></ports></host></nmaprun>"""


def _ctx(**fields: Any) -> ScanContext:
    return ScanContext.from_settings(Settings.from_env({}, key_pepper=PEPPER), **fields)


@pytest.mark.parametrize("timing", ["T0", "T1", "T2", "T3", "T4", "T5"])
def test_every_nmap_template_is_accepted_by_v1_and_reaches_the_scanner_context(timing: str) -> None:
    command = CreateScan.model_validate({"target": "example.com", "scan_type": "ports",
                                         "options": {"ports": "22", "timing": timing}})
    assert command.options.timing == timing
    ctx = ScanContext.from_settings(Settings.from_env({}, key_pepper=PEPPER), command.options)
    assert ctx.timing == timing


@pytest.mark.parametrize("timing", ["T6", "t4", "4", "aggressive", ""])
def test_other_timings_are_refused_naming_the_option(timing: str) -> None:
    with pytest.raises(ValidationError, match=r"options\.timing"):
        CreateScan.model_validate({"target": "example.com", "scan_type": "ports", "options": {"timing": timing}})


def test_the_pipeline_input_carries_the_timing_and_the_scanner_reads_it_back() -> None:
    scan = make_scan().model_copy(update={"options": ScanOptions(ports="80", timing="T2")})
    options = pipeline_input(scan)["options"]
    assert options["timing"] == "T2"
    assert ScanOptions.model_validate(options).timing == "T2"
    assert "timing" not in pipeline_input(make_scan())["options"]  # unset stays unset (nmap's -T4)


def test_nmap_gets_minus_t_of_the_timing_and_t4_by_default() -> None:
    assert "-T4" in open_ports.nmap_command(["127.0.0.1"], [22])
    for timing in ("T0", "T3", "T5"):
        cmd = open_ports.nmap_command(["127.0.0.1"], [22], timing=timing)
        assert f"-{timing}" in cmd and "-T4" not in cmd
    with pytest.raises(ValueError, match="unknown timing"):
        open_ports.nmap_command(["127.0.0.1"], [22], timing="T9")


def test_the_scan_passes_the_contexts_timing_to_nmap(monkeypatch: pytest.MonkeyPatch) -> None:
    argvs: list[list[str]] = []

    def fake_run(argv: list[str], **_: Any) -> subprocess.CompletedProcess[str]:
        argvs.append(argv)
        return subprocess.CompletedProcess(argv, 0, OPEN_XML, "")

    monkeypatch.setattr(open_ports.shutil, "which", lambda _: "/usr/bin/nmap")
    monkeypatch.setattr(open_ports.subprocess, "run", fake_run)
    found, scanner = open_ports.scan_open_ports([open_ports.ipaddress.ip_address("127.0.0.1")], [22],
                                                _ctx(timing="T2"))
    assert (found, scanner) == ({"127.0.0.1": [22]}, "nmap")
    assert "-T2" in argvs[0] and "-T4" not in argvs[0]


def test_a_host_nmap_timed_out_on_is_not_read_as_nothing_open() -> None:
    with pytest.raises(open_ports.NmapFailed, match="timed out"):
        open_ports.parse_nmap_xml(TIMED_OUT_XML)


def test_after_an_nmap_host_timeout_the_builtin_scanner_answers(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        monkeypatch.setattr(open_ports.shutil, "which", lambda _: "/usr/bin/nmap")
        monkeypatch.setattr(open_ports.subprocess, "run", lambda argv, **_: subprocess.CompletedProcess(
            argv, 0, TIMED_OUT_XML, ""))
        found, scanner = open_ports.scan_open_ports([open_ports.ipaddress.ip_address("127.0.0.1")], [port],
                                                    _ctx(timing="T1"))
    assert (found, scanner) == ({"127.0.0.1": [port]}, "builtin")


def test_builtin_pace_follows_the_template_and_is_monotonic() -> None:
    assert open_ports.builtin_pace(_ctx()) == (200, 1.5)  # no timing: the context's own settings
    assert open_ports.builtin_pace(_ctx(port_concurrency=7, connect_timeout=0.25)) == (7, 0.25)
    assert open_ports.builtin_pace(_ctx(timing="T4")) == (200, 1.5)
    paces = [open_ports.builtin_pace(_ctx(timing=f"T{n}")) for n in range(6)]
    concurrency = [c for c, _ in paces]
    timeouts = [t for _, t in paces]
    assert concurrency == sorted(concurrency) and len(set(concurrency)) == 6
    assert timeouts == sorted(timeouts, reverse=True) and paces[0] == (1, 5.0)


def test_the_builtin_scanner_runs_at_the_timings_pace(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = open_ports.scan_builtin

    def recording(addresses: list[str], ports: list[int], **kwargs: Any) -> dict[str, list[int]]:
        calls.append(kwargs)
        return real(addresses, ports, **kwargs)

    monkeypatch.setattr(open_ports, "scan_builtin", recording)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        found, scanner = open_ports.scan_open_ports([open_ports.ipaddress.ip_address("127.0.0.1")], [port],
                                                    _ctx(timing="T5", use_nmap=False))
    assert (found, scanner) == ({"127.0.0.1": [port]}, "builtin")
    assert calls == [{"timeout": 0.5, "concurrency": 400}]
