"""Cert-IX dialect contract: a client written from Cert-IX's public documentation, through Chalice on moto.

Shapes (`success`/`data`, camelCase), X-API-Key, statuses and scan types in Cert-IX's words, page/limit
pagination, UPPER_SNAKE errors, 429 with Retry-After, unsupported values named, the dialect's OpenAPI
document, and deliveries in the `certix` webhook format.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.api.dialects.certix_routes import CERTIX
from chalicelib.bootstrap import Services
from chalicelib.scans.models import Finding, ScanStatus, Severity, SignalKey
from chalicelib.webhooks.service import CreateWebhook
from tests.contract.clients.certix import CertixClient, CertixRefused, chalice_transport
from tests.integration import conftest as _moto
from tests.integration import test_api as _wired
from tests.support.fakes import ManualClock
from tests.support.webhook_receiver import verify
from tests.unit.reports.factories import make_scan
from tests.unit.webhooks.harness import HOST, ScriptedSender, build

aws, resources = _moto.aws, _moto.resources
wired, keys = _wired.wired, _wired.keys  # moto DynamoDB and Step Functions, tenants acme/rival/throttled
BASE = "/scan-api/api/v1"
DOCUMENTED_OPTIONS = {"ports": "1-1024", "timing": "T3", "serviceDetection": True}


@pytest.fixture
def chalice() -> Iterator[Client]:
    with Client(app) as client:
        yield client


@pytest.fixture
def certix(chalice: Client, keys: dict[str, str]) -> CertixClient:
    return CertixClient(keys["acme"], BASE, chalice_transport(chalice), sleep=lambda _: None)


def refused(call: Any, *args: Any, **kwargs: Any) -> CertixRefused:
    with pytest.raises(CertixRefused) as caught:
        call(*args, **kwargs)
    return caught.value


def test_a_documented_nmap_scan_is_perimeters_ports_scan_with_its_options(certix: CertixClient,
                                                                          wired: Services) -> None:
    scan = certix.create_scan("example.com", "nmap", name="Network audit", options=DOCUMENTED_OPTIONS,
                              tags=["ci"], timeout=600)
    assert (scan["scanType"], scan["status"], scan["target"], scan["name"]) == ("nmap", "queued", "example.com",
                                                                              "Network audit")
    assert scan["options"] == DOCUMENTED_OPTIONS and scan["progress"] == 0 and scan["resultCount"] == 0
    stored = wired.scans.get("acme", scan["id"])
    assert stored.scan_type.value == "ports" and stored.timeout_seconds == 600 and stored.tags == ["ci"]
    assert (stored.options.ports, stored.options.timing, stored.options.service_detection) == ("1-1024", "T3", True)
    assert certix.get_scan(scan["id"], "nmap") == {**scan, "updatedAt": certix.get_scan(scan["id"])["updatedAt"]}


@pytest.mark.parametrize(("status", "word"), [(ScanStatus.SCANNING, "running"), (ScanStatus.SCORING, "running"),
                                              (ScanStatus.COMPLETE, "completed")])
def test_statuses_read_in_cert_ix_words_until_terminal(certix: CertixClient, wired: Services,
                                                       status: ScanStatus, word: str) -> None:
    scan_id = certix.create_scan("example.com", "nmap")["id"]
    path = [ScanStatus.SCANNING, ScanStatus.SCORING, ScanStatus.COMPLETE]
    for step in path[:path.index(status) + 1]:
        wired.scans.transition("acme", scan_id, step)
    assert certix.get_scan(scan_id)["status"] == word
    if word == "completed":
        assert certix.poll(scan_id, "nmap", limit=5)["progress"] == 100


def test_results_carry_a_severity_summary_findings_and_open_services(certix: CertixClient,
                                                                     wired: Services) -> None:
    findings = [Finding(id=f"f{port}", signal=SignalKey.SCAN, code=code, severity=severity, title=code,
                        evidence={"port": port, "protocol": "tcp", "service": name, "addresses": ["93.184.216.34"]})
                for port, code, severity, name in ((2375, "docker-api-exposed", Severity.CRITICAL, "docker"),
                                                   (6379, "database-exposed", Severity.HIGH, "redis"),
                                                   (443, "open-port", Severity.INFO, "https"))]
    findings.append(Finding(id="m1", signal=SignalKey.MAIL, code="dmarc-none", severity=Severity.MEDIUM, title="x"))
    scan = make_scan(findings).model_copy(update={"tenant_id": "acme", "completed_at": None})
    wired.scans.repo.add(scan)
    refusal = refused(certix.results, scan.scan_id, "posture")
    assert (refusal.status_code, refusal.code) == (409, "SCAN_NOT_COMPLETED") and "running" in refusal.message
    wired.scans.transition("acme", scan.scan_id, ScanStatus.COMPLETE)
    results = certix.results(scan.scan_id, "posture")
    expected = Counter(f.severity.value for f in findings)
    assert results["summary"] == {s.value: expected.get(s.value, 0) for s in Severity} | {"total": len(findings)}
    assert [f["severity"] for f in results["findings"]] == ["critical", "high", "medium", "info"]
    assert results["findings"][0]["description"] == findings[0].detail and "cwe" in results["findings"][0]
    assert [(s["port"], s["service"]) for s in results["services"]] == [(443, "https"), (2375, "docker"),
                                                                        (6379, "redis")]
    assert results["status"] == "completed" and results["scanType"] == "posture"


def test_scan_type_on_get_results_and_cancel_must_match_or_is_named(certix: CertixClient,
                                                                    chalice: Client, keys: dict[str, str]) -> None:
    posture = json.loads(chalice.http.post("/v1/scans", headers={"X-API-Key": keys["acme"]},
                                           body=json.dumps({"domain": "example.com"})).body)["scan_token"]
    assert certix.get_scan(posture, "posture")["scanType"] == "posture"
    for call in (certix.get_scan, certix.results, certix.cancel_scan):
        assert refused(call, posture, "nmap").code == "SCAN_NOT_FOUND"
        assert refused(call, posture, "trivy").code == "SCAN_NOT_FOUND"
        error = refused(call, posture, "nikto")
        assert (error.status_code, error.code, error.body["value"]) == (422, "UNSUPPORTED_SCAN_TYPE", "nikto")
    assert refused(certix.get_scan, "scn_nope").code == "SCAN_NOT_FOUND"


def test_cancel_then_cancel_again(certix: CertixClient) -> None:
    scan_id = certix.create_scan("example.com", "nmap")["id"]
    assert certix.cancel_scan(scan_id)["status"] == "cancelled"
    again = refused(certix.cancel_scan, scan_id)
    assert (again.status_code, again.code) == (409, "SCAN_NOT_CANCELLABLE")


def test_page_and_limit_walk_the_same_order_as_v1_with_filters(certix: CertixClient, wired: Services) -> None:
    ids = [certix.create_scan("example.com", "nmap", name=f"n{i}")["id"] for i in range(5)]
    wired.scans.create(wired.auth.get_tenant("acme"), _wired_create({"domain": "example.com"}))
    newest_first = list(reversed(ids))
    pages = [certix.list_scans(scanType="nmap", page=p, limit=2) for p in (1, 2, 3, 4)]
    assert [[s["id"] for s in p["data"]] for p in pages] == [newest_first[:2], newest_first[2:4], newest_first[4:], []]
    assert [p["pagination"]["hasMore"] for p in pages] == [True, True, False, False]
    assert pages[0]["pagination"] == {"page": 1, "limit": 2, "hasMore": True}
    assert len(certix.list_scans(limit=100)["data"]) == 6
    wired.scans.transition("acme", ids[0], ScanStatus.SCANNING)
    wired.scans.transition("acme", ids[3], ScanStatus.SCANNING)
    wired.scans.transition("acme", ids[3], ScanStatus.SCORING)
    running = certix.list_scans(status="running", scanType="nmap", page=1, limit=10)["data"]
    assert [s["id"] for s in running] == [ids[3], ids[0]] and {s["status"] for s in running} == {"running"}
    second = certix.list_scans(status="running", page=2, limit=1)
    assert [s["id"] for s in second["data"]] == [ids[0]] and second["pagination"]["hasMore"] is False
    assert [s["id"] for s in certix.list_scans(status="queued", scanType="nmap", limit=10)["data"]] == [
        s for s in newest_first if s not in (ids[0], ids[3])]
    assert {s["scanType"] for s in certix.list_scans(scanType="posture")["data"]} == {"posture"}


def _wired_create(body: dict[str, Any]) -> Any:
    from chalicelib.scans.commands import CreateScan
    return CreateScan.model_validate(body)


@pytest.mark.parametrize(("params", "code", "field"), [
    ({"status": "paused"}, "UNSUPPORTED_STATUS", "status"), ({"scanType": "w3af"}, "UNSUPPORTED_SCAN_TYPE", "scanType"),
    ({"limit": 101}, "VALIDATION_ERROR", "limit"), ({"page": 0}, "VALIDATION_ERROR", "page"),
    ({"page": 101, "limit": 100}, "VALIDATION_ERROR", "page"),
])
def test_list_refusals_name_the_parameter(certix: CertixClient, params: dict[str, Any], code: str,
                                          field: str) -> None:
    error = refused(certix.list_scans, **params)
    assert (error.status_code, error.code) == (422, code)
    assert error.body.get("field") == field or error.body["details"][0]["field"] == field


@pytest.mark.parametrize(("body", "code", "field"), [
    ({"target": "example.com", "scanType": "nikto"}, "UNSUPPORTED_SCAN_TYPE", "scanType"),
    ({"target": "example.com", "scanType": "nmap", "options": {"severity": ["HIGH"]}}, "UNSUPPORTED_OPTION",
     "options.severity"),
    ({"target": "example.com", "scanType": "nmap", "options": {"scripts": ["vuln"]}}, "UNSUPPORTED_OPTION",
     "options.scripts"),
    ({"target": "example.com", "scanType": "nmap", "priority": "urgent"}, "UNSUPPORTED_PRIORITY", "priority"),
    ({"target": "example.com", "scanType": "nmap", "options": {"timing": "T9"}}, "VALIDATION_ERROR", "options.timing"),
    ({"target": "example.com", "scanType": "nmap", "options": {"ports": "0-99999"}}, "VALIDATION_ERROR",
     "options.ports"),
    ({"target": "example.com", "scanType": "nmap", "timeout": 5}, "VALIDATION_ERROR", "timeout"),
    ({"target": "example.com", "scanType": "nmap", "admin": True}, "VALIDATION_ERROR", "admin"),
    ({"target": "internal.example", "scanType": "nmap"}, "TARGET_NOT_ALLOWED", None),
])
def test_refused_scans_answer_the_cert_ix_error_shape_and_store_nothing(certix: CertixClient, body: dict[str, Any],
                                                                        code: str, field: str | None) -> None:
    reply = certix.raw("POST", "/scans", json_body=body)
    error = reply.json()
    assert reply.status == 422 and reply.header("Content-Type") == "application/json"
    assert error["success"] is False and error["code"] == code and error["error"]
    if field is not None:
        assert error.get("field") == field or error["details"][0]["field"] == field
    assert certix.list_scans()["data"] == []


def test_auth_malformed_json_and_rate_limit_answer_in_cert_ix_shape(certix: CertixClient, chalice: Client,
                                                                    keys: dict[str, str]) -> None:
    stranger = CertixClient("px_nope", BASE, chalice_transport(chalice))
    error = refused(stranger.list_scans)
    assert (error.status_code, error.code, error.body["success"]) == (401, "UNAUTHORIZED", False)
    bad = certix.raw("POST", "/scans", headers={"Content-Type": "application/json"})
    assert bad.status == 400 and bad.json()["code"] in ("MISSING_BODY", "INVALID_JSON")
    throttled = CertixClient(keys["throttled"], BASE, chalice_transport(chalice), sleep=lambda _: None)
    replies = [throttled.raw("GET", "/scans") for _ in range(4)]
    assert [r.status for r in replies] == [200, 200, 200, 429]
    limited = replies[-1]
    assert limited.json()["code"] == "RATE_LIMIT_EXCEEDED" and limited.json()["success"] is False
    assert int(limited.header("Retry-After") or 0) >= 1 and limited.json()["retryAfter"] >= 1
    exhausted = refused(throttled.list_scans)  # the documented client waits Retry-After, then gives up
    assert exhausted.code == "RATE_LIMIT_EXCEEDED" and len(throttled.slept) == 3 and min(throttled.slept) >= 1


def test_templates_create_launch_list_get_and_delete(certix: CertixClient, wired: Services) -> None:
    nikto = refused(certix.create_template, "Web", "nikto", options={"ports": "80"})
    assert (nikto.code, nikto.body["value"]) == ("UNSUPPORTED_SCAN_TYPE", "nikto")
    assert refused(certix.create_template, "Ports", "nmap", options={"scanners": ["vuln"]}).body["field"] == \
        "options.scanners"
    template = certix.create_template("Edge ports", "nmap", priority="high", options={"ports": "22,443",
                                      "timing": "T2"}, tags=["edge"], timeout=300)
    assert (template["scanType"], template["priority"], template["options"], template["timeout"]) == (
        "nmap", "high", {"ports": "22,443", "timing": "T2"}, 300)
    scan = certix.launch_template(template["id"], "example.com", options={"ports": "443"})
    assert (scan["templateId"], scan["scanType"], scan["priority"], scan["options"]) == (
        template["id"], "nmap", "high", {"ports": "443"})
    assert wired.scans.get("acme", scan["id"]).timeout_seconds == 300
    listed = certix.request("GET", "/scan-templates", params={"page": 1, "limit": 10})
    assert [t["id"] for t in listed["data"]] == [template["id"]] and listed["pagination"]["hasMore"] is False
    assert certix.request("GET", f"/scan-templates/{template['id']}")["data"] == template
    assert certix.request("DELETE", f"/scan-templates/{template['id']}")["data"] == {"id": template["id"],
                                                                                     "deleted": True}
    assert refused(certix.request, "GET", f"/scan-templates/{template['id']}").code == "TEMPLATE_NOT_FOUND"


def test_usage_summary_in_cert_ix_words(certix: CertixClient) -> None:
    for _ in range(3):
        certix.create_scan("example.com", "nmap")
    usage = certix.usage("30d")
    assert (usage["period"], usage["totalScans"], usage["scansByType"]["nmap"]) == ("30d", 3, 3)
    assert usage["scansByStatus"]["inProgress"] == 3 and "ports" not in usage["scansByType"]
    error = refused(certix.usage, "365d")
    assert (error.code, error.body["value"]) == ("UNSUPPORTED_PERIOD", "365d")


def test_webhooks_register_in_cert_ix_format_and_name_unknown_events(certix: CertixClient,
                                                                     wired: Services) -> None:
    hook = certix.create_webhook("Scan notifications", "https://example.com/webhooks/certix",
                                 ["scan.completed", "scan.failed"])
    assert (hook["name"], hook["events"], hook["format"], hook["active"]) == (
        "Scan notifications", ["scan.completed", "scan.failed"], "certix", True)
    assert hook["secret"].startswith("whsec_")
    assert wired.webhooks.get("acme", hook["id"]).format == "certix"
    own = certix.create_webhook("Mine", "https://example.com/hook2", secret="my-existing-certix-secret")
    assert "my-existing-certix-secret" not in json.dumps(own) and len(own["events"]) == 4
    listed = certix.request("GET", "/webhooks", params={"limit": 1})
    assert [w["id"] for w in listed["data"]] == [own["id"]] and listed["pagination"]["hasMore"] is True
    assert "secret" not in {k for k, v in certix.request("GET", f"/webhooks/{hook['id']}")["data"].items() if v}
    error = refused(certix.create_webhook, "x", "https://example.com/h", ["scan.progress"])
    assert (error.code, error.body["value"]) == ("UNSUPPORTED_EVENT", "scan.progress")
    certix.request("DELETE", f"/webhooks/{hook['id']}")
    assert refused(certix.request, "GET", f"/webhooks/{hook['id']}").code == "WEBHOOK_NOT_FOUND"


def test_the_dialect_serves_its_own_openapi_document(chalice: Client, wired: Services) -> None:
    reply = chalice.http.get(f"{BASE}/openapi.json")
    document = json.loads(reply.body)
    assert reply.status_code == 200 and document["servers"][0]["url"].endswith(BASE)
    served = {(op.method.lower(), op.path.removeprefix(BASE)) for op in CERTIX.routes.operations}
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert documented == served and ("post", "/scans") in documented
    assert list(document["components"]["securitySchemes"]) == ["apiKeyAuth"]
    create = document["paths"]["/scans"]["post"]
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    props = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]["properties"]
    assert {"target", "scanType", "options", "timeout"} <= set(props)
    error = create["responses"]["429"]["content"]["application/json"]["schema"]["$ref"]
    assert error.endswith("/CertixError")


def test_deliveries_in_the_certix_format_pass_the_documented_verification() -> None:
    clock = ManualClock()
    sender = ScriptedSender(clock)
    h = build(clock=clock, deliver_fn=sender)
    url = f"http://{HOST}:8080/webhooks/certix"
    endpoint, whsec = h.service.create("acme", CreateWebhook.model_validate(
        {"url": url, "events": ["scan.completed", "scan.failed", "critical.finding"], "format": "certix"}))
    data = {"scan_token": "scn_1", "scan_type": "ports", "target": "example.com", "status": "complete",
            "findings_count": 7, "score": 91, "grade": "A", "error": None}
    h.service.publish("acme", "scan.completed", data)
    h.service.publish("acme", "critical.finding", {**data, "finding": {"id": "f1"}})
    h.service.publish("acme", "scan.failed", {**data, "status": "failed", "error": {"code": "timeout",
                                                                                    "message": "too slow"}})
    h.drain()
    assert len(sender.calls) == 2  # critical.finding has no Cert-IX name: not delivered
    completed, failed = (json.loads(c.body) for c in sender.calls)
    assert completed["event"] == "scan.completed" and completed["data"]["scanId"] == "scn_1"
    assert (completed["data"]["resultCount"], completed["data"]["scanType"], completed["data"]["status"]) == (
        7, "nmap", "completed")
    assert (failed["event"], failed["data"]["error"], failed["data"]["status"]) == ("scan.failed", "too slow", "failed")
    for call in sender.calls:
        signature = call.headers["X-Webhook-Signature"]
        assert CertixClient.signature_ok(call.body, signature, whsec)
        assert signature == "sha256=" + hmac.new(whsec.encode(), call.body, hashlib.sha256).hexdigest()
        verify([whsec], call.headers, call.body, now=int(clock.time()))
        assert not CertixClient.signature_ok(call.body + b" ", signature, whsec)
    assert endpoint.format == "certix"
