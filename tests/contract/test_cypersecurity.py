"""The CyperSecurity dialect against a client written from CyperSecurity's documentation.

Chalice's test client, DynamoDB and Step Functions under moto: shapes, `X-API-Key`, offset
pagination, the nested error object, 429 with a timestamp reset, unsupported values named in the
vendor's error, reports by id (tenant-isolated), webhooks in the vendor format, the OpenAPI document.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.aws.stepfunctions import StepFunctionsWorkflow
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.settings import Settings
from chalicelib.local.provision import Resources
from chalicelib.scans.models import Finding, ScanStatus, ScanType, Severity, SignalKey
from chalicelib.scans.service import publish_scan_event
from chalicelib.webhooks.formats import get_format
from tests.conftest import PEPPER, PUBLIC_DOMAINS
from tests.contract.clients.cypersecurity import (
    CyperSecurityClient,
    CyperSecurityError,
    verify_webhook,
    verify_webhook_node,
)
from tests.contract.clients.wire import chalice_transport
from tests.integration.conftest import aws, resources  # noqa: F401 (fixtures)
from tests.support.fakes import FakeResolver
from tests.support.memory import MemoryObjectStore
from tests.unit.reports.factories import make_scan

BASE = "https://perimeter.test/compat/cypersecurity/v1"
SECRET = "your_webhook_secret"


@pytest.fixture
def wired(aws: dict[str, Any], resources: Resources) -> Iterator[Services]:  # noqa: F811
    settings = Settings.from_env({}, key_pepper=PEPPER, table_name=resources.table,
                                 state_machine_arn=resources.state_machine_arn, rate_limit_per_minute=1000,
                                 webhook_queue_url=resources.queue_url, webhook_dlq_url=resources.dlq_url,
                                 public_base_url="https://perimeter.test")
    services = Services(settings, store=DynamoDBStore(resources.table, aws["dynamodb"]),
                        workflow=StepFunctionsWorkflow(resources.state_machine_arn, aws["stepfunctions"]),
                        resolver=FakeResolver({**PUBLIC_DOMAINS, "scanme.nmap.org": ["45.33.32.156"]}),
                        objects=MemoryObjectStore())
    set_services(services)
    for tenant, limit in (("acme", None), ("rival", None), ("throttled", 3)):
        services.auth.create_tenant(tenant, tenant.title(), rate_limit_per_minute=limit)
    yield services
    set_services(None)


@pytest.fixture
def http(wired: Services) -> Iterator[Client]:
    with Client(app) as client:
        yield client


def client_for(wired: Services, http: Client, tenant: str = "acme") -> CyperSecurityClient:
    return CyperSecurityClient(BASE, wired.auth.issue_key(tenant)[1], chalice_transport(http))


@pytest.fixture
def cyper(wired: Services, http: Client) -> CyperSecurityClient:
    return client_for(wired, http)


def completed_scan(services: Services, tenant: str = "acme") -> str:
    """A ports scan scored with two open ports (one identified) and two CVE findings, its reports stored."""
    findings = [
        Finding(id="f1", signal=SignalKey.SCAN, code="open-port", severity=Severity.INFO, title="Open port 80",
                evidence={"port": 80, "protocol": "tcp", "service": "http", "addresses": ["45.33.32.156"],
                          "scanner": "connect"}, product="Apache httpd", version="2.4.41"),
        Finding(id="f2", signal=SignalKey.SCAN, code="ssh-exposed", severity=Severity.MEDIUM, title="SSH exposed",
                evidence={"port": 22, "protocol": "tcp", "service": "ssh", "addresses": ["45.33.32.156"],
                          "scanner": "connect"}),
        Finding(id="f3", signal=SignalKey.SCAN, code="known-vulnerable-version", severity=Severity.CRITICAL,
                title="Apache httpd 2.4.41 has a known exploited flaw", evidence={"port": 80, "cvss_score": 9.8},
                cve="CVE-2021-41773", product="Apache httpd", version="2.4.41"),
        Finding(id="f4", signal=SignalKey.SCAN, code="known-vulnerable-version", severity=Severity.HIGH,
                title="Apache httpd 2.4.41 request smuggling", evidence={"port": 80}, cve="CVE-2022-22720"),
    ]
    base = make_scan(findings, target="scanme.nmap.org")
    scan = base.model_copy(update={"tenant_id": tenant, "scan_id": f"scn_{tenant}_{time.monotonic_ns()}",
                                   "scan_type": ScanType.PORTS, "completed_at": None,
                                   "signals": {"scan": base.signals["scan"]}})
    services.scans.repo.add(scan)
    services.reports.render_and_store(tenant, scan.scan_id)
    services.scans.transition(tenant, scan.scan_id, ScanStatus.COMPLETE)
    return scan.scan_id


# -- scans ------------------------------------------------------------------------------------------------------------
def test_the_documented_python_example_creates_a_scan_and_reads_findings_count(cyper: CyperSecurityClient,
                                                                                 aws: dict[str, Any]) -> None:  # noqa: F811
    scan = cyper.create_scan("scanme.nmap.org", "nmap", {"ports": "1-1000", "service_detection": True})
    assert cyper.last is not None and cyper.last.status == 201
    assert set(scan) == {"id", "target", "type", "status", "created_at", "findings_count", "critical_count"}
    assert (scan["target"], scan["type"], scan["status"]) == ("scanme.nmap.org", "nmap", "pending")
    assert scan["created_at"].endswith("Z") and len(scan["created_at"]) == 20
    results = cyper.get_scan(scan["id"])
    assert results["findings_count"] == 0 and results["results"] is None
    machine = aws["stepfunctions"].list_state_machines()["stateMachines"][0]["stateMachineArn"]
    [execution] = aws["stepfunctions"].list_executions(stateMachineArn=machine)["executions"]
    started = json.loads(aws["stepfunctions"].describe_execution(executionArn=execution["executionArn"])["input"])
    assert started["scan_type"] == "ports" and started["options"] == {"ports": "1-1000", "service_detection": True}


def test_os_detection_is_accepted_as_a_documented_no_op_with_a_warning(cyper: CyperSecurityClient) -> None:
    scan = cyper.create_scan("scanme.nmap.org", "nmap", {"ports": "1-1000", "service_detection": True,
                                                         "os_detection": True})
    assert scan["warnings"] == [{"field": "options.os_detection",
                                 "message": "Perimeter does no OS fingerprinting; the option is ignored."}]


@pytest.mark.parametrize(("body", "field"), [
    ({"type": "nmap"}, "target"),
    ({"target": "example.com"}, "type"),
    ({"target": "example.com", "type": "masscan"}, "type"),
    ({"target": "example.com", "type": "nmap", "options": {"timing": 4}}, "options.timing"),
    ({"target": "example.com", "type": "nmap", "options": {"ports": "1-1024; rm -rf /"}}, "options.ports"),
    ({"target": "internal.example", "type": "nmap"}, "target"),
])
def test_bad_requests_get_the_nested_error_with_the_field(cyper: CyperSecurityClient, body: dict[str, Any],
                                                         field: str) -> None:
    with pytest.raises(CyperSecurityError) as refused:
        cyper._call("POST", "/scans", body)
    assert refused.value.code == "invalid_request" and refused.value.details["field"] == field
    assert refused.value.headers["Content-Type"] == "application/json"


def test_listing_pages_by_offset_with_the_total_and_filters_by_vendor_status(
        cyper: CyperSecurityClient, wired: Services) -> None:
    done = completed_scan(wired)
    created = [cyper.create_scan("scanme.nmap.org", "nmap")["id"] for _ in range(4)]
    wired.scans.transition("acme", created[0], ScanStatus.SCANNING)
    wired.scans.cancel("acme", created[1])
    first = cyper.list_scans(limit=2)
    assert (first["total"], first["limit"], first["offset"], len(first["scans"])) == (5, 2, 0, 2)
    rest = cyper.list_scans(limit=2, offset=2)["scans"] + cyper.list_scans(limit=2, offset=4)["scans"]
    assert len({s["id"] for s in first["scans"] + rest}) == 5
    assert cyper.list_scans(offset=5) == {"scans": [], "total": 5, "limit": 20, "offset": 5}
    by_status = {status: {s["id"] for s in cyper.list_scans(status=status)["scans"]}
                 for status in ("pending", "running", "completed", "failed")}
    assert by_status == {"pending": {created[2], created[3]}, "running": {created[0]}, "completed": {done},
                         "failed": {created[1]}}
    listed = {s["id"]: s for s in cyper.list_scans()["scans"]}
    assert listed[done]["findings_count"] == 4 and listed[done]["critical_count"] == 1
    assert listed[done]["completed_at"].endswith("Z") and listed[created[1]]["error"]["code"] == "cancelled"
    with pytest.raises(CyperSecurityError) as refused:
        cyper.list_scans(status="complete")
    assert refused.value.details == {"field": "status", "value": "complete"}
    with pytest.raises(CyperSecurityError) as too_many:
        cyper.list_scans(limit=101)
    assert too_many.value.details == {"field": "limit"}


def test_a_completed_scan_has_services_and_vulnerabilities_with_cvss_only_where_known(
        cyper: CyperSecurityClient, wired: Services) -> None:
    scan = cyper.get_scan(completed_scan(wired))
    assert (scan["type"], scan["status"], scan["findings_count"], scan["critical_count"]) == (
        "nmap", "completed", 4, 1)
    assert scan["results"]["services"] == [
        {"port": 22, "protocol": "tcp", "service": "ssh", "version": None},
        {"port": 80, "protocol": "tcp", "service": "http", "version": "Apache httpd 2.4.41"}]
    assert scan["results"]["vulnerabilities"] == [
        {"title": "Apache httpd 2.4.41 has a known exploited flaw", "severity": "critical", "cvss_score": 9.8,
         "cve_id": "CVE-2021-41773"},
        {"title": "Apache httpd 2.4.41 request smuggling", "severity": "high", "cvss_score": None,
         "cve_id": "CVE-2022-22720"}]


def test_another_tenants_scan_and_report_are_not_found(cyper: CyperSecurityClient, wired: Services) -> None:
    theirs = completed_scan(wired, "rival")
    for call in (lambda: cyper.get_scan(theirs), lambda: cyper.generate_report(theirs),
                 lambda: cyper.download_report(f"report_{theirs}_pdf"), lambda: cyper.download_report("report_x")):
        with pytest.raises(CyperSecurityError) as hidden:
            call()
        assert (hidden.value.status, hidden.value.code) == (404, "not_found")


# -- reports ----------------------------------------------------------------------------------------------------------
def test_report_generation_then_download_redirects_to_the_pdf(cyper: CyperSecurityClient, wired: Services) -> None:
    running = cyper.create_scan("scanme.nmap.org", "nmap")["id"]
    generating = cyper.generate_report(running)
    assert generating == {"report_id": f"report_{running}_pdf", "status": "generating", "download_url": None}
    with pytest.raises(CyperSecurityError) as early:
        cyper.download_report(generating["report_id"])
    assert (early.value.status, early.value.code) == (409, "invalid_request")

    done = completed_scan(wired)
    report = cyper.generate_report(done)
    assert report["status"] == "completed"
    assert report["download_url"] == f"{BASE}/reports/report_{done}_pdf/download"
    download = cyper.download_report(report["report_id"])
    assert download.status == 302 and download.headers["Cache-Control"] == "no-store"
    key = wired.scans.get("acme", done).report_keys["pdf"]
    assert download.headers["Location"].startswith(f"memory://objects/{key}?")
    assert wired.objects.get(key).startswith(b"%PDF-")


@pytest.mark.parametrize(("body", "field", "value"), [({"format": "docx"}, "format", "docx"),
                                                      ({"format": "pdf", "type": "executive"}, "type", "executive")])
def test_report_formats_and_types_perimeter_lacks_are_named(cyper: CyperSecurityClient, wired: Services,
                                                           body: dict[str, str], field: str, value: str) -> None:
    with pytest.raises(CyperSecurityError) as refused:
        cyper._call("POST", f"/scans/{completed_scan(wired)}/report", body)
    assert refused.value.details == {"field": field, "value": value}


# -- auth, rate limits ------------------------------------------------------------------------------------------------
def test_a_wrong_or_missing_api_key_is_authentication_failed(wired: Services, http: Client) -> None:
    stranger = CyperSecurityClient(BASE, "pk_live_not-a-real-key", chalice_transport(http))
    with pytest.raises(CyperSecurityError) as refused:
        stranger.list_scans()
    assert (refused.value.status, refused.value.code) == (401, "authentication_failed")
    answer = http.http.get("/compat/cypersecurity/v1/scans")
    assert json.loads(answer.body)["error"]["code"] == "authentication_failed"


def test_rate_limit_headers_carry_a_reset_timestamp_and_429_is_rate_limit_exceeded(wired: Services,
                                                                                    http: Client) -> None:
    throttled = client_for(wired, http, "throttled")
    before = int(time.time())
    throttled.list_scans()
    assert throttled.last is not None
    headers = throttled.last.headers
    assert (headers["X-RateLimit-Limit"], headers["X-RateLimit-Remaining"]) == ("3", "2")
    assert before <= int(headers["X-RateLimit-Reset"]) <= int(time.time()) + 60
    with pytest.raises(CyperSecurityError) as limited:
        for _ in range(5):
            throttled.list_scans()
    assert (limited.value.status, limited.value.code) == (429, "rate_limit_exceeded")
    assert limited.value.headers["X-RateLimit-Remaining"] == "0" and int(limited.value.headers["Retry-After"]) > 0
    assert int(limited.value.headers["X-RateLimit-Reset"]) >= before


# -- webhooks ---------------------------------------------------------------------------------------------------------
def test_webhooks_take_the_partners_secret_and_list_with_vendor_event_names(cyper: CyperSecurityClient) -> None:
    created = cyper.create_webhook("https://example.com/webhook", ["scan.completed", "vulnerability.found"], SECRET)
    assert {k: created[k] for k in ("url", "events", "signature_style")} == {
        "url": "https://example.com/webhook", "events": ["scan.completed", "vulnerability.found"],
        "signature_style": "python"}
    assert created["id"] and created["created_at"].endswith("Z") and SECRET not in json.dumps(created)
    assert created["standard_webhooks_secret"].startswith("whsec_")
    listed = cyper.list_webhooks()
    assert listed["total"] == 1 and listed["webhooks"][0]["events"] == ["scan.completed", "vulnerability.found"]
    assert "standard_webhooks_secret" not in listed["webhooks"][0]


@pytest.mark.parametrize(("events", "value"), [(["scan.completed", "payment.success"], "payment.success"),
                                                (["trial.expiring"], "trial.expiring"),
                                                (["scan.exploded"], "scan.exploded")])
def test_billing_and_unknown_events_are_refused_naming_them(cyper: CyperSecurityClient, events: list[str],
                                                           value: str) -> None:
    with pytest.raises(CyperSecurityError) as refused:
        cyper.create_webhook("https://example.com/webhook", events, SECRET)
    assert (refused.value.status, refused.value.details) == (422, {"field": "events", "value": value})
    assert value in refused.value.message
    assert cyper.list_webhooks()["total"] == 0


def test_a_short_secret_is_refused_on_the_secret_field(cyper: CyperSecurityClient) -> None:
    with pytest.raises(CyperSecurityError) as refused:
        cyper.create_webhook("https://example.com/webhook", ["scan.completed"], "short")
    assert refused.value.details == {"field": "secret"}


@pytest.mark.parametrize("style", ["python", "node"])
def test_deliveries_are_the_vendor_payload_signed_as_its_snippet_verifies(cyper: CyperSecurityClient,
                                                                          wired: Services, style: str) -> None:
    hook = cyper.create_webhook("https://example.com/webhook", ["scan.completed", "critical.finding"], SECRET,
                                signature_style=style)
    scan = wired.scans.get("acme", completed_scan(wired))
    publish_scan_event(wired.webhooks, scan, "scan.completed", "https://perimeter.test")
    [delivery] = wired.webhooks.list_deliveries("acme", hook["id"])[0]
    endpoint = wired.webhooks.get("acme", hook["id"])
    body = delivery.body.encode()
    signature = get_format(endpoint.format).headers(
        event_id=delivery.event_id, event=delivery.event, delivery_id=delivery.delivery_id, body=body,
        secrets=wired.webhooks.format_secrets(endpoint, delivery.created_at + timedelta(seconds=1)),
        timestamp=0)["X-Webhook-Signature"]
    payload = json.loads(body)
    assert payload["event"] == "scan.completed" and abs(payload["timestamp"] - time.time()) < 60
    assert payload["data"] == {"scan_id": scan.scan_id, "target": "scanme.nmap.org", "findings_count": 4,
                               "critical_count": 1}
    # Each style satisfies its own snippet and, re-serialising differently, not the other one's.
    python_ok, node_ok = verify_webhook(payload, signature, SECRET), verify_webhook_node(body, signature, SECRET)
    assert (python_ok, node_ok) == ((True, False) if style == "python" else (False, True))
    assert not verify_webhook(payload, signature, SECRET + "x")
    assert not verify_webhook_node(body, signature, "x" * 16)


def test_scan_creation_reaches_the_same_service_as_v1(cyper: CyperSecurityClient, wired: Services) -> None:
    created = cyper.create_scan("93.184.216.34", "nmap", {"ports": "22,80"})
    stored = wired.scans.get("acme", created["id"])
    assert (stored.scan_type, stored.target, stored.options.ports) == (ScanType.PORTS, "93.184.216.34", "22,80")


# -- the document -----------------------------------------------------------------------------------------------------
def test_the_dialect_serves_its_own_openapi_document(http: Client, wired: Services) -> None:
    answer = http.http.get("/compat/cypersecurity/v1/openapi.json")
    document = json.loads(answer.body)
    assert answer.status_code == 200 and document["openapi"] == "3.1.0"
    assert document["servers"] == [{"url": "https://perimeter.test/compat/cypersecurity/v1"}]
    assert {"/scans", "/scans/{scan_id}", "/scans/{scan_id}/report", "/reports/{report_id}/download", "/webhooks",
            "/organization", "/team/members"} <= set(document["paths"])
    assert document["components"]["securitySchemes"] == {"apiKeyAuth": {"type": "apiKey", "in": "header",
                                                                         "name": "X-API-Key"}}
    error = document["paths"]["/scans"]["post"]["responses"]["422"]["content"]["application/json"]["schema"]
    assert error["$ref"].endswith("/CyperError")
    created = document["components"]["schemas"]["ScanCreatedOut"]["properties"]
    assert {"id", "target", "type", "status", "created_at"} <= set(created)


def test_the_document_declares_both_answers_of_report_generation() -> None:
    from chalicelib.api.dialects import cypersecurity
    from chalicelib.api.spec import openapi_document

    document = openapi_document(tuple(cypersecurity.DIALECT.routes.operations), "", cypersecurity.DIALECT.doc)
    answers = document["paths"]["/compat/cypersecurity/v1/scans/{scan_id}/report"]["post"]["responses"]
    assert {"200", "202"} <= set(answers)  # 202 while generating, 200 once the download URL exists
