"""Restart recovery: every scan the previous run left in flight gets an end, with its terminal event."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.bootstrap import Services
from chalicelib.core.clock import utcnow
from chalicelib.core.store import Record
from chalicelib.local.recovery import in_flight, recover
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import Scan, ScanStatus
from tests.support.memory import MemoryStore, RecordingPublisher, RecordingWorkflow


class ListingStore(MemoryStore):
    """The memory fake plus the cross-partition listing SqliteStore has."""

    def items(self, sk_prefix: str) -> Iterator[Record]:
        for (pk, sk) in sorted(self._items):
            record = self.get(pk, sk)
            if record is not None and sk.startswith(sk_prefix):
                yield record


class Outbox:
    def __init__(self) -> None:
        self.sweeps = 0

    def sweep(self, now: Any = None) -> int:
        self.sweeps += 1
        return 2


@pytest.fixture
def store() -> ListingStore:
    return ListingStore()


@pytest.fixture
def recovering(settings: Any, workflow: RecordingWorkflow, resolver: Any, store: ListingStore) -> Services:
    built = Services(settings, store=store, workflow=workflow, resolver=resolver)
    built.__dict__["webhooks"] = RecordingPublisher()  # `events` is the webhook service
    built.__dict__["webhook_outbox"] = Outbox()
    return built


def _scan(services: Services, status: ScanStatus, tenant: str = "t1", **create: Any) -> Scan:
    scan = services.scans.create(services.auth.get_tenant(tenant), CreateScan(domain="example.com", **create))
    path = {ScanStatus.PENDING: [], ScanStatus.SCANNING: [ScanStatus.SCANNING],
            ScanStatus.SCORING: [ScanStatus.SCANNING, ScanStatus.SCORING],
            ScanStatus.COMPLETE: [ScanStatus.SCANNING, ScanStatus.SCORING, ScanStatus.COMPLETE],
            ScanStatus.CANCELLED: [ScanStatus.CANCELLED]}[status]
    for step in path:
        scan = services.scans.transition(tenant, scan.scan_id, step)
    return scan


def test_pending_scans_start_again_and_running_ones_fail_interrupted(
        recovering: Services, store: ListingStore, workflow: RecordingWorkflow) -> None:
    recovering.auth.create_tenant("t1", "One")
    recovering.auth.create_tenant("t2", "Two")
    pending = _scan(recovering, ScanStatus.PENDING)
    scanning = _scan(recovering, ScanStatus.SCANNING, tenant="t2")
    scoring = _scan(recovering, ScanStatus.SCORING)
    done = _scan(recovering, ScanStatus.COMPLETE)
    cancelled = _scan(recovering, ScanStatus.CANCELLED)
    workflow.started.clear()  # the previous run's executions are gone with moto

    report = recover(recovering, store)

    assert report.restarted == [pending.scan_id] and list(workflow.started) == [pending.scan_id]
    assert sorted(report.failed) == sorted([scanning.scan_id, scoring.scan_id])
    for scan in (scanning, scoring):
        failed = recovering.scans.get(scan.tenant_id, scan.scan_id)
        assert failed.status is ScanStatus.FAILED and failed.error is not None
        assert failed.error.code == "interrupted"
    events: RecordingPublisher = recovering.__dict__["webhooks"]
    assert events.names(scanning.scan_id) == ["scan.failed"] and events.names(scoring.scan_id) == ["scan.failed"]
    assert events.names(pending.scan_id) == [] and events.names(done.scan_id) == []
    assert events.names(cancelled.scan_id) == []
    assert report.resent == 2 and recovering.__dict__["webhook_outbox"].sweeps == 1
    assert recovering.scans.get("t1", done.scan_id).status is ScanStatus.COMPLETE
    assert in_flight(store) == [recovering.scans.get("t1", pending.scan_id)]


def test_a_pending_scan_past_its_timeout_fails_instead_of_running_late(
        recovering: Services, store: ListingStore, workflow: RecordingWorkflow) -> None:
    recovering.auth.create_tenant("t1", "One")
    stale = _scan(recovering, ScanStatus.PENDING, timeout_seconds=60)
    workflow.started.clear()
    report = recover(recovering, store, now=utcnow() + timedelta(seconds=61))
    assert report.failed == [stale.scan_id] and workflow.started == {}
    assert recovering.scans.get("t1", stale.scan_id).error.code == "interrupted"  # type: ignore[union-attr]


def test_recovery_runs_twice_without_a_second_event(recovering: Services, store: ListingStore) -> None:
    recovering.auth.create_tenant("t1", "One")
    scanning = _scan(recovering, ScanStatus.SCANNING)
    recover(recovering, store)
    assert recover(recovering, store).failed == []
    assert recovering.__dict__["webhooks"].names(scanning.scan_id) == ["scan.failed"]


def test_a_failed_restart_is_logged_and_the_rest_recovered(
        recovering: Services, store: ListingStore, workflow: RecordingWorkflow) -> None:
    recovering.auth.create_tenant("t1", "One")
    pending = _scan(recovering, ScanStatus.PENDING)
    scanning = _scan(recovering, ScanStatus.SCANNING)
    workflow.started.clear()
    workflow.fail_with = RuntimeError("moto is down")
    report = recover(recovering, store)
    assert report.restarted == [] and report.failed == [scanning.scan_id]
    assert recovering.scans.get("t1", pending.scan_id).status is ScanStatus.PENDING
