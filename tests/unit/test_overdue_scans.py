"""No scan stays in flight when its execution dies: the in-flight index and the overdue sweeper (issue 9).

On the in-memory fakes: the index entry is written with the scan and removed when it ends; an
overdue scan fails `timeout` with one `scan.failed`, 0 billed units and its execution stopped; a
MarkFailed racing the sweeper still yields one event; the grace outlasts a healthy pipeline.
"""

from __future__ import annotations

import importlib
import json
import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import Services
from chalicelib.core import contract
from chalicelib.core.clock import utcnow
from chalicelib.local.poller import WebhookPoller, start_webhook_poller
from chalicelib.local.provision import ASL_PATH
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.deadlines import DUE_PK, OVERDUE_GRACE_SECONDS, STEP_ATTEMPTS, STEP_RETRY_WAIT_SECONDS, due_sk
from chalicelib.scans.models import Scan, ScanStatus, ScanType
from chalicelib.scans.service import OVERDUE
from tests.support.memory import MemoryQueue, RecordingPublisher, RecordingWorkflow
from tests.unit.test_pipeline_steps import step

GRACE = timedelta(seconds=OVERDUE_GRACE_SECONDS)


@pytest.fixture
def tenant(services: Services) -> Any:
    return services.auth.create_tenant("acme", "Acme")


def submit(services: Services, tenant: Any, timeout: int = 300) -> Scan:
    return services.scans.create(tenant, CreateScan(domain="example.com", timeout_seconds=timeout))


def entries(services: Services) -> list[str]:
    return [r.sk for r in services.store.query(DUE_PK, "0")]


def overdue_at(scan: Scan) -> datetime:
    """The first moment the sweeper may end the scan (deadline + grace, plus a second)."""
    return scan.created_at + timedelta(seconds=scan.timeout_seconds + 1) + GRACE


def test_creating_a_scan_indexes_it_under_its_deadline(services: Services, tenant: Any) -> None:
    scan = submit(services, tenant, timeout=600)
    deadline = int(scan.created_at.timestamp()) + 600
    assert entries(services) == [f"{deadline:012d}#acme#{scan.scan_id}"] == [due_sk(scan)]


@pytest.mark.parametrize("end", ["complete", "cancel", "fail"])
def test_a_scan_that_ends_leaves_the_index(services: Services, tenant: Any, end: str) -> None:
    scan = submit(services, tenant)
    other = submit(services, tenant)
    if end == "complete":
        for status in (ScanStatus.SCANNING, ScanStatus.SCORING, ScanStatus.COMPLETE):
            services.scans.transition("acme", scan.scan_id, status)
    elif end == "cancel":
        services.scans.cancel("acme", scan.scan_id)
    else:
        services.scans.transition("acme", scan.scan_id, ScanStatus.FAILED)
    assert entries(services) == [due_sk(other)]


def test_a_scan_whose_pipeline_cannot_start_leaves_no_entry(
        services: Services, tenant: Any, workflow: RecordingWorkflow) -> None:
    workflow.fail_with = RuntimeError("states down")
    with pytest.raises(Exception, match="pipeline"):
        submit(services, tenant)
    assert entries(services) == []


@pytest.mark.parametrize("status", [ScanStatus.PENDING, ScanStatus.SCANNING, ScanStatus.SCORING])
def test_an_overdue_scan_fails_timeout_with_one_event_no_units_and_its_execution_stopped(
        services: Services, tenant: Any, events: RecordingPublisher, workflow: RecordingWorkflow,
        status: ScanStatus) -> None:
    scan = submit(services, tenant)
    for step_status in (ScanStatus.SCANNING, ScanStatus.SCORING):
        if status in (step_status, ScanStatus.SCORING):
            services.scans.transition("acme", scan.scan_id, step_status)
    assert services.scans.expire_overdue(overdue_at(scan) - timedelta(seconds=2)) == 0  # within the grace
    assert services.scans.get("acme", scan.scan_id).status is status

    assert services.scans.expire_overdue(overdue_at(scan)) == 1
    failed = services.scans.get("acme", scan.scan_id)
    assert failed.status is ScanStatus.FAILED and failed.error == OVERDUE and failed.error.code == "timeout"
    assert failed.completed_at is not None
    assert events.names(scan.scan_id)[-1:] == ["scan.failed"] and events.names(scan.scan_id).count("scan.failed") == 1
    assert events.events[-1][2]["error"]["code"] == "timeout"
    assert workflow.stopped == [scan.scan_id]
    assert entries(services) == []
    summary = services.usage.summary("acme", "7d")
    assert summary["scans_by_status"]["failed"] == 1 and summary["billable_units"] == 0
    assert services.scans.expire_overdue(overdue_at(scan) + timedelta(hours=1)) == 0  # nothing twice
    assert events.names(scan.scan_id).count("scan.failed") == 1


