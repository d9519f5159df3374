"""Fixtures of the self-assessment tests: a tenant, a posture scan, the service, and a pipeline to score scans."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib.access.auth import Tenant
from chalicelib.bootstrap import Services
from chalicelib.pipeline.steps import Pipeline
from chalicelib.scanners.open_ports import CATALOG as PORTS
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.evidence import EvidenceDocument
from chalicelib.scans.keys import evidence_key
from chalicelib.scans.models import Finding, Scan, SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES
from chalicelib.selfassessment import questionnaire
from chalicelib.selfassessment.service import SelfAssessmentService
from tests.support.memory import RecordingPublisher

NETWORK = ("scan", "layer", "web")
INTEL = ("mail", "reputation", "breach")


@pytest.fixture
def tenant(services: Services) -> Tenant:
    return services.auth.create_tenant("t1", "Broker One")


@pytest.fixture
def scan(services: Services, tenant: Tenant) -> Scan:
    return services.scans.create(tenant, CreateScan(domain="example.com"))


@pytest.fixture
def publisher(events: RecordingPublisher) -> RecordingPublisher:
    return events


@pytest.fixture
def audit_log() -> list[tuple[str, str, str, dict[str, Any]]]:
    return []


@pytest.fixture
def sa(services: Services, publisher: RecordingPublisher,
       audit_log: list[tuple[str, str, str, dict[str, Any]]]) -> SelfAssessmentService:
    """The service as bootstrap builds it, plus an audit hook that records."""
    def audit(tenant_id: str, action: str, *, target: str, details: Any) -> None:
        audit_log.append((tenant_id, action, target, dict(details)))

    built = services.self_assessment
    built._audit = audit
    return built


@pytest.fixture
def pipeline(services: Services, publisher: RecordingPublisher) -> Pipeline:
    return Pipeline(services.scans, services.objects, publisher, services.reports, heartbeat_seconds=30,
                    public_base_url=services.settings.public_base_url, clock=lambda: 1000.0)


def answers(choice: str = "best") -> dict[str, str]:
    """Every question answered with its best (or worst) option."""
    data = questionnaire.load()
    pick = max if choice == "best" else min
    return {q.id: pick(q.options, key=lambda o: o.points).value for q in data.questions()}


def rdp() -> Finding:
    return PORTS.make("rdp-exposed", key="3389", evidence={"port": 3389})


def run_to(pipeline: Pipeline, services: Services, scan: Scan, *, until: str = "complete",
           scan_findings: list[Finding] | None = None) -> Scan:
    """Drive a scan through MarkScanning, Score (with `scan_findings` on the `scan` signal), RenderReport, Finalize."""
    step = {"scan_id": scan.scan_id, "tenant_id": scan.tenant_id}
    pipeline.mark_scanning(step)
    if until == "scanning":
        return services.scans.get(scan.tenant_id, scan.scan_id)
    evidence = [_evidence(services, scan, "network", {k: _complete(k, scan_findings if k == "scan" else [])
                                                      for k in NETWORK}),
                _evidence(services, scan, "intel", {k: _complete(k, []) for k in INTEL})]
    pipeline.score_scan({**step, "signals": [*NETWORK, *INTEL], "evidence": evidence})
    if until == "scored":
        return services.scans.get(scan.tenant_id, scan.scan_id)
    pipeline.render_report(step)
    pipeline.finalize_scan(step)
    return services.scans.get(scan.tenant_id, scan.scan_id)


def _complete(key: str, findings: list[Finding] | None) -> SignalResult:
    return SignalResult(status=SignalStatus.COMPLETE, max_score=MAX_SCORES[SignalKey(key)], findings=findings or [])


def _evidence(services: Services, scan: Scan, group: str, signals: dict[str, SignalResult]) -> dict[str, Any]:
    now = datetime.now(UTC)
    document = EvidenceDocument(scan_id=scan.scan_id, tenant_id=scan.tenant_id, group=group, target=scan.target,
                                started_at=now, finished_at=now, signals={SignalKey(k): v for k, v in signals.items()})
    body = document.model_dump_json().encode()
    key = evidence_key(scan.tenant_id, scan.scan_id, group)
    services.objects.put(key, body, "application/json")
    return {"group": group, "skipped": False, "evidence_key": key, "sha256": hashlib.sha256(body).hexdigest()}
