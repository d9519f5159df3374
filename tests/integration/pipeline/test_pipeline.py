"""The real ASL on moto, end to end in one process: success, every failure path, cancel, retry, timeout."""

from __future__ import annotations

import json
import time

import pytest

from chalicelib.scans.keys import evidence_key
from chalicelib.scans.models import Scan, ScanStatus
from tests.integration.pipeline.conftest import Rig

pytestmark = pytest.mark.slow


def ended_failed_with(rig: Rig, scan_id: str, code: str, timeout: float = 30.0) -> Scan:
    """Wait for the execution to end; assert the scan failed with `code` (and the execution too)."""
    done, execution = rig.wait(scan_id, timeout=timeout)
    assert execution["status"] == "FAILED"
    assert done.status == ScanStatus.FAILED
    assert done.error is not None and done.error.code == code, done.error
    return done


def test_posture_scan_runs_both_groups_and_completes_with_score_grade_and_reports(rig: Rig) -> None:
    scan = rig.submit("ok.example")
    done, execution = rig.wait(scan.scan_id)
    assert execution["status"] == "SUCCEEDED"
    assert done.status == ScanStatus.COMPLETE and done.progress == 100
    assert (done.score, done.grade, done.ready) == (100, "A", True)
    assert set(done.signals) == {"scan", "breach", "reputation", "mail", "layer", "web"}
    assert done.report_keys.keys() == {"pdf", "json"}
    assert sorted(g for g in ("network", "intel") if f"ok.example/{g}" in rig.behaviours.attempts) == [
        "intel", "network"]
    stored = rig.clients["s3"].get_object(Bucket=rig.services.settings.bucket_name,
                                          Key=evidence_key("t1", scan.scan_id, "network"))["Body"].read()
    assert json.loads(stored)["group"] == "network"
    assert rig.events.names(scan.scan_id) == ["scan.started", "scan.completed"]


def test_scan_type_with_one_group_skips_the_other_task(rig: Rig) -> None:
    scan = rig.submit("ok.example", scan_type="mail")
    done, _ = rig.wait(scan.scan_id)
    assert done.status == ScanStatus.COMPLETE
    assert set(done.signals) == {"mail"}
    started_groups = sorted(env["SIGNAL_GROUP"] for env in rig.runner.started if env["SCAN_ID"] == scan.scan_id)
    assert started_groups == ["intel"]


def test_scanner_task_receives_the_environment_contract(rig: Rig) -> None:
    from chalicelib.core.contract import SCANNER_TASK_ENV

    scan = rig.submit("ok.example")
    rig.wait(scan.scan_id)
    envs = [env for env in rig.runner.started if env["SCAN_ID"] == scan.scan_id]
    assert len(envs) == 2
    for env in envs:
        assert set(SCANNER_TASK_ENV) <= env.keys()
        assert env["TENANT_ID"] == "t1" and env["TARGET"] == "ok.example"
        assert json.loads(env["SIGNALS"]) == ["scan", "breach", "reputation", "mail", "layer", "web"]
        assert int(env["SCAN_DEADLINE"]) > time.time()


def test_crashing_scanner_fails_the_scan_with_a_reason_and_keeps_the_other_groups_evidence(rig: Rig) -> None:
    scan = rig.submit("crash.example")
    done = ended_failed_with(rig, scan.scan_id, "scanner-crashed")
    assert done.error is not None and "segfault in a check" in done.error.message
    intel = rig.clients["s3"].get_object(Bucket=rig.services.settings.bucket_name,
                                         Key=evidence_key("t1", scan.scan_id, "intel"))
    assert intel["ContentLength"] > 0
    assert rig.events.names(scan.scan_id) == ["scan.started", "scan.failed"]


def test_silent_scanner_is_declared_dead_by_the_heartbeat_timeout(rig: Rig) -> None:
    scan = rig.submit("hang.example")
    started = time.monotonic()
    ended_failed_with(rig, scan.scan_id, "scanner-unresponsive", timeout=20)
    assert time.monotonic() - started < 10  # heartbeat is 2 s, the scan timeout 900 s


def test_garbage_evidence_fails_the_scan_as_invalid_output(rig: Rig) -> None:
    scan = rig.submit("garbage.example")
    ended_failed_with(rig, scan.scan_id, "scanner-invalid-output")


def test_evidence_for_another_scan_is_refused(rig: Rig) -> None:
    scan = rig.submit("foreign.example")
    ended_failed_with(rig, scan.scan_id, "scanner-invalid-output")


