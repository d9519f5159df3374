"""Property: whatever the scanners do, every scan ends, with one terminal event and usage counted once.

The real ASL runs on moto (the rig of test_pipeline.py). Hypothesis draws a scan type, an outcome per
signal group (complete, not_tested, error, crash, hang, garbage evidence) and a cancel at a random step
(before MarkScanning, while scanning, before RenderReport, before Finalize), and every time asserts
the terminal state, the error code, exactly one terminal event and the usage counters.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from chalicelib.core.contract import SIGNAL_GROUPS
from chalicelib.core.ids import new_id
from chalicelib.scanners import task
from chalicelib.scans import service as scans_module
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import BILLABLE_UNITS, SIGNALS_BY_TYPE, ScanStatus, ScanType, SignalKey, SignalResult
from chalicelib.scans.models import SignalStatus as Status
from chalicelib.scans.scoring import MAX_SCORES
from tests.integration.pipeline.conftest import Rig, answer_garbage, complete

pytestmark = pytest.mark.slow

# Repeats weight the draw: most runs reach scoring, so the unscored and cancel-late paths are exercised too.
OUTCOMES = ("complete", "complete", "complete", "not_tested", "not_tested", "error", "crash", "hang", "garbage")
CANCELS = (None, None, None, None, "start", "scanning", "render", "finalize")
TERMINAL_EVENTS = {"scan.completed": ScanStatus.COMPLETE, "scan.failed": ScanStatus.FAILED,
                   "scan.cancelled": ScanStatus.CANCELLED}
TIMEOUT = 30  # the smallest timeout_seconds the API accepts: every scan must end well within it
HANG_SECONDS = 6.0  # a hung scanner neither heartbeats (2 s in the rig) nor answers for this long


@dataclass
class Plan:
    """What one scan's scanners do and where (if anywhere) the partner cancels it."""

    scan_type: ScanType
    outcomes: dict[str, str]
    cancel: str | None
    cancelled: threading.Event = field(default_factory=threading.Event)

    @property
    def groups(self) -> list[str]:
        """The signal groups this scan type runs, in ASL order."""
        wanted = {s.value for s in SIGNALS_BY_TYPE[self.scan_type]}
        return [g for g, signals in SIGNAL_GROUPS.items() if wanted & set(signals)]

    def expected(self) -> tuple[ScanStatus, str | None, bool]:
        """(terminal status, error code, scored?) this plan must end in."""
        if self.cancel in ("start", "scanning"):
            return ScanStatus.CANCELLED, "cancelled", False
        ran = [self.outcomes[g] for g in self.groups]
        for outcome, code in (("crash", "scanner-crashed"), ("hang", "scanner-unresponsive"),
                              ("garbage", "scanner-invalid-output")):
            if outcome in ran:
                return ScanStatus.FAILED, code, False
        if self.cancel in ("render", "finalize"):
            return ScanStatus.CANCELLED, "cancelled", False
        wanted = {s.value for s in SIGNALS_BY_TYPE[self.scan_type]}
        weighted = {s for g in self.groups if self.outcomes[g] == "complete" for s in SIGNAL_GROUPS[g]
                    if s in wanted and MAX_SCORES[SignalKey(s)] > 0}
        return ScanStatus.COMPLETE, None, bool(weighted)


def _results(signals: list[str], status: Status) -> dict[str, SignalResult]:
    return {s: SignalResult(status=status, max_score=MAX_SCORES[SignalKey(s)], error=f"{s}: {status.value}")
            for s in signals}


