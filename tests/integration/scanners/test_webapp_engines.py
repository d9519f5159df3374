"""wapiti and sqlmap behind the webapp proxy: scope, politeness, findings, and cancel kills them at once."""

from __future__ import annotations

import ipaddress
import os
import random
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import dns.resolver
import pytest

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.webapp import engines
from chalicelib.scanners.webapp.client import USER_AGENT, Limits, Origin, WebClient
from tests.support.vulnapp import VulnApp


@pytest.fixture
def app(tmp_path: Path) -> Iterator[VulnApp]:
    started = VulnApp(f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.7", safe=False,
                      docs=tmp_path / "docs").start()
    yield started
    started.stop()


def client_for(app: VulnApp, *, rate: float = 50, budget: int = 5000, seconds: float = 120) -> WebClient:
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False),
                      allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    return WebClient(Origin.of(app.base + "/"), ctx, Limits(rate, budget, time.monotonic() + seconds), ctx.cancelled)


def group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("tool", ["wapiti", "sqlmap"])
def test_cancel_kills_the_engine_process_group_at_once(app: VulnApp, tool: str) -> None:
    if not engines.available(tool):
        pytest.skip(f"{tool} is not installed")
    client = client_for(app, rate=2)
    procs: list[subprocess.Popen[bytes]] = []
    threading.Timer(2.0, client.cancelled.set).start()
    started = time.monotonic()
    run = engines.run_engine(tool, client, start_path="/", depth=2, excluded=[], on_start=procs.append)
    assert run.ended == "cancelled"
    assert time.monotonic() - started < 4.5  # cancelled at 2 s, polled every 0.1 s, killed with SIGKILL
    assert procs and not group_alive(procs[0].pid)
    assert engines.terminate_all() == 0


def test_terminate_all_kills_a_running_engine(app: VulnApp) -> None:
    if not engines.available("wapiti"):
        pytest.skip("wapiti is not installed")
    client = client_for(app, rate=2)
    procs: list[subprocess.Popen[bytes]] = []
    runs: list[engines.EngineRun] = []
    worker = threading.Thread(target=lambda: runs.append(engines.run_engine(
        "wapiti", client, start_path="/", depth=2, excluded=[], on_start=procs.append)))
    worker.start()
    deadline = time.monotonic() + 5
    while not procs and time.monotonic() < deadline:
        time.sleep(0.05)
    assert engines.terminate_all() == 1
    worker.join(timeout=3)
    assert not worker.is_alive() and not group_alive(procs[0].pid)
    assert runs[0].ended.startswith("finished with exit code")  # killed under it: not a clean finish


def test_wapiti_scans_through_the_proxy_only_politely_and_finds_the_flaws(app: VulnApp) -> None:
    if not engines.available("wapiti"):
        pytest.skip("wapiti is not installed")
    client = client_for(app, rate=40, seconds=90)
    run = engines.run_engine("wapiti", client, start_path="/", depth=3, excluded=["/account/delete"])
    found = {f.code for f in run.findings}
    assert {"xss-reflected", "path-traversal", "open-redirect", "command-injection"} <= found, run.summary()
    assert all(f.evidence["engine"] == "wapiti" and f.evidence["url"].startswith(app.base) for f in run.findings)
    assert app.count("POST", "/account/delete") == 0  # the proxy refused it
    ours = [h for h in app.hits if h.user_agent == USER_AGENT]
    assert len(ours) == client.sent and all(h.user_agent in (USER_AGENT, "Python-urllib/3.11") for h in app.hits)
    assert app.requests_per_second(USER_AGENT) <= 41
