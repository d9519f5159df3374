"""Pipeline steps on fakes: transitions, evidence checks, error mapping, run plan, findings pages."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.bootstrap import Services
from chalicelib.core.errors import BadRequest, NotFound, ReportNotRenderable
from chalicelib.pipeline.errors import BadStepInput, EvidenceInvalid, ScanTerminal
from chalicelib.pipeline.steps import Pipeline, failure_error, run_plan
from chalicelib.scanners.open_ports import CATALOG as PORTS
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.evidence import EvidenceDocument
from chalicelib.scans.keys import evidence_key
from chalicelib.scans.models import Scan, ScanStatus, ScanType, Severity, SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES
from tests.support.memory import RecordingPublisher


class Renderer:
    def __init__(self) -> None:
        self.calls: list[tuple[str, str, int | None]] = []
        self.refuse = False

    def render_and_store(self, tenant_id: str, scan_id: str, *, progress: int | None = None) -> dict[str, Any]:
        if self.refuse:
            raise ReportNotRenderable(f"Scan {scan_id} was cancelled.")
        self.calls.append((tenant_id, scan_id, progress))
        return {"scan_id": scan_id}


@pytest.fixture
def tenant(services: Services) -> Any:
    return services.auth.create_tenant("t1", "One")


@pytest.fixture
def events() -> RecordingPublisher:
    return RecordingPublisher()


@pytest.fixture
def renderer() -> Renderer:
    return Renderer()


@pytest.fixture
def pipeline(services: Services, events: RecordingPublisher, renderer: Renderer) -> Pipeline:
    return Pipeline(services.scans, services.objects, events, renderer, heartbeat_seconds=30, clock=lambda: 1000.0)


@pytest.fixture
def scan(services: Services, tenant: Any) -> Scan:
    return services.scans.create(tenant, CreateScan(domain="example.com"))


def step(scan: Scan, **extra: Any) -> dict[str, Any]:
    return {"scan_id": scan.scan_id, "tenant_id": scan.tenant_id, **extra}


def put_evidence(services: Services, scan: Scan, group: str, signals: dict[str, SignalResult],
                 **overrides: Any) -> dict[str, Any]:
    document = EvidenceDocument(scan_id=overrides.get("scan_id", scan.scan_id), tenant_id=scan.tenant_id,
                                group=group, target=scan.target, started_at=datetime.now(UTC),
                                finished_at=datetime.now(UTC), signals={SignalKey(k): v for k, v in signals.items()})
    body = document.model_dump_json().encode()
    key = evidence_key(scan.tenant_id, scan.scan_id, group)
    services.objects.put(key, body, "application/json")
    return {"group": group, "skipped": False, "evidence_key": key, "sha256": hashlib.sha256(body).hexdigest()}


def complete(*keys: str, findings: dict[str, list[Any]] | None = None) -> dict[str, SignalResult]:
    return {k: SignalResult(status=SignalStatus.COMPLETE, max_score=MAX_SCORES[SignalKey(k)],
                            findings=(findings or {}).get(k, [])) for k in keys}


def scored(pipeline: Pipeline, services: Services, scan: Scan,
           port_findings: list[Any] | None = None) -> dict[str, Any]:
    pipeline.mark_scanning(step(scan))
    evidence = [put_evidence(services, scan, "network", complete("scan", "layer", "web",
                                                                 findings={"scan": port_findings or []})),
                put_evidence(services, scan, "intel", complete("mail", "reputation", "breach"))]
    return pipeline.score_scan(step(scan, signals=["scan", "breach", "reputation", "mail", "layer", "web"],
                                    evidence=evidence))


def test_mark_scanning_moves_pending_to_scanning_and_plans_both_groups(
        pipeline: Pipeline, services: Services, scan: Scan, events: RecordingPublisher) -> None:
    plan = pipeline.mark_scanning(step(scan))
    stored = services.scans.get("t1", scan.scan_id)
    assert stored.status == ScanStatus.SCANNING and stored.started_at is not None and stored.progress == 10
    assert plan["groups"] == {"network": True, "intel": True}
    assert plan["scanner_timeout_seconds"] == 900 - 60 and plan["deadline"] == str(1000 + 840)
    assert plan["heartbeat_seconds"] == 30 and plan["heartbeat"] == "30"
    assert [e for _, e, _ in events.events] == ["scan.started"]


def test_mark_scanning_a_cancelled_scan_raises_scan_terminal(pipeline: Pipeline, services: Services,
                                                             scan: Scan) -> None:
    services.scans.cancel("t1", scan.scan_id)
    with pytest.raises(ScanTerminal):
        pipeline.mark_scanning(step(scan))


def test_step_input_without_ids_is_bad_step_input(pipeline: Pipeline) -> None:
    with pytest.raises(BadStepInput):
        pipeline.mark_scanning({"scan_id": ""})


def test_score_stores_signals_score_grade_and_coverage(pipeline: Pipeline, services: Services, scan: Scan) -> None:
    result = scored(pipeline, services, scan)
    stored = services.scans.get("t1", scan.scan_id)
    assert result == {"score": 100, "grade": "A", "findings": 0}
    assert stored.status == ScanStatus.SCORING and stored.grade == "A" and stored.ready is True
    assert stored.coverage is not None and set(stored.coverage["tested"]) == {
        "scan", "breach", "reputation", "mail", "layer", "web"}


def test_score_stores_the_grade_caps_and_the_intel_version_the_scanner_used(
        pipeline: Pipeline, services: Services, scan: Scan) -> None:
    pipeline.mark_scanning(step(scan))
    network = complete("scan", "layer", "web", findings={"scan": [PORTS.make("rdp-exposed", key="3389")]})
    network["scan"] = network["scan"].model_copy(update={"intel_version": "2026-12-07.1"})
    evidence = [put_evidence(services, scan, "network", network),
                put_evidence(services, scan, "intel", complete("mail", "reputation", "breach"))]
    pipeline.score_scan(step(scan, signals=["scan", "breach", "reputation", "mail", "layer", "web"],
                             evidence=evidence))
    stored = services.scans.get("t1", scan.scan_id)
    assert [(c.code, c.max_grade) for c in stored.caps] == [("rdp-exposed", "C")]
    assert (stored.grade, stored.score) == ("C", 79)  # 85 by the sum; the RDP cap holds it at C's top
    assert stored.intel_version == "2026-12-07.1"


def test_same_evidence_gives_the_same_score(pipeline: Pipeline, services: Services, tenant: Any) -> None:
    finding = PORTS.make("rdp-exposed", key="3389", evidence={"port": 3389})
    first = services.scans.create(tenant, CreateScan(domain="example.com"))
    second = services.scans.create(tenant, CreateScan(domain="example.com"))
    assert scored(pipeline, services, first, port_findings=[finding]) == \
        scored(pipeline, services, second, port_findings=[finding])


def test_score_refuses_tampered_evidence(pipeline: Pipeline, services: Services, scan: Scan) -> None:
    pipeline.mark_scanning(step(scan))
    network = put_evidence(services, scan, "network", complete("scan", "layer", "web"))
    intel = put_evidence(services, scan, "intel", complete("mail", "reputation", "breach"))
    services.objects.put(network["evidence_key"], b'{"tampered": true}', "application/json")
    with pytest.raises(EvidenceInvalid, match="digest"):
        pipeline.score_scan(step(scan, signals=["scan", "layer", "web", "mail", "reputation", "breach"],
                                 evidence=[network, intel]))
    assert services.scans.get("t1", scan.scan_id).status == ScanStatus.SCANNING


@pytest.mark.parametrize(("case", "message"), [
    ("missing-signal", "no evidence for signal"),
    ("foreign-prefix", "outside this scan"),
    ("wrong-group-signal", "does not own"),
    ("no-object", "missing"),
])
def test_score_refuses_evidence_that_does_not_fit(pipeline: Pipeline, services: Services, scan: Scan,
                                                  case: str, message: str) -> None:
    pipeline.mark_scanning(step(scan))
    network = put_evidence(services, scan, "network", complete("scan", "layer", "web"))
    intel = put_evidence(services, scan, "intel", complete("mail", "reputation", "breach"))
    if case == "missing-signal":
        intel = put_evidence(services, scan, "intel", complete("mail", "reputation"))
    elif case == "foreign-prefix":
        intel = {**intel, "evidence_key": "tenants/t2/scans/other/evidence/intel.json"}
    elif case == "wrong-group-signal":
        intel = put_evidence(services, scan, "intel", complete("mail", "reputation", "breach", "scan"))
    elif case == "no-object":
        intel = {**intel, "evidence_key": evidence_key("t1", scan.scan_id, "intel") + ".gone"}
    with pytest.raises(EvidenceInvalid, match=message):
        pipeline.score_scan(step(scan, signals=["scan", "layer", "web", "mail", "reputation", "breach"],
                                 evidence=[network, intel]))


def test_unknown_finding_code_is_invalid_evidence(pipeline: Pipeline, services: Services, scan: Scan) -> None:
    bogus = PORTS.make("open-port", key="1").model_copy(update={"code": "made-up"})
    with pytest.raises(EvidenceInvalid, match="made-up"):
        scored(pipeline, services, scan, port_findings=[bogus])


def test_huge_finding_evidence_is_trimmed_on_the_record(pipeline: Pipeline, services: Services, scan: Scan) -> None:
    big = PORTS.make("open-port", key="80", evidence={"banner": "x" * 20_000})
    scored(pipeline, services, scan, port_findings=[big])
    stored = services.scans.get("t1", scan.scan_id)
    evidence = stored.signals["scan"].findings[0].evidence
    assert evidence["truncated"] is True and len(json.dumps(evidence)) < 500


def test_render_then_finalize_completes_and_publishes(pipeline: Pipeline, services: Services, scan: Scan,
                                                      events: RecordingPublisher, renderer: Renderer) -> None:
    scored(pipeline, services, scan)
    pipeline.render_report(step(scan))
    assert renderer.calls == [("t1", scan.scan_id, 90)]
    final = pipeline.finalize_scan(step(scan))
    assert final == {"status": "complete", "score": 100, "grade": "A"}
    assert [e for _, e, _ in events.events] == ["scan.started", "scan.completed"]
    completed = events.events[-1][2]
    assert completed["scan_token"] == scan.scan_id and completed["grade"] == "A"


def test_render_of_a_scan_cancelled_meanwhile_stops_quietly(pipeline: Pipeline, renderer: Renderer,
                                                             services: Services, scan: Scan) -> None:
    services.scans.cancel("t1", scan.scan_id)
    renderer.refuse = True
    with pytest.raises(ScanTerminal):
        pipeline.render_report(step(scan))


def test_a_refused_render_of_a_live_scan_is_a_failure_not_a_cancellation(pipeline: Pipeline, renderer: Renderer,
                                                                         services: Services, scan: Scan) -> None:
    scored(pipeline, services, scan)
    renderer.refuse = True
    with pytest.raises(ReportNotRenderable):
        pipeline.render_report(step(scan))
    assert failure_error({"Error": "ReportNotRenderable", "Cause": "x"}).code == "report-failed"


def test_mark_failed_records_the_mapped_error_and_publishes(pipeline: Pipeline, services: Services, scan: Scan,
                                                           events: RecordingPublisher) -> None:
    pipeline.mark_scanning(step(scan))
    envelope = json.dumps({"errorType": "EvidenceInvalid", "errorMessage": "evidence of 'intel' is malformed"})
    result = pipeline.mark_failed(step(scan, failure={"Error": "EvidenceInvalid", "Cause": envelope}))
    stored = services.scans.get("t1", scan.scan_id)
    assert result == {"status": "failed", "code": "scanner-invalid-output"}
    assert stored.status == ScanStatus.FAILED and stored.error is not None
    assert "evidence of 'intel' is malformed" in stored.error.message
    assert events.events[-1][1] == "scan.failed"


def test_mark_failed_leaves_a_finished_scan_alone_and_sends_its_own_terminal_event_once(
        pipeline: Pipeline, services: Services, scan: Scan, events: RecordingPublisher) -> None:
    services.__dict__["webhooks"] = events  # the API and the pipeline publish through one webhook service
    services.scans.cancel("t1", scan.scan_id)
    for _ in range(2):
        assert pipeline.mark_failed(step(scan, failure={"Error": "States.Timeout"}))["status"] == "unchanged"
    assert services.scans.get("t1", scan.scan_id).status == ScanStatus.CANCELLED
    assert events.names(scan.scan_id) == ["scan.cancelled"] and events.calls == 3


def test_a_finalize_that_died_after_its_write_still_leaves_one_scan_completed(
        pipeline: Pipeline, services: Services, scan: Scan, events: RecordingPublisher) -> None:
    """Finalize wrote `complete` and died before publishing; its Catch runs MarkFailed on a complete scan."""
    pipeline.mark_scanning(step(scan))
    services.scans.transition("t1", scan.scan_id, ScanStatus.SCORING, progress=75)
    services.scans.transition("t1", scan.scan_id, ScanStatus.COMPLETE, progress=100)  # the write that landed
    assert events.names(scan.scan_id) == ["scan.started"]
    pipeline.mark_failed(step(scan, failure={"Error": "States.Timeout"}))
    pipeline.finalize_scan(step(scan))  # and a replay of Finalize on top sends nothing more
    assert events.names(scan.scan_id) == ["scan.started", "scan.completed"]
    assert services.scans.get("t1", scan.scan_id).status == ScanStatus.COMPLETE


@pytest.mark.parametrize(("error", "code"), [
    ("States.Timeout", "timeout"), ("States.HeartbeatTimeout", "scanner-unresponsive"),
    ("Scanner.Crashed", "scanner-crashed"), ("Scanner.InvalidInput", "scanner-invalid-input"),
    ("Scanner.Transient", "scanner-unavailable"), ("EvidenceInvalid", "scanner-invalid-output"),
    ("ECS.AccessDeniedException", "scanner-launch-failed"), ("KeyError", "internal-error"),
])
def test_failure_error_maps_step_functions_errors_to_stable_codes(error: str, code: str) -> None:
    assert failure_error({"Error": error, "Cause": "why"}).code == code


def test_failure_message_is_one_bounded_line() -> None:
    message = failure_error({"Error": "Scanner.Crashed", "Cause": "line one\nline two " + "x" * 2000}).message
    assert "\n" not in message and len(message) <= 500


def test_run_plan_skips_groups_the_scan_type_does_not_need(services: Services, tenant: Any) -> None:
    scan = services.scans.create(tenant, CreateScan(target="93.184.216.34", scan_type=ScanType.TLS,
                                                    timeout_seconds=30))
    plan = run_plan(scan, 0.0, 60)
    assert plan["groups"] == {"network": True, "intel": False}
    assert plan["scanner_timeout_seconds"] == 30 - 7


def test_findings_are_filtered_sorted_and_paginated(pipeline: Pipeline, services: Services, scan: Scan) -> None:
    findings = [PORTS.make("docker-api-exposed", key="2375"), PORTS.make("rdp-exposed", key="3389"),
                PORTS.make("open-port", key="80"), PORTS.make("open-port", key="443")]
    scored(pipeline, services, scan, port_findings=findings)
    _, first, cursor, total = services.scans.findings("t1", scan.scan_id, limit=2)
    assert total == 4 and [f.severity for f in first] == sorted([f.severity for f in first],
                                                                key=list(Severity).index)
    assert first[0].code == "docker-api-exposed" and cursor is not None
    _, rest, end, _ = services.scans.findings("t1", scan.scan_id, limit=2, cursor=cursor)
    assert {f.id for f in first}.isdisjoint({f.id for f in rest}) and len(rest) == 2 and end is None
    _, high, _, count = services.scans.findings("t1", scan.scan_id, severity=Severity.HIGH)
    assert count == len(high) and all(f.severity == Severity.HIGH for f in high) and high
    assert high[0].cwe == "CWE-668"  # rdp-exposed; "668" and "cwe-668" find it too
    for spelling in ("668", "cwe-668", "CWE-668"):
        _, by_cwe, _, _ = services.scans.findings("t1", scan.scan_id, cwe=spelling)
        assert [f.code for f in by_cwe] == ["rdp-exposed"]


def test_findings_cursor_of_another_scan_is_refused(pipeline: Pipeline, services: Services, scan: Scan,
                                                    tenant: Any) -> None:
    scored(pipeline, services, scan, port_findings=[PORTS.make("open-port", key=str(p)) for p in range(3)])
    _, _, cursor, _ = services.scans.findings("t1", scan.scan_id, limit=1)
    other = services.scans.create(tenant, CreateScan(domain="example.com"))
    with pytest.raises(BadRequest):
        services.scans.findings("t1", other.scan_id, cursor=cursor)


def test_findings_of_another_tenants_scan_are_not_found(services: Services, scan: Scan) -> None:
    services.auth.create_tenant("t2", "Two")
    with pytest.raises(NotFound):
        services.scans.findings("t2", scan.scan_id)


def test_cancel_publishes_scan_cancelled_with_the_scan_fields(services: Services, scan: Scan) -> None:
    recorded = RecordingPublisher()
    services.__dict__["webhooks"] = recorded  # `events` is the webhook service
    services.scans.cancel("t1", scan.scan_id)
    assert recorded.names(scan.scan_id) == ["scan.cancelled"]
    data = recorded.events[0][2]
    assert data["status"] == "cancelled" and data["status_url"].endswith(f"/v1/scans/{scan.scan_id}")
    assert data["report_url"] is None and data["error"]["code"] == "cancelled"


def test_cancel_still_cancels_when_events_cannot_be_sent(services: Services, scan: Scan) -> None:
    class Down:
        def publish(self, tenant_id: str, event: str, data: dict[str, Any]) -> list[str]:
            raise OSError("queue unavailable")

    services.__dict__["webhooks"] = Down()
    assert services.scans.cancel("t1", scan.scan_id).status == ScanStatus.CANCELLED


def test_replayed_steps_succeed_without_writing_twice(pipeline: Pipeline, services: Services, scan: Scan,
                                                      events: RecordingPublisher) -> None:
    first = pipeline.mark_scanning(step(scan))
    started_at = services.scans.get("t1", scan.scan_id).started_at
    assert pipeline.mark_scanning(step(scan))["groups"] == first["groups"]  # a Lambda retry after a lost answer
    assert services.scans.get("t1", scan.scan_id).started_at == started_at
    evidence = [put_evidence(services, scan, "network", complete("scan", "layer", "web")),
                put_evidence(services, scan, "intel", complete("mail", "reputation", "breach"))]
    payload = step(scan, signals=["scan", "layer", "web", "mail", "reputation", "breach"], evidence=evidence)
    assert pipeline.score_scan(payload) == pipeline.score_scan(payload)
    pipeline.render_report(step(scan))
    assert pipeline.finalize_scan(step(scan)) == pipeline.finalize_scan(step(scan))
    assert services.scans.get("t1", scan.scan_id).status == ScanStatus.COMPLETE
