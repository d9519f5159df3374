"""A scanner task that dies without answering fails its scan at once, not after HeartbeatSeconds.

The real ASL on moto (the rig of test_pipeline.py) with the heartbeat set to 60 s: the local runner
sees the task exit and fails its token with Scanner.Crashed (what the scanner_task_stopped Lambda
does in AWS on the ECS task-stopped event).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import pytest

from chalicelib.pipeline import task_events
from chalicelib.scans.models import ScanStatus
from tests.integration.pipeline.conftest import Rig

pytestmark = pytest.mark.slow


@pytest.fixture
def long_heartbeat(rig: Rig) -> Rig:
    """The rig with the production heartbeat (60 s): only the crash report can end a dead task fast."""
    rig.services.settings = rig.services.settings.model_copy(update={"scanner_heartbeat_seconds": 60})
    rig.services.__dict__.pop("pipeline", None)  # built from the settings on first use
    return rig


@pytest.fixture
def failures(monkeypatch: pytest.MonkeyPatch) -> list[task_events.StoppedTask]:
    """Every token the runner fails (recorded, then really failed)."""
    seen: list[task_events.StoppedTask] = []
    real = task_events.fail_stopped_task

    def spy(stopped: task_events.StoppedTask, callbacks: Any) -> bool:
        seen.append(stopped)
        return real(stopped, callbacks)

    monkeypatch.setattr(task_events, "fail_stopped_task", spy)
    return seen


def test_a_scanner_that_dies_without_answering_fails_the_scan_at_once(
        long_heartbeat: Rig, failures: list[task_events.StoppedTask], monkeypatch: pytest.MonkeyPatch) -> None:
    rig = long_heartbeat
    behaviours = rig.behaviours

    def main(env: Mapping[str, str]) -> int:
        if env.get("TARGET") == "hang.example" and env.get("SIGNAL_GROUP") == "network":
            return 137  # killed (OOM): never heartbeats, never answers
        return behaviours(env)

    monkeypatch.setattr(rig.runner, "_thread_main", main)
    started = time.monotonic()
    scan = rig.submit("hang.example")
    done, execution = rig.wait(scan.scan_id, timeout=10)
    elapsed = time.monotonic() - started
    assert execution["status"] == "FAILED"
    assert done.status == ScanStatus.FAILED
    assert done.error is not None and done.error.code == "scanner-crashed", done.error
    assert "exit code 137" in done.error.message
    assert elapsed < 5, f"took {elapsed:.1f} s (heartbeat 60 s)"
    assert [f.exit_code for f in failures] == [137]
    assert rig.events.names(scan.scan_id) == ["scan.started", "scan.failed"]


def test_a_scanner_that_answered_is_not_failed_again(
        long_heartbeat: Rig, failures: list[task_events.StoppedTask]) -> None:
    rig = long_heartbeat
    ok = rig.submit("ok.example")
    crashed = rig.submit("crash.example")  # answers Scanner.Crashed itself, exits 1
    done, execution = rig.wait(ok.scan_id, timeout=10)
    assert execution["status"] == "SUCCEEDED" and done.status == ScanStatus.COMPLETE
    failed, _ = rig.wait(crashed.scan_id, timeout=10)
    assert failed.error is not None and "segfault in a check" in failed.error.message  # its own cause, kept
    time.sleep(0.3)  # the runner reports after the task thread returns
    assert failures == [] and rig.runner.crash_failed == []
