"""Scans through the whole embedded stack: API -> moto Step Functions -> scanner subprocesses -> score -> report.

The targets are loopback sites of the e2e lab (tests/e2e/conftest.py): good.test is configured the
way every check wants it, bad.test gets everything wrong.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.support.lab import Lab
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def auth(stack: RunningStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}


def run_scan(stack: RunningStack, body: dict[str, Any], timeout: float = 60.0) -> dict[str, Any]:
    """Submit and poll until the scan is terminal; returns the final scan view."""
    created = requests.post(f"{stack.base_url}/v1/scans", headers=auth(stack), json=body, timeout=10)
    assert created.status_code == 202, created.text
    url = created.json()["status_url"]
    deadline = time.monotonic() + timeout
    seen_progress: set[int] = set()
    while time.monotonic() < deadline:
        scan = requests.get(url, headers=auth(stack), timeout=10).json()
        seen_progress.add(scan["progress"])
        if scan["status"] in ("complete", "failed", "cancelled"):
            scan["_progress_seen"] = sorted(seen_progress)
            return dict(scan)
        time.sleep(0.1)
    raise AssertionError(f"scan did not finish in {timeout} s: {scan}\n" + "\n".join(stack.output[-30:]))


def scanner_processes(scan_id: str) -> list[int]:
    """PIDs of live scanner processes of a scan (Linux /proc): a forked task names itself
    `scn<last 12 of the scan id>`; a spawned one carries SCAN_ID in its environment."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm = (entry / "comm").read_text().strip()
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if state != "Z" and (comm == f"scn{scan_id[-12:]}" or f"SCAN_ID={scan_id}".encode() in environ.split(b"\0")):
            found.append(int(entry.name))
    return found


def test_well_configured_domain_completes_with_grade_a(stack: RunningStack) -> None:
    scan = run_scan(stack, {"domain": "good.test"})
    assert scan["status"] == "complete", scan.get("error")
    assert scan["grade"] == "A" and scan["score"] >= 90, {k: v.get("score") for k, v in scan["signals"].items()}
    assert scan["ready"] is True and scan["scoring_version"]
    assert set(scan["signals"]) == {"scan", "breach", "reputation", "mail", "layer", "web"}
    assert all(s["status"] == "complete" for s in scan["signals"].values()), scan["coverage"]
    open_ports = {f["evidence"].get("port") for f in scan["signals"]["scan"]["findings"]}
    assert {80, 443} <= open_ports
    assert scan["report_url"], "a complete scan links its report"


def test_badly_configured_domain_gets_the_findings_it_deserves(stack: RunningStack, lab: Lab) -> None:
    scan = run_scan(stack, {"domain": "bad.test"})
    assert scan["status"] == "complete", scan.get("error")
    assert scan["grade"] == "F" and scan["ready"] is False
    codes = {s: {f["code"] for f in v["findings"]} for s, v in scan["signals"].items()}
    assert "spf-plus-all" in codes["mail"]
    assert "domain-listed" in codes["reputation"]
    assert codes["breach"] & {"credentials-exposed", "accounts-exposed"}
    assert "cert-expired" in codes["layer"], codes["layer"]
    if 2375 in lab.listeners:  # the lab could bind the fake Docker API
        assert "docker-api-exposed" in codes["scan"], codes["scan"]

    findings = requests.get(f"{stack.base_url}/v1/scans/{scan['scan_token']}/findings?severity=critical",
                            headers=auth(stack), timeout=10).json()
    assert findings["items"] and all(f["severity"] == "critical" for f in findings["items"])
    page = requests.get(f"{stack.base_url}/v1/scans/{scan['scan_token']}/findings?limit=2",
                        headers=auth(stack), timeout=10).json()
    assert len(page["items"]) == 2 and page["next_cursor"] and page["total"] == scan["findings_count"]


def test_progress_moves_from_pending_to_complete(stack: RunningStack) -> None:
    scan = run_scan(stack, {"domain": "good.test", "scan_type": "mail"})
    assert scan["status"] == "complete"
    assert scan["_progress_seen"][-1] == 100
    assert set(scan["signals"]) == {"mail"}


def start_slow_scan(stack: RunningStack, lab: Lab) -> str | None:
    """A full 65k-port sweep; its token once the network scanner process runs, None if it finished first."""
    created = requests.post(f"{stack.base_url}/v1/scans", headers=auth(stack),
                            json={"target": lab.good, "scan_type": "ports", "options": {"ports": "1-65535"}},
                            timeout=10)
    token = str(created.json()["scan_token"])
    deadline = time.monotonic() + 15
    while not scanner_processes(token):
        status = requests.get(f"{stack.base_url}/v1/scans/{token}", headers=auth(stack), timeout=5).json()["status"]
        if status in ("complete", "failed") or time.monotonic() > deadline:
            return None
        time.sleep(0.02)
    return token


def test_cancel_mid_scan_ends_cancelled_and_the_scanner_process_is_stopped(stack: RunningStack, lab: Lab) -> None:
    for _ in range(3):  # a fast machine may finish the sweep before we see it: try another scan
        token = start_slow_scan(stack, lab)
        if token is None:
            continue
        cancelled = requests.post(f"{stack.base_url}/v1/scans/{token}/cancel", headers=auth(stack), json={},
                                  timeout=10)
        if cancelled.status_code == 409:  # finished between our look and the cancel
            continue
        assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
        break
    else:
        pytest.fail("no scan stayed running long enough to be cancelled")
    deadline = time.monotonic() + 5
    while scanner_processes(token):
        assert time.monotonic() < deadline, "StopTask should kill the scanner process"
        time.sleep(0.05)
    final = requests.get(f"{stack.base_url}/v1/scans/{token}", headers=auth(stack), timeout=5).json()
    assert final["status"] == "cancelled" and final["score"] is None
    again = requests.post(f"{stack.base_url}/v1/scans/{token}/cancel", headers=auth(stack), json={}, timeout=10)
    assert again.status_code == 409