def test_a_stale_entry_of_an_ended_or_vanished_scan_is_just_removed(
        services: Services, tenant: Any, events: RecordingPublisher, workflow: RecordingWorkflow) -> None:
    done = submit(services, tenant)
    services.scans.cancel("acme", done.scan_id)
    services.scans.deadlines.add(done)  # as if the delete after the terminal write had failed
    gone = submit(services, tenant)
    services.store.delete("TENANT#acme", f"SCAN#{gone.scan_id}")
    published, stopped = events.calls, list(workflow.stopped)
    assert services.scans.expire_overdue(overdue_at(gone)) == 0
    assert entries(services) == []
    assert services.scans.get("acme", done.scan_id).status is ScanStatus.CANCELLED
    assert (events.calls, workflow.stopped) == (published, stopped)


def test_each_run_looks_at_a_bounded_number_of_entries_oldest_deadline_first(
        services: Services, tenant: Any) -> None:
    scans = [submit(services, tenant, timeout=t) for t in (900, 300, 600, 120, 60)]
    later = max(overdue_at(s) for s in scans)
    oldest_first = sorted(scans, key=due_sk)
    assert services.scans.expire_overdue(later, limit=2) == 2
    ended = {s.scan_id for s in scans if services.scans.get("acme", s.scan_id).status is ScanStatus.FAILED}
    assert ended == {s.scan_id for s in oldest_first[:2]}
    assert services.scans.expire_overdue(later, limit=2) == 2
    assert services.scans.expire_overdue(later, limit=2) == 1
    assert services.scans.expire_overdue(later, limit=2) == 0 and entries(services) == []


def test_only_entries_past_deadline_and_grace_are_looked_at(services: Services, tenant: Any) -> None:
    short, long = submit(services, tenant, timeout=60), submit(services, tenant, timeout=3600)
    assert services.scans.expire_overdue(overdue_at(short)) == 1
    assert services.scans.get("acme", long.scan_id).status is ScanStatus.PENDING
    assert entries(services) == [due_sk(long)]
    assert services.scans.expire_overdue(overdue_at(short), grace_seconds=0) == 0  # 3600 s not yet up
    assert services.scans.expire_overdue(overdue_at(long) - GRACE, grace_seconds=0) == 1


def scanning(services: Services, tenant: Any) -> Scan:
    scan = submit(services, tenant)
    services.scans.transition("acme", scan.scan_id, ScanStatus.SCANNING)
    return scan


def test_mark_failed_after_the_sweeper_publishes_nothing_new(
        services: Services, tenant: Any, events: RecordingPublisher) -> None:
    scan = scanning(services, tenant)
    assert services.scans.expire_overdue(overdue_at(scan)) == 1
    services.pipeline.mark_failed(step(scan, failure={"Error": "States.Timeout", "Cause": "late"}))
    ended = services.scans.get("acme", scan.scan_id)
    assert ended.status is ScanStatus.FAILED and ended.error == OVERDUE
    assert events.names(scan.scan_id) == ["scan.failed"]


def test_the_sweeper_after_mark_failed_keeps_its_outcome_and_sends_nothing(
        services: Services, tenant: Any, events: RecordingPublisher, workflow: RecordingWorkflow) -> None:
    scan = scanning(services, tenant)
    services.pipeline.mark_failed(step(scan, failure={"Error": "States.Timeout", "Cause": "scanners hung"}))
    assert services.scans.expire_overdue(overdue_at(scan)) == 0
    ended = services.scans.get("acme", scan.scan_id)
    assert ended.status is ScanStatus.FAILED and ended.error is not None and ended.error != OVERDUE
    assert events.names(scan.scan_id) == ["scan.failed"] and workflow.stopped == [] and entries(services) == []


def test_mark_failed_between_the_sweepers_read_and_write_yields_one_event(
        services: Services, tenant: Any, events: RecordingPublisher, workflow: RecordingWorkflow,
        monkeypatch: pytest.MonkeyPatch) -> None:
    scan = scanning(services, tenant)
    read = services.scans.get

    def read_then_lose_the_race(tenant_id: str, scan_id: str) -> Scan:
        seen = read(tenant_id, scan_id)
        services.pipeline.mark_failed(step(scan, failure={"Error": "Scanner.Crashed", "Cause": "boom"}))
        return seen

    monkeypatch.setattr(services.scans, "get", read_then_lose_the_race)
    assert services.scans.expire_overdue(overdue_at(scan)) == 0
    monkeypatch.undo()
    ended = services.scans.get("acme", scan.scan_id)
    assert ended.status is ScanStatus.FAILED and ended.error != OVERDUE
    assert events.names(scan.scan_id) == ["scan.failed"] and workflow.stopped == [] and entries(services) == []
    assert services.usage.summary("acme", "7d")["scans_by_status"]["failed"] == 1


