"""An execution that ends without MarkFailed leaves its scan in flight until the overdue sweeper ends it.

The real ASL on moto (the rig of conftest.py): the execution is stopped behind the scan's back
(StopExecution on the Step Functions client, as an operator would), so no step runs again and the
scan stays `scanning`; ScanService.expire_overdue then fails it `timeout` with one `scan.failed`,
stops its scanner task and bills nothing.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from chalicelib.scans.deadlines import DUE_PK, OVERDUE_GRACE_SECONDS
from chalicelib.scans.models import Scan, ScanStatus
from tests.integration.pipeline.conftest import Rig

pytestmark = pytest.mark.slow


def overdue_at(scan: Scan) -> datetime:
    return scan.created_at + timedelta(seconds=scan.timeout_seconds + OVERDUE_GRACE_SECONDS + 1)


def network_task_running(rig: Rig, scan_id: str) -> None:
    deadline = time.monotonic() + 5
    while not rig.services.workflow._tasks.running(scan_id):  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the slow network task should be running"
        time.sleep(0.05)


def test_an_execution_stopped_behind_the_scans_back_is_ended_by_the_sweeper(rig: Rig) -> None:
    scan = rig.submit("slow.example", timeout_seconds=300)
    rig.wait_status(scan.scan_id, ScanStatus.SCANNING)
    network_task_running(rig, scan.scan_id)
    arn = rig.services.workflow.execution_arn(scan.scan_id)  # type: ignore[attr-defined]
    rig.clients["stepfunctions"].stop_execution(executionArn=arn, cause="operator aborted it")
    stopped_at = time.monotonic()
    while rig.execution(scan.scan_id)["status"] == "RUNNING":
        assert time.monotonic() - stopped_at < 5
        time.sleep(0.05)
    assert rig.execution(scan.scan_id)["status"] == "ABORTED"
    time.sleep(0.5)
    assert rig.services.scans.get("t1", scan.scan_id).status is ScanStatus.SCANNING  # the gap: nobody ends it
    assert rig.services.scans.expire_overdue() == 0  # its deadline is minutes away
    assert [r.data["scan_id"] for r in rig.services.store.query(DUE_PK, "0")] == [scan.scan_id]

    assert rig.services.scans.expire_overdue(overdue_at(scan)) == 1
    final = rig.services.scans.get("t1", scan.scan_id)
    assert final.status is ScanStatus.FAILED and final.error is not None and final.error.code == "timeout"
    assert rig.events.names(scan.scan_id) == ["scan.started", "scan.failed"]
    assert rig.services.workflow._tasks.running(scan.scan_id) == []  # type: ignore[attr-defined]
    assert rig.behaviours.abandoned.wait(5), "the scanner should give up once its task is stopped"
    usage = rig.services.usage.summary("t1", "7d")
    assert usage["scans_by_status"]["failed"] == 1 and usage["billable_units"] == 0
    assert rig.services.store.query(DUE_PK, "0") == []
    assert rig.services.scans.expire_overdue(overdue_at(scan)) == 0
    assert rig.events.names(scan.scan_id) == ["scan.started", "scan.failed"]


def test_a_scan_the_pipeline_ended_is_left_alone(rig: Rig) -> None:
    scan = rig.submit("ok.example", timeout_seconds=300)
    done, execution = rig.wait(scan.scan_id)
    assert execution["status"] == "SUCCEEDED" and done.status is ScanStatus.COMPLETE
    assert rig.services.store.query(DUE_PK, "0") == []
    assert rig.services.scans.expire_overdue(overdue_at(scan)) == 0
    assert rig.services.scans.get("t1", scan.scan_id).status is ScanStatus.COMPLETE
    assert rig.events.names(scan.scan_id) == ["scan.started", "scan.completed"]
