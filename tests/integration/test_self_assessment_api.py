"""The self-assessment through the public API (Chalice's test client): the link on create, the fields on GET
(/v1 and the CertIQ dialect), tenant isolation, and the CertIQ webhook payload."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.bootstrap import Services
from chalicelib.pipeline.steps import Pipeline
from chalicelib.webhooks.formats.certiq import CertiqFormat
from tests.support.memory import RecordingPublisher
from tests.unit.selfassessment.conftest import answers, rdp, run_to


class Api:
    def __init__(self, client: Client, keys: dict[str, str]) -> None:
        self.client, self.keys = client, keys

    def call(self, method: str, path: str, body: Any = None, *, tenant: str = "acme") -> Any:
        headers = {"Authorization": f"Bearer {self.keys[tenant]}", "Content-Type": "application/json"}
        response = getattr(self.client.http, method.lower())(
            path, headers=headers, body=json.dumps(body).encode() if body is not None else b"")
        return response.status_code, json.loads(response.body) if response.body else None


@pytest.fixture
def publisher(services: Services) -> RecordingPublisher:
    recorded = RecordingPublisher()
    services.__dict__["webhooks"] = recorded
    return recorded


@pytest.fixture
def api(services: Services, publisher: RecordingPublisher) -> Iterator[Api]:
    keys = {}
    for tenant in ("acme", "rival"):
        services.auth.create_tenant(tenant, tenant.title())
        keys[tenant] = services.auth.issue_key(tenant)[1]
    with Client(app) as client:
        yield Api(client, keys)


@pytest.fixture
def pipeline(services: Services, publisher: RecordingPublisher) -> Pipeline:
    return Pipeline(services.scans, services.objects, publisher, services.reports, heartbeat_seconds=30,
                    public_base_url=services.settings.public_base_url)


def submitted_scan(api: Api, services: Services, pipeline: Pipeline, path: str = "/v1/scans") -> tuple[str, str]:
    """A posture scan created through `path`, completed with RDP exposed, whose insured claimed MFA everywhere."""
    status, created = api.call("POST", path, {"domain": "example.com"})
    assert status == 202
    url = created["self_assessment_url"]
    run_to(pipeline, services, services.scans.get("acme", created["scan_token"]), scan_findings=[rdp()])
    services.self_assessment.save(url.rsplit("/", 1)[1], answers("best"), submit=True)
    return created["scan_token"], url


def test_a_new_posture_scan_answers_its_self_assessment_link(api: Api, services: Services) -> None:
    status, created = api.call("POST", "/v1/scans", {"domain": "example.com"})
    assert status == 202
    url = created["self_assessment_url"]
    assert url.startswith(f"{services.settings.public_base_url}/sa/sa_")
    session = services.self_assessment.open(url.rsplit("/", 1)[1])
    assert session.domain == "example.com" and session.branding.partner_name == "Acme"


def test_a_ports_scan_and_a_template_launch_answer_as_their_type_says(api: Api) -> None:
    status, created = api.call("POST", "/v1/scans", {"target": "example.com", "scan_type": "ports"})
    assert status == 202 and created["self_assessment_url"] is None
    status, template = api.call("POST", "/v1/scan-templates", {"name": "Quote intake", "scan_type": "posture"})
    assert status == 201
    status, launched = api.call("POST", f"/v1/scan-templates/{template['template_id']}/launch",
                                {"target": "example.com"})
    assert status == 202 and "/sa/sa_" in launched["self_assessment_url"]


def test_get_scan_shows_nothing_until_the_insured_submits(api: Api) -> None:
    _, created = api.call("POST", "/v1/scans", {"domain": "example.com"})
    _, scan = api.call("GET", f"/v1/scans/{created['scan_token']}")
    assert (scan["sa_score"], scan["sa_complete"], scan["combined_score"], scan["combined_grade"],
            scan["self_assessment"]) == (None, False, None, None, None)


def test_get_scan_shows_the_self_assessment_the_combined_score_and_never_the_token(
        api: Api, services: Services, pipeline: Pipeline) -> None:
    token, url = submitted_scan(api, services, pipeline)
    status, scan = api.call("GET", f"/v1/scans/{token}")
    assert status == 200
    assert (scan["score"], scan["sa_score"], scan["sa_complete"], scan["combined_score"], scan["combined_grade"],
            scan["grade"], scan["ready"]) == (79, 100, True, 79, "C", "C", True)
    assert scan["self_assessment"]["answers"]["mfa_coverage"] == "ml3"
    assert [c["finding_code"] for c in scan["self_assessment"]["contradictions"]] == ["rdp-exposed"]
    assert url.rsplit("/", 1)[1] not in json.dumps(scan)
    assert api.call("GET", f"/v1/scans/{token}", tenant="rival")[0] == 404


def test_the_certiq_dialect_answers_the_link_and_the_self_assessment_fields(
        api: Api, services: Services, pipeline: Pipeline) -> None:
    token, url = submitted_scan(api, services, pipeline, path="/api/v1/scans")
    assert "/sa/sa_" in url
    status, scan = api.call("GET", f"/api/v1/scans/{token}")
    assert status == 200
    assert (scan["score"], scan["sa_score"], scan["sa_complete"], scan["combined_score"], scan["combined_grade"],
            scan["grade"], scan["certiq_ready"]) == (79, 100, True, 79, "C", "C", True)
    assert scan["self_assessment"]["questionnaire_version"] == "2026-12"
    assert scan["self_assessment"]["contradictions"][0]["question_id"] == "mfa_coverage"


def test_the_certiq_webhook_carries_the_combined_score(api: Api, services: Services, pipeline: Pipeline,
                                                       publisher: RecordingPublisher) -> None:
    token, _ = submitted_scan(api, services, pipeline)
    [data] = [d for _, event, d in publisher.events if event == "scan.self_assessment_completed"]
    body = json.loads(CertiqFormat().body("evt_1", "scan.self_assessment_completed",
                                          datetime(2026, 12, 7, tzinfo=UTC), data))
    assert body == {"event": "scan.self_assessment_completed", "scan_token": token, "status": "complete",
                    "score": 79, "combined_score": 79, "sa_complete": True, "grade": "C",
                    "report_url": f"{services.settings.public_base_url}/api/v1/scans/{token}/report",
                    "completed_at": "2026-12-07T00:00:00Z"}
