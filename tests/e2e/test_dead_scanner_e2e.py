"""A scanner container that dies without answering fails its scan at once on the embedded stack.

The stack runs a scanner command that exits 137 at once (an OOM kill), with the default 60 s
heartbeat: the local runner sees the exit and fails the task token with Scanner.Crashed through the
stack's Step Functions endpoint, as the scanner_task_stopped Lambda does in AWS.
"""

from __future__ import annotations

import sys
import time

import pytest
import requests

from tests.support.lab import Lab
from tests.support.stack import start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

DYING_SCANNER = f"{sys.executable} -c 'import os; os._exit(137)'"


def test_a_scanner_that_dies_without_answering_fails_the_scan_within_seconds(lab: Lab) -> None:
    stack = start_stack(lab.stack_env(PERIMETER_LOCAL_SCANNER_COMMAND=DYING_SCANNER))
    try:
        headers = {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}
        started = time.monotonic()
        created = requests.post(f"{stack.base_url}/v1/scans", headers=headers, json={"domain": "good.test"},
                                timeout=10)
        assert created.status_code == 202, created.text
        scan: dict[str, object] = {}
        while time.monotonic() - started < 50:
            scan = requests.get(created.json()["status_url"], headers=headers, timeout=10).json()
            if scan["status"] in ("complete", "failed", "cancelled"):
                break
            time.sleep(0.1)
        elapsed = time.monotonic() - started
        assert scan["status"] == "failed", (scan, "\n".join(stack.output[-30:]))
        error = scan["error"]
        assert isinstance(error, dict) and error["code"] == "scanner-crashed", scan
        assert "exit code 137" in str(error["message"])
        assert elapsed < 50, f"took {elapsed:.1f} s: the 60 s heartbeat, not the runner, noticed"
    finally:
        assert stack.stop() == 0, "\n".join(stack.output[-40:])
