"""The SecuScan dialect against a client written from SecuScan's documentation: Chalice's test client on moto."""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit

import pytest
from chalice.test import Client

from app import app
from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.settings import Settings
from chalicelib.local.provision import Resources
from chalicelib.scans.models import Finding, ScanStatus, Severity, SignalKey
from tests.conftest import PEPPER, PUBLIC_DOMAINS
from tests.contract.clients.secuscan import Answer, SecuScan, SecuScanError
from tests.integration.conftest import aws, resources  # noqa: F401  (moto fixtures)
from tests.support.fakes import FakeResolver
from tests.support.memory import MemoryObjectStore, MemoryQueue, RecordingWorkflow
from tests.unit.reports.factories import make_scan

BASE = "https://api.perimeter.test/v1/secuscan"
EXTRA_DOMAINS = {"api.example.com": ["93.184.216.40"], "hooks.example.com": ["93.184.216.41"],
                 "h.example.com": ["93.184.216.41"]}


@pytest.fixture
def services(aws: dict[str, Any], resources: Resources) -> Iterator[Services]:  # noqa: F811
    settings = Settings.from_env({}, key_pepper=PEPPER, table_name=resources.table,
                                 state_machine_arn=resources.state_machine_arn, rate_limit_per_minute=1000,
                                 webhook_queue_url=resources.queue_url, webhook_dlq_url=resources.dlq_url,
                                 public_base_url="https://api.perimeter.test")
    wired = Services(settings, store=DynamoDBStore(resources.table, aws["dynamodb"]),
                     workflow=RecordingWorkflow(),
                     resolver=FakeResolver({**PUBLIC_DOMAINS, **EXTRA_DOMAINS}),
                     objects=MemoryObjectStore())
    wired.webhook_queue = MemoryQueue()
    set_services(wired)
    for tenant in ("acme", "rival"):
        wired.auth.create_tenant(tenant, tenant.title())
    wired.auth.create_tenant("throttled", "Throttled", rate_limit_per_minute=3)
    yield wired
    set_services(None)


@pytest.fixture
def chalice_client(monkeypatch: pytest.MonkeyPatch) -> Iterator[Client]:
    # A PDF leaves API Gateway base64-encoded only for a binary media type (the embedded stack sends bytes).
    monkeypatch.setattr(app.api, "binary_types", ["application/pdf"])
    with Client(app) as client:
        yield client