def test_a_failing_stop_does_not_keep_the_scan_from_ending(
        services: Services, tenant: Any, events: RecordingPublisher, workflow: RecordingWorkflow,
        monkeypatch: pytest.MonkeyPatch) -> None:
    scan = scanning(services, tenant)

    def refuse(scan_id: str, cause: str) -> None:
        raise RuntimeError("AccessDenied")

    monkeypatch.setattr(workflow, "stop", refuse)
    assert services.scans.expire_overdue(overdue_at(scan)) == 1
    assert events.names(scan.scan_id) == ["scan.failed"]


def test_the_grace_outlasts_every_pipeline_step_on_every_attempt() -> None:
    """Each Lambda step of the ASL: its contract timeout, at most STEP_ATTEMPTS tries, retry waits within
    STEP_RETRY_WAIT_SECONDS; so after the scanners' deadline a live execution ends within the grace."""
    asl = json.loads(ASL_PATH.read_text())
    by_placeholder = {f"${{{spec.asl_placeholder}}}": spec for spec in contract.PIPELINE_LAMBDAS}
    tasks = {name: state for name, state in asl["States"].items() if state.get("Resource") in by_placeholder}
    assert len(tasks) == len(contract.PIPELINE_LAMBDAS)
    worst = 0
    for name, state in tasks.items():
        spec = by_placeholder[state["Resource"]]
        assert state["TimeoutSeconds"] == spec.timeout, name
        retries = sum(r["MaxAttempts"] for r in state.get("Retry", []))
        waits = sum(r["IntervalSeconds"] * r.get("BackoffRate", 2) ** i for r in state.get("Retry", [])
                    for i in range(r["MaxAttempts"]))
        assert 1 + retries <= STEP_ATTEMPTS and waits <= STEP_RETRY_WAIT_SECONDS, name
        worst += (1 + retries) * spec.timeout + waits
    assert worst < OVERDUE_GRACE_SECONDS and OVERDUE_GRACE_SECONDS == 1175


def test_the_sweeper_is_a_lambda_of_the_contract_and_of_app(services: Services, tenant: Any) -> None:
    assert contract.OVERDUE_SCAN_SWEEPER in contract.ALL_LAMBDAS
    app = importlib.import_module("app")
    assert app.sweep_overdue_scans({}, None) == {"failed": 0}


def test_the_poller_ends_overdue_scans_on_its_ticks_but_the_first() -> None:
    runs: list[float] = []

    def overdue() -> int:
        runs.append(time.monotonic())
        return 0

    poller = WebhookPoller(MemoryQueue(), lambda event: {"batchItemFailures": []}, wait_seconds=0,
                           sweep=lambda: 0, overdue=overdue, sweep_interval=0.2).start()
    try:
        time.sleep(0.1)
        assert runs == [] and poller.sweeps == 1  # the first tick leaves the restart to recovery
        deadline = time.monotonic() + 5
        while len(runs) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        poller.stop()
    assert len(runs) >= 2


def test_the_embedded_stacks_poller_ends_an_overdue_scan(services: Services, tenant: Any) -> None:
    services.webhook_queue, services.webhook_dlq = MemoryQueue(), MemoryQueue()
    assert services.webhook_consumer and services.webhook_outbox  # built on the real webhook service
    events = RecordingPublisher()
    services.__dict__["webhooks"] = events  # what the scans publish is recorded
    long_ago = utcnow() - GRACE - timedelta(minutes=6)
    scan = Scan(scan_id="scn_overdue000000000000000001", tenant_id="acme", target="example.com",
                scan_type=ScanType.POSTURE, timeout_seconds=300, created_at=long_ago, updated_at=long_ago,
                ready_threshold=65)
    services.scans.repo.add(scan)
    services.scans.deadlines.add(scan)  # as ScanService.create writes them
    poller = start_webhook_poller(services, sweep_interval=0.1)
    try:
        deadline = time.monotonic() + 5
        while services.scans.get("acme", scan.scan_id).status is ScanStatus.PENDING:
            assert time.monotonic() < deadline, "the poller should have ended the overdue scan"
            time.sleep(0.05)
    finally:
        poller.stop()
    assert services.scans.get("acme", scan.scan_id).error == OVERDUE
    assert events.names(scan.scan_id) == ["scan.failed"]


def test_terraform_schedules_the_sweeper_every_minute_with_least_privilege() -> None:
    pytest.importorskip("hcl2", reason="python-hcl2 is not installed (requirements-dev.txt)")
    from tests.infra.terraform_config import load

    tf = load()
    assert tf.locals["schedules"][contract.OVERDUE_SCAN_SWEEPER.name] == "rate(1 minute)"
    statements = tf.locals["lambda_statements"]["sweep_overdue_scans"]
    assert {"${local.table_statement}", "${local.enqueue_webhook_event}"} <= {s for s in statements
                                                                              if isinstance(s, str)}
    granted = {a: s["resources"] for s in statements if isinstance(s, dict) for a in s["actions"]}
    assert granted["states:StopExecution"] == ["${local.execution_arn_glob}"]
    assert "states:StartExecution" not in granted and not any(a.startswith(("s3:", "sqs:Receive")) for a in granted)
