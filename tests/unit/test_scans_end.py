"""Every scan ends: unscored and `web` scans complete with a report, illegal steps are failures, usage counts once.

The steps run with the real report service on the in-memory fakes (issue 9, "Scans that never end").
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.bootstrap import Services
from chalicelib.core.errors import IllegalTransition
from chalicelib.pipeline.errors import ScanTerminal
from chalicelib.pipeline.steps import Pipeline
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import BILLABLE_UNITS, Scan, ScanStatus, ScanType, SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES
from tests.support.memory import RecordingPublisher
from tests.unit.test_pipeline_steps import put_evidence, step


@pytest.fixture
def tenant(services: Services) -> Any:
    return services.auth.create_tenant("t1", "One")


def results(status: SignalStatus, *keys: str) -> dict[str, SignalResult]:
    return {k: SignalResult(status=status, max_score=MAX_SCORES[SignalKey(k)], error=None if
                            status is SignalStatus.COMPLETE else f"{k} could not run") for k in keys}


def run_to_the_end(services: Services, scan: Scan, network: dict[str, SignalResult],
                   intel: dict[str, SignalResult]) -> Scan:
    """MarkScanning, Score, RenderReport and Finalize, as the ASL runs them (groups the scan needs)."""
    pipeline: Pipeline = services.pipeline
    plan = pipeline.mark_scanning(step(scan))
    evidence = []
    for group, signals in (("network", network), ("intel", intel)):
        if plan["groups"][group]:
            evidence.append(put_evidence(services, scan, group, signals))
        else:
            evidence.append({"group": group, "skipped": True})
    wanted = [s.value for s in (SignalKey(k) for k in {**network, **intel})]
    pipeline.score_scan(step(scan, signals=wanted, evidence=evidence))
    pipeline.render_report(step(scan))
    pipeline.finalize_scan(step(scan))
    return services.scans.get(scan.tenant_id, scan.scan_id)


def usage(services: Services) -> dict[str, Any]:
    return services.usage.summary("t1", "7d")


def test_a_web_scan_completes_unscored_with_a_report(services: Services, tenant: Any,
                                                     events: RecordingPublisher) -> None:
    scan = services.scans.create(tenant, CreateScan(target="example.com", scan_type=ScanType.WEB))
    done = run_to_the_end(services, scan, results(SignalStatus.COMPLETE, "web"), {})
    assert done.status is ScanStatus.COMPLETE and done.progress == 100
    assert (done.score, done.grade, done.grade_label, done.ready) == (None, None, None, None)
    assert done.coverage is not None and done.coverage["tested"] == ["web"]
    assert "none of the tested signals carries points" in done.coverage["not_scored"]
    assert done.report_keys.keys() == {"pdf", "json"}
    assert events.names(scan.scan_id) == ["scan.started", "scan.completed"]
    assert events.events[-1][2]["score"] is None and events.events[-1][2]["report_url"]
    assert usage(services)["billable_units"] == BILLABLE_UNITS[ScanType.WEB]
    assert usage(services)["scans_by_status"]["complete"] == 1


@pytest.mark.parametrize("status", [SignalStatus.NOT_TESTED, SignalStatus.ERROR])
def test_a_posture_scan_whose_signals_all_could_not_run_completes_with_null_score(
        services: Services, tenant: Any, events: RecordingPublisher, status: SignalStatus) -> None:
    scan = services.scans.create(tenant, CreateScan(domain="example.com"))
    done = run_to_the_end(services, scan, results(status, "scan", "layer", "web"),
                          results(status, "mail", "reputation", "breach"))
    assert done.status is ScanStatus.COMPLETE
    assert (done.score, done.grade, done.ready) == (None, None, None)
    assert done.coverage is not None and done.coverage["not_scored"] == "not scored: no signal could be tested"
    report = json.loads(services.objects.get(done.report_keys["json"]))
    assert report["score"] is None and report["not_scored_reason"] == "not scored: no signal could be tested"
    assert {c["signal"]: (c["status"], c["reason"]) for c in report["coverage"]} == {
        k: (status.value, f"{k} could not run") for k in ("scan", "breach", "reputation", "mail", "layer", "web")}
    assert events.names(scan.scan_id) == ["scan.started", "scan.completed"]
    assert usage(services)["billable_units"] == BILLABLE_UNITS[ScanType.POSTURE]


def test_a_tls_scan_of_a_host_without_tls_completes(services: Services, tenant: Any,
                                                    events: RecordingPublisher) -> None:
    scan = services.scans.create(tenant, CreateScan(target="example.com", scan_type=ScanType.TLS))
    done = run_to_the_end(services, scan, results(SignalStatus.NOT_TESTED, "layer"), {})
    assert done.status is ScanStatus.COMPLETE and done.score is None and done.report_keys
    assert events.names(scan.scan_id)[-1] == "scan.completed"


def test_an_illegal_step_on_a_live_scan_is_not_taken_for_a_cancellation(services: Services, tenant: Any,
                                                                         events: RecordingPublisher) -> None:
    scan = services.scans.create(tenant, CreateScan(domain="example.com"))
    services.pipeline.mark_scanning(step(scan))
    with pytest.raises(IllegalTransition):  # scanning -> complete skips scoring: MarkFailed records it
        services.pipeline.finalize_scan(step(scan))
    services.scans.cancel("t1", scan.scan_id)
    with pytest.raises(ScanTerminal):
        services.pipeline.finalize_scan(step(scan))


def test_a_scan_that_could_not_be_started_fails_with_its_event_and_is_counted(
        services: Services, tenant: Any, events: RecordingPublisher) -> None:
    class Down:
        def start(self, scan_id: str, payload: dict[str, Any]) -> str:
            raise OSError("states unavailable")

    services.scans._workflow = Down()  # type: ignore[assignment]
    with pytest.raises(Exception, match="unavailable"):
        services.scans.create(tenant, CreateScan(domain="example.com"))
    [failed] = [d for _, e, d in events.events if e == "scan.failed"]
    assert failed["error"]["code"] == "pipeline-unavailable"
    assert usage(services)["scans_by_status"]["failed"] == 1 and usage(services)["billable_units"] == 0


def test_a_replayed_finalize_does_not_publish_a_second_terminal_event(services: Services, tenant: Any,
                                                                      events: RecordingPublisher) -> None:
    scan = services.scans.create(tenant, CreateScan(target="example.com", scan_type=ScanType.TLS))
    run_to_the_end(services, scan, results(SignalStatus.COMPLETE, "layer"), {})
    assert services.pipeline.finalize_scan(step(scan))["status"] == "complete"  # Step Functions retried it
    assert events.names(scan.scan_id) == ["scan.started", "scan.completed"]
    assert usage(services)["scans_by_status"]["complete"] == 1