def _transport(client: Client) -> Any:
    def send(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
        parts = urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = client.http.request(method, path, headers=dict(headers), body=body)
        raw = response.body if isinstance(response.body, bytes) else str(response.body).encode()
        return Answer(response.status_code, {k.lower(): str(v) for k, v in response.headers.items()}, raw)
    return send


def secuscan(services: Services, client: Client, tenant: str = "acme") -> SecuScan:
    return SecuScan(BASE, services.auth.issue_key(tenant)[1], _transport(client))


def finding(signal: SignalKey, code: str, severity: Severity, cwe: str | None, key: str) -> Finding:
    digest = hashlib.sha256(f"{signal}|{code}|{key}".encode()).hexdigest()[:20]
    return Finding(id=f"fnd_{digest}", signal=signal, code=code, severity=severity, title=f"{code} on {key}",
                   detail="d", remediation="r", cwe=cwe)


OLD_TLS = finding(SignalKey.LAYER, "tls-old", Severity.HIGH, "CWE-326", "a")
NO_DMARC = finding(SignalKey.MAIL, "dmarc-missing", Severity.MEDIUM, "CWE-290", "a")
OPEN_RDP = finding(SignalKey.SCAN, "rdp-exposed", Severity.CRITICAL, "CWE-284", "3389")


def finish(services: Services, tenant: str, scan_id: str, findings: list[Finding], score: int, grade: str) -> None:
    """Run a member scan through the pipeline's states with these findings (no scanners)."""
    template = make_scan(findings)
    services.scans.transition(tenant, scan_id, ScanStatus.SCANNING)
    services.scans.transition(tenant, scan_id, ScanStatus.SCORING, signals=template.signals, score=score,
                              grade=grade, grade_label="label", ready=score >= 65, scoring_version="2026.12",
                              findings_count=len(findings))
    services.reports.render_and_store(tenant, scan_id)
    services.pipeline.finalize_scan({"scan_id": scan_id, "tenant_id": tenant})


def members(client: SecuScan, scan_id: str) -> dict[str, str]:
    return {t["target"]: t["report_id"] for t in client.scan(scan_id)["targets"]}


def test_a_scope_is_one_scan_queued_with_an_eta(services: Services, chalice_client: Client) -> None:
    client = secuscan(services, chalice_client)
    created = client.launch_scan(["example.com", "API.example.com", "example.com"], priority="high")
    assert client.last is not None and client.last.status == 202
    assert created["status"] == "queued" and created["eta_seconds"] > 0 and created["scan_id"].startswith("scn_")
    assert created["scope"] == ["example.com", "api.example.com"]
    scan = client.scan(created["scan_id"])
    assert scan["status"] == "queued" and scan["scan_type"] == "easm" and scan["priority"] == "high"
    assert [t["target"] for t in scan["targets"]] == ["example.com", "api.example.com"]
    assert scan["eta_seconds"] is not None and scan["reports"] is None
    assert len({t["report_id"] for t in scan["targets"]} | {scan["scan_id"]}) == 3


def test_the_documented_flow_status_findings_filters_pages_and_reports(services: Services,
                                                                       chalice_client: Client) -> None:
    client = secuscan(services, chalice_client)
    scan_id = client.launch_scan(["example.com", "api.example.com"])["scan_id"]
    ids = members(client, scan_id)
    finish(services, "acme", ids["example.com"], [OLD_TLS, NO_DMARC], 70, "C")
    assert client.scan(scan_id)["status"] == "running"
    finish(services, "acme", ids["api.example.com"], [OPEN_RDP], 40, "F")
    scan = client.scan(scan_id)
    assert (scan["status"], scan["score"], scan["grade"], scan["findings_count"]) == ("completed", 40, "F", 3)
    assert scan["eta_seconds"] is None and scan["reports"]["pdf"].endswith(f"/reports/{scan_id}.pdf")

    every = list(client.findings(scan_id, per_page=2))
    assert [f["severity"] for f in every] == ["critical", "high", "medium"]
    assert {f["target"] for f in every} == {"example.com", "api.example.com"}
    assert all(f["status"] == "open" for f in every)
    page = client.findings_page(scan_id, per_page=2)
    assert page["meta"] == {"page": 1, "per_page": 2, "total": 3, "total_pages": 2} and page["links"]["next"]
    assert [f["id"] for f in client.findings(scan_id, target="api.example.com")] == [OPEN_RDP.id]
    assert [f["id"] for f in client.findings(scan_id, cwe="326")] == [OLD_TLS.id]
    assert [f["id"] for f in client.findings(scan_id, severity="medium")] == [NO_DMARC.id]
    with pytest.raises(SecuScanError) as bad:
        client.findings_page(scan_id, severity="urgent")
    assert (bad.value.answer.status, bad.value.error["code"]) == (422, "validation_error")

    html = client.report(scan_id, "html")
    assert html.headers["content-type"].startswith("text/html") and b"<script" not in html.body
    assert b"api.example.com" in html.body and b"rdp-exposed on 3389" in html.body
    combined = json.loads(client.report(scan_id, "json").body)
    assert [r["target"] for r in combined["reports"]] == ["example.com", "api.example.com"]
    one_pdf = client.report(ids["example.com"], "pdf")
    assert one_pdf.body.startswith(b"%PDF") and one_pdf.headers["content-type"] == "application/pdf"
    with pytest.raises(SecuScanError) as two_pdfs:
        client.report(scan_id, "pdf")
    assert (two_pdfs.value.error["code"], two_pdfs.value.error["value"]) == ("unsupported_value", "pdf")
    with pytest.raises(SecuScanError) as docx:
        client.report(scan_id, "docx")
    assert (docx.value.error["code"], docx.value.error["field"], docx.value.error["value"]) == (
        "unsupported_value", "format", "docx")


def test_the_report_signature_is_keyed_with_the_callers_key(services: Services, chalice_client: Client) -> None:
    client = secuscan(services, chalice_client)
    scan_id = client.launch_scan(["example.com"])["scan_id"]
    finish(services, "acme", members(client, scan_id)["example.com"], [OLD_TLS], 80, "B")
    other = SecuScan(BASE, services.auth.issue_key("acme")[1], client.transport)
    mine, theirs = client.report(scan_id, "pdf"), other.report(scan_id, "pdf")
    assert mine.body == theirs.body and mine.headers["x-secuscan-signature"] != theirs.headers["x-secuscan-signature"]
    assert mine.headers["content-digest"].startswith("sha-256=:")
    with pytest.raises(SecuScanError) as foreign:
        secuscan(services, chalice_client, "rival").report(scan_id, "pdf")
    assert foreign.value.answer.status == 404


def test_resolved_findings_and_target_changed_compare_with_the_previous_scan(services: Services,
                                                                            chalice_client: Client) -> None:
    client = secuscan(services, chalice_client)
    hook = client.register_webhook("https://hooks.example.com/secuscan",
                                   ["scan.completed", "finding.created", "target.changed"],
                                   secret="my-own-secret-0123456789")
    assert hook["secret"] is None and hook["events"] == ["scan.completed", "finding.created", "target.changed"]
    first = client.launch_scan(["example.com"])["scan_id"]
    finish(services, "acme", members(client, first)["example.com"], [OLD_TLS, NO_DMARC], 60, "D")
    second = client.launch_scan(["example.com"])["scan_id"]
    finish(services, "acme", members(client, second)["example.com"], [NO_DMARC], 85, "B")
    statuses = {f["id"]: f["status"] for f in client.findings(second)}
    assert statuses == {NO_DMARC.id: "open", OLD_TLS.id: "resolved"}
    assert [f["id"] for f in client.findings(second, status="resolved")] == [OLD_TLS.id]

    deliveries, _ = services.webhooks.list_deliveries("acme", hook["id"], limit=50)
    bodies = [json.loads(d.body) for d in deliveries]
    completed = [b for b in bodies if b["event"] == "scan.completed"]
    assert {b["data"]["scan_id"] for b in completed} == {first, second}
    assert all(b["data"]["status"] == "completed" and b["data"]["scope"] == ["example.com"] for b in completed)
    [changed] = [b for b in bodies if b["event"] == "target.changed"]
    assert changed["data"]["scan_id"] == second and changed["data"]["previous"]["grade"] == "D"
    assert changed["data"]["current"] == {"score": 85, "grade": "B"}
    assert all(set(b) == {"id", "event", "created_at", "data"} for b in bodies)


def test_errors_are_problems_with_snake_case_codes(services: Services, chalice_client: Client) -> None:
    client = secuscan(services, chalice_client)
    cases: list[tuple[Any, int, str, str | None]] = [
        (lambda: client.launch_scan(["example.com"], scan_type="container"), 422, "unsupported_value", "container"),
        (lambda: client.launch_scan(["example.com"], priority="critical"), 422, "unsupported_value", "critical"),
        (lambda: client.launch_scan(["example.com"], agents=["a1"]), 422, "unsupported_value", None),
        (lambda: client.provision_agent("laptop-42"), 422, "unsupported_value", "agents"),
        (lambda: client.register_webhook("https://h.example.com/x", ["agent.offline"]), 422, "unsupported_value",
         "agent.offline"),
        (lambda: client.launch_scan(["internal.example"]), 422, "target_not_allowed", None),
        (lambda: client.launch_scan([]), 422, "validation_error", None),
        (lambda: client.scan("scn_01NOPE"), 404, "scan_not_found", None),
        (lambda: SecuScan(BASE, "wrong", client.transport).scan("scn_x"), 401, "invalid_token", None),
        (lambda: client.launch_scan(["example.com"], idempotency_key="not-a-uuid"), 400,
         "invalid_idempotency_key", None),
    ]
    for call, status, code, value in cases:
        with pytest.raises(SecuScanError) as caught:
            call()
        error, answer = caught.value.error, caught.value.answer
        assert (answer.status, error["code"]) == (status, code), error
        assert answer.headers["content-type"] == "application/problem+json"
        assert error["type"].endswith(f"/{code}") and error["status"] == status and error["title"]
        if value is not None:
            assert error["value"] == value, error
    with pytest.raises(SecuScanError) as extra:
        client.launch_scan(["example.com"], agents=["a1"])
    assert extra.value.error["field"] == "agents"


def test_an_idempotency_key_replays_the_same_scan(services: Services, chalice_client: Client) -> None:
    client = secuscan(services, chalice_client)
    key = str(uuid.uuid4())
    first = client.launch_scan(["example.com"], idempotency_key=key)
    again = client.launch_scan(["example.com"], idempotency_key=key)
    assert again["scan_id"] == first["scan_id"]
    assert client.last is not None and client.last.headers.get("idempotent-replayed") == "true"


def test_a_scan_is_invisible_to_another_tenant(services: Services, chalice_client: Client) -> None:
    scan_id = secuscan(services, chalice_client).launch_scan(["example.com"])["scan_id"]
    rival = secuscan(services, chalice_client, "rival")
    with pytest.raises(SecuScanError) as read:
        rival.scan(scan_id)
    with pytest.raises(SecuScanError) as listed:
        rival.findings_page(scan_id)
    assert read.value.error["code"] == listed.value.error["code"] == "scan_not_found"


def test_rate_limit_headers_and_429(services: Services, chalice_client: Client) -> None:
    client = secuscan(services, chalice_client, "throttled")
    scan_id = client.launch_scan(["example.com"])["scan_id"]
    assert client.last is not None and client.last.headers["ratelimit-limit"] == "3"
    assert "x-ratelimit-limit" not in client.last.headers
    client.scan(scan_id)
    client.scan(scan_id)
    with pytest.raises(SecuScanError) as caught:
        client.scan(scan_id)
    answer, error = caught.value.answer, caught.value.error
    assert answer.status == 429 and error["code"] == "rate_limit_exceeded" and error["retry_after"] >= 1
    assert answer.headers["retry-after"] == str(error["retry_after"]) and answer.headers["ratelimit-remaining"] == "0"


def test_the_openapi_document_describes_the_secuscan_paths(services: Services, chalice_client: Client) -> None:
    document = secuscan(services, chalice_client).openapi()
    assert document["openapi"].startswith("3.1") and document["servers"][0]["url"].endswith("/v1/secuscan")
    assert {"/scans", "/scans/{scan_id}", "/scans/{scan_id}/findings", "/agents", "/reports/{report_file}",
            "/webhooks"} <= set(document["paths"])
    assert "bearerAuth" in document["components"]["securitySchemes"]
    assert "SecuScanError" in document["components"]["schemas"]


def test_the_generated_webhook_secret_is_shown_once_and_signs(services: Services, chalice_client: Client) -> None:
    client = secuscan(services, chalice_client)
    hook = client.register_webhook("https://hooks.example.com/s", ["scan.completed"])
    assert hook["secret"].startswith("whsec_")
    endpoint = services.webhooks.get("acme", hook["id"])
    assert endpoint.format == "secuscan" and endpoint.events == ["group.completed"]
    from chalicelib.core.clock import utcnow
    from chalicelib.webhooks.formats.secuscan import SecuScanFormat

    [secret] = services.webhooks.format_secrets(endpoint, utcnow())
    headers = SecuScanFormat().headers(event_id="e", event="group.completed", delivery_id="d", body=b"{}",
                                       secrets=[secret], timestamp=1)
    assert headers["X-Secuscan-Signature"] == "sha256=" + hmac.new(hook["secret"].encode(), b"{}",
                                                                   hashlib.sha256).hexdigest()