def test_scanner_started_with_broken_input_fails_at_once_as_invalid_input(rig: Rig) -> None:
    scan = rig.submit("badinput.example")
    started = time.monotonic()
    ended_failed_with(rig, scan.scan_id, "scanner-invalid-input")
    assert time.monotonic() - started < 5


def test_transient_failure_is_retried_with_a_fresh_task_token_and_succeeds(rig: Rig) -> None:
    scan = rig.submit("flaky.example")
    done, execution = rig.wait(scan.scan_id)
    assert execution["status"] == "SUCCEEDED" and done.status == ScanStatus.COMPLETE
    assert rig.behaviours.attempts["flaky.example/network"] == 2
    tokens = [env["TASK_TOKEN"] for env in rig.runner.started
              if env["SCAN_ID"] == scan.scan_id and env["SIGNAL_GROUP"] == "network"]
    assert len(tokens) == 2 and tokens[0] != tokens[1]


def test_cancel_mid_scan_stops_execution_and_tasks_and_ends_cancelled(rig: Rig) -> None:
    scan = rig.submit("slow.example")
    rig.wait_status(scan.scan_id, ScanStatus.SCANNING)
    deadline = time.monotonic() + 5
    while not any(env["SCAN_ID"] == scan.scan_id and env["SIGNAL_GROUP"] == "network" for env in rig.runner.started):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    running = rig.services.workflow._tasks.running(scan.scan_id)  # type: ignore[attr-defined]
    assert running, "the slow network task should be running"
    cancelled = rig.services.scans.cancel("t1", scan.scan_id)
    stopped_at = time.monotonic()
    assert cancelled.status == ScanStatus.CANCELLED
    # Aborted at once, as in AWS (moto_fixes 9 wakes the waiting state).
    while rig.execution(scan.scan_id)["status"] == "RUNNING":
        assert time.monotonic() - stopped_at < 5
        time.sleep(0.05)
    assert rig.execution(scan.scan_id)["status"] == "ABORTED"
    assert rig.services.workflow._tasks.running(scan.scan_id) == []  # type: ignore[attr-defined]
    assert rig.behaviours.abandoned.wait(5), "the scanner should give up when its heartbeat is refused"
    time.sleep(0.3)
    final = rig.services.scans.get("t1", scan.scan_id)
    assert final.status == ScanStatus.CANCELLED and final.score is None
    assert rig.events.names(scan.scan_id) == ["scan.started", "scan.cancelled"]


def test_scan_timeout_bounds_the_execution_and_fails_with_timeout(rig: Rig) -> None:
    from chalicelib.core.clock import utcnow
    from chalicelib.scans.models import ScanType
    from chalicelib.scans.service import pipeline_input

    # The API refuses timeouts under 30 s; store a 6 s scan directly so the test takes seconds.
    now = utcnow()
    scan = Scan(scan_id="scn_timeout0000000000000001", tenant_id="t1", target="slow.example",
                scan_type=ScanType.POSTURE, timeout_seconds=6, created_at=now, updated_at=now, ready_threshold=65)
    rig.services.scans.repo.add(scan)
    rig.services.workflow.start(scan.scan_id, pipeline_input(scan))
    started = time.monotonic()
    ended_failed_with(rig, scan.scan_id, "timeout")
    assert time.monotonic() - started < 15


def test_critical_finding_publishes_an_event_and_lowers_the_score(rig: Rig) -> None:
    scan = rig.submit("critical.example")
    done, _ = rig.wait(scan.scan_id)
    assert done.status == ScanStatus.COMPLETE
    assert done.score is not None and done.score < 100
    assert "critical.finding" in rig.events.names(scan.scan_id)
    critical = [d for _, e, d in rig.events.events if e == "critical.finding" and d["scan_token"] == scan.scan_id]
    assert critical[0]["finding"]["code"] == "docker-api-exposed"


def test_step_on_a_cancelled_scan_is_refused_and_the_record_is_unchanged(rig: Rig) -> None:
    scan = rig.submit("slow.example")
    rig.wait_status(scan.scan_id, ScanStatus.SCANNING)
    rig.services.scans.cancel("t1", scan.scan_id)
    from chalicelib.pipeline.errors import ScanTerminal

    with pytest.raises(ScanTerminal):
        rig.services.pipeline.finalize_scan({"scan_id": scan.scan_id, "tenant_id": "t1"})
    result = rig.services.pipeline.mark_failed({"scan_id": scan.scan_id, "tenant_id": "t1",
                                                "failure": {"Error": "States.Timeout", "Cause": ""}})
    assert result["status"] == "unchanged"
    assert rig.services.scans.get("t1", scan.scan_id).status == ScanStatus.CANCELLED