class Scanners:
    """The fake scanner tasks and step hooks that carry out each scan's plan."""

    def __init__(self, rig: Rig) -> None:
        self.rig = rig
        self.plans: dict[str, Plan] = {}

    def cancel(self, scan_id: str) -> None:
        self.rig.services.scans.cancel(self.rig.tenant.tenant_id, scan_id)
        self.plans[scan_id].cancelled.set()

    def main(self, env: Mapping[str, str]) -> int:
        scan_id, group = env["SCAN_ID"], env["SIGNAL_GROUP"]
        plan = self.plans[scan_id]
        outcome = plan.outcomes[group]
        if plan.cancel == "scanning":
            if group == plan.groups[0]:  # this task cancels; any other one acts only once it has
                self.cancel(scan_id)
                outcome = "complete"
            else:
                plan.cancelled.wait(10)
        if outcome == "hang":
            self.rig.behaviours.release.wait(HANG_SECONDS)
            return 137
        if outcome == "garbage":
            return answer_garbage(env)

        def run_checks(target: str, signals: list[str], options: Any) -> dict[str, SignalResult]:
            if outcome == "crash":
                raise RuntimeError("a check crashed")
            if outcome == "complete":
                return complete(signals)
            return _results(signals, Status.NOT_TESTED if outcome == "not_tested" else Status.ERROR)

        return task.main(env, run_checks=run_checks, on_abandon=lambda: None)

    def install(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Cancel hooks around MarkScanning and RenderReport (the steps run in the dispatcher)."""
        pipeline = self.rig.services.pipeline
        mark_scanning, reports = pipeline.mark_scanning, pipeline._reports

        def hooked_mark_scanning(event: Any) -> dict[str, Any]:
            if self._planned(event.get("scan_id"), "start"):
                self.cancel(event["scan_id"])
            return mark_scanning(event)

        def hooked_render(tenant_id: str, scan_id: str, *, progress: int | None = None) -> dict[str, Any]:
            if self._planned(scan_id, "render"):
                self.cancel(scan_id)
            result = reports.render_and_store(tenant_id, scan_id, progress=progress)
            if self._planned(scan_id, "finalize"):
                self.cancel(scan_id)
            return result

        monkeypatch.setattr(pipeline, "mark_scanning", hooked_mark_scanning)
        monkeypatch.setattr(pipeline, "_reports", SimpleNamespace(render_and_store=hooked_render))

    def _planned(self, scan_id: Any, step: str) -> bool:
        plan = self.plans.get(str(scan_id))
        return plan is not None and plan.cancel == step


def _usage(rig: Rig) -> dict[str, int]:
    summary = rig.services.usage.summary(rig.tenant.tenant_id, "7d")
    return {**summary["scans_by_status"], "units": summary["billable_units"]}


def _wait_until_ended(rig: Rig, scan_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        execution = rig.execution(scan_id)
        scan = rig.services.scans.get(rig.tenant.tenant_id, scan_id)
        if execution["status"] != "RUNNING" and scan.status.terminal:
            return execution
        time.sleep(0.05)
    raise AssertionError(f"scan {scan_id} did not end within {timeout} s: {scan.status}, {execution['status']}")


@pytest.fixture
def scanners(rig: Rig, monkeypatch: pytest.MonkeyPatch) -> Scanners:
    built = Scanners(rig)
    built.install(monkeypatch)
    # the proof-of-control gate has its own tests; here ok.example counts as verified, at creation and at start
    monkeypatch.setattr(rig.services.scans, "verify_active", lambda tenant_id, host: None)
    return built


@settings(max_examples=40, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(scan_type=st.sampled_from(list(ScanType)),
       outcomes=st.fixed_dictionaries({g: st.sampled_from(OUTCOMES) for g in SIGNAL_GROUPS}),
       cancel=st.sampled_from(CANCELS))
def test_every_scan_ends_with_one_terminal_event_and_usage_counted_once(
        rig: Rig, scanners: Scanners, scan_type: ScanType, outcomes: dict[str, str], cancel: str | None) -> None:
    plan = Plan(scan_type, outcomes, cancel)
    before = _usage(rig)
    target = "ok.example/app:1" if scan_type is ScanType.CONTAINER else "ok.example"
    fields: dict[str, Any] = {"target": target, "scan_type": scan_type.value, "timeout_seconds": TIMEOUT}
    scan_id = new_id("scn")
    scanners.plans[scan_id] = plan  # known before the execution starts: no race with the first step
    rig.behaviours.by_scan[scan_id] = scanners.main
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(scans_module, "new_id", lambda prefix: scan_id)
        scan = rig.services.scans.create(rig.tenant, CreateScan(**fields))
    started = time.monotonic()
    execution = _wait_until_ended(rig, scan.scan_id, TIMEOUT)
    assert time.monotonic() - started < TIMEOUT
    time.sleep(0.2)  # room for a late duplicate event to show up

    status, code, scored = plan.expected()
    event(f"{status.value} {code or ('scored' if scored else 'not scored')}")  # --hypothesis-show-statistics
    done = rig.services.scans.get(rig.tenant.tenant_id, scan.scan_id)
    assert done.status is status, (plan, done.error, execution["status"])
    assert (done.error.code if done.error else None) == code, (plan, done.error)
    if status is ScanStatus.COMPLETE:
        assert execution["status"] == "SUCCEEDED"
        assert done.report_keys.keys() == {"pdf", "json"} and done.progress == 100
        assert (done.score is not None) == scored and (done.grade is not None) == scored
        if not scored:
            assert done.coverage is not None and done.coverage["not_scored"].startswith("not scored")
    names = rig.events.names(scan.scan_id)
    terminal = [n for n in names if n in TERMINAL_EVENTS]
    assert [TERMINAL_EVENTS[n] for n in terminal] == [status], (plan, names)
    after = _usage(rig)
    delta = {k: after[k] - before[k] for k in after}
    assert delta == {"complete": int(status is ScanStatus.COMPLETE), "failed": int(status is ScanStatus.FAILED),
                     "cancelled": int(status is ScanStatus.CANCELLED), "in_progress": 0,
                     "units": BILLABLE_UNITS[scan_type] if status is ScanStatus.COMPLETE else 0}, plan

