"""The CertIQ dialect against a client written from CertIQ's documentation, through Chalice on moto."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client
from openapi_spec_validator import validate

from app import app
from chalicelib.api.dialects import certiq
from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.aws.s3 import S3ObjectStore
from chalicelib.aws.stepfunctions import StepFunctionsWorkflow
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.errors import Unsupported
from chalicelib.core.settings import Settings
from chalicelib.local.provision import Resources
from chalicelib.scans.models import ScanError, ScanStatus
from tests.conftest import PEPPER, PUBLIC_DOMAINS
from tests.contract.clients.certiq import CertiqClient, CertiqError, chalice_transport
from tests.integration.conftest import aws, resources  # noqa: F401  (the moto fixtures)
from tests.support.fakes import FakeResolver
from tests.unit.reports.factories import make_scan

BASE = "https://perimeter.example"
API = "/api/v1"
# Every field CertIQ documents for a complete scan.
DOCUMENTED = {"scan_token", "domain", "status", "signals", "score", "grade", "grade_label", "sa_score",
              "sa_complete", "combined_score", "combined_grade", "self_assessment", "certiq_ready",
              "ready_threshold", "completed_at", "report_url"}


@pytest.fixture
def wired(aws: dict[str, Any], resources: Resources) -> Iterator[Services]:  # noqa: F811
    settings = Settings.from_env({}, key_pepper=PEPPER, table_name=resources.table, bucket_name=resources.bucket,
                                 state_machine_arn=resources.state_machine_arn, rate_limit_per_minute=1000,
                                 public_base_url=BASE, webhook_queue_url=resources.queue_url,
                                 webhook_dlq_url=resources.dlq_url)
    services = Services(settings, store=DynamoDBStore(resources.table, aws["dynamodb"]),
                        workflow=StepFunctionsWorkflow(resources.state_machine_arn, aws["stepfunctions"]),
                        resolver=FakeResolver(PUBLIC_DOMAINS), objects=S3ObjectStore(resources.bucket, aws["s3"]))
    set_services(services)
    for tenant in ("acme", "rival"):
        services.auth.create_tenant(tenant, tenant.title())
    services.auth.create_tenant("throttled", "Throttled", rate_limit_per_minute=3)
    yield services
    set_services(None)


@pytest.fixture
def keys(wired: Services) -> dict[str, str]:
    return {t: wired.auth.issue_key(t)[1] for t in ("acme", "rival", "throttled")}


@pytest.fixture
def chalice(wired: Services) -> Iterator[Client]:
    with Client(app) as client:
        yield client


def client_for(chalice: Client, key: str) -> CertiqClient:
    return CertiqClient(API, key, chalice_transport(chalice), poll_seconds=0)


@pytest.fixture
def certiq_client(chalice: Client, keys: dict[str, str]) -> CertiqClient:
    return client_for(chalice, keys["acme"])


def complete_scan(services: Services, tenant: str = "acme") -> str:
    """A scored posture scan of example.com with its reports, moved to complete as Finalize does."""
    scan = make_scan().model_copy(update={"tenant_id": tenant, "completed_at": None, "grade": "C",
                                          "grade_label": "Moderate risk", "ready": True})
    services.scans.repo.add(scan)
    services.reports.render_and_store(tenant, scan.scan_id)
    services.scans.transition(tenant, scan.scan_id, ScanStatus.COMPLETE)
    return scan.scan_id


def error_of(call: Any) -> CertiqError:
    with pytest.raises(CertiqError) as caught:
        call()
    reply = caught.value.reply
    assert reply.header("Content-Type") == "application/json"
    assert set(reply.json()) <= {"error", "retry_after"}, reply.json()
    return caught.value


def test_create_answers_the_documented_202_and_strips_protocol_and_path(certiq_client: CertiqClient) -> None:
    created = certiq_client.create_scan("https://Example.com/quote/intake?x=1")
    assert set(created) == {"scan_token", "status", "status_url", "self_assessment_url", "estimated_seconds"}
    assert created["status"] == "pending" and created["self_assessment_url"].startswith(f"{BASE}/sa/sa_")
    assert created["status_url"] == f"{BASE}{API}/scans/{created['scan_token']}"
    assert created["estimated_seconds"] > 0
    scan = certiq_client.get_scan(created["scan_token"])
    assert scan["domain"] == "example.com" and scan["status"] == "pending"


def test_a_running_scan_has_no_scoring_payload_and_no_self_assessment(certiq_client: CertiqClient) -> None:
    scan = certiq_client.get_scan(certiq_client.create_scan("example.com")["scan_token"])
    assert set(scan) >= DOCUMENTED
    assert (scan["score"], scan["grade"], scan["combined_grade"], scan["certiq_ready"], scan["report_url"]) == (
        None, None, None, None, None)
    assert (scan["sa_score"], scan["sa_complete"], scan["combined_score"], scan["self_assessment"]) == (
        None, False, None, {})


def test_a_complete_scan_carries_every_documented_field(certiq_client: CertiqClient, wired: Services) -> None:
    token = complete_scan(wired)
    stored = wired.scans.get("acme", token)
    scan = certiq_client.wait(token)
    assert set(scan) >= DOCUMENTED
    assert scan["status"] == "complete" and scan["score"] == stored.score and scan["grade"] == stored.grade
    assert scan["combined_grade"] == scan["grade"] and scan["grade_label"] == stored.grade_label
    assert scan["grade"] == "C" and scan["certiq_ready"] is True
    assert (scan["sa_score"], scan["sa_complete"], scan["combined_score"], scan["self_assessment"]) == (
        None, False, None, {})
    assert scan["report_url"] == f"{BASE}{API}/scans/{token}/report"
    assert stored.completed_at is not None
    assert scan["completed_at"] == stored.completed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    for name in ("scan", "breach", "reputation", "mail", "layer"):
        assert {"status", "score", "max_score", "findings"} <= set(scan["signals"][name])
    assert scan["score"] == sum(s["score"] or 0 for s in scan["signals"].values())


def test_the_report_is_the_pdf_itself_not_a_redirect(certiq_client: CertiqClient, wired: Services) -> None:
    token = complete_scan(wired)
    reply = certiq_client.request("GET", f"scans/{token}/report", headers={"Accept": "*/*"})
    assert reply.status == 200 and reply.header("Location") is None
    assert reply.header("Content-Type") == "application/pdf" and reply.body.startswith(b"%PDF-")
    assert hashlib.sha256(reply.body).hexdigest() == wired.scans.get("acme", token).report_sha256["pdf"]
    assert certiq_client.download_report(token) == reply.body


def test_a_pdf_over_the_payload_limit_answers_its_signed_link(certiq_client: CertiqClient, wired: Services,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    token = complete_scan(wired)
    monkeypatch.setattr(certiq, "STREAM_MAX_BYTES", 100)
    reply = certiq_client.request("GET", f"scans/{token}/report")
    assert reply.status == 302 and reply.header("Location") and token in str(reply.header("Location"))


def test_the_report_before_completion_is_409_scan_is_still_running(certiq_client: CertiqClient) -> None:
    token = certiq_client.create_scan("example.com")["scan_token"]
    failure = error_of(lambda: certiq_client.download_report(token))
    assert (failure.status, failure.reply.json()) == (409, {"error": "Scan is still running"})


def test_a_cancelled_scan_reads_failed_with_its_reason_and_has_no_report(certiq_client: CertiqClient,
                                                                         wired: Services) -> None:
    token = certiq_client.create_scan("example.com")["scan_token"]
    wired.scans.transition("acme", token, ScanStatus.CANCELLED,
                           error=ScanError(code="cancelled", message="Cancelled by the partner."))
    scan = certiq_client.get_scan(token)
    assert scan["status"] == "failed" and scan["error"]["code"] == "cancelled"
    with pytest.raises(RuntimeError, match="scan failed"):
        certiq_client.wait(token)
    failure = error_of(lambda: certiq_client.download_report(token))
    assert (failure.status, failure.message) == (409, "Scan did not complete")


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer pk_live_not-a-key"}, {"Authorization": "Basic x"}])
def test_a_missing_or_unknown_key_is_401_unauthorised(chalice: Client, headers: dict[str, str]) -> None:
    answer = chalice.http.post(f"{API}/scans", headers={"Content-Type": "application/json", **headers},
                               body=json.dumps({"domain": "example.com"}).encode())
    assert answer.status_code == 401 and json.loads(answer.body) == {"error": "Unauthorised"}
    assert answer.headers["Content-Type"] == "application/json"


def test_an_unknown_or_foreign_token_is_404(certiq_client: CertiqClient, chalice: Client, keys: dict[str, str],
                                            wired: Services) -> None:
    failure = error_of(lambda: certiq_client.get_scan("scn_does_not_exist"))
    assert (failure.status, failure.message) == (404, "Scan not found")
    theirs = complete_scan(wired, "rival")
    assert error_of(lambda: certiq_client.download_report(theirs)).status == 404
    assert client_for(chalice, keys["rival"]).get_scan(theirs)["status"] == "complete"


@pytest.mark.parametrize("domain", ["localhost", "exa mple.com", "internal.example", "nope.example", ""])
def test_a_bad_domain_is_422_invalid_domain(certiq_client: CertiqClient, domain: str) -> None:
    failure = error_of(lambda: certiq_client.create_scan(domain))
    assert (failure.status, failure.reply.json()) == (422, {"error": "Invalid domain"})


def test_bodies_certiq_never_accepted_are_refused_naming_the_problem(certiq_client: CertiqClient) -> None:
    unknown = certiq_client.request("POST", "scans", {"domain": "example.com", "scan_type": "ports"})
    assert (unknown.status, unknown.json()) == (422, {"error": "Unknown field: scan_type"})
    missing = certiq_client.request("POST", "scans", {})
    assert (missing.status, missing.json()) == (422, {"error": "Invalid domain"})
    broken = certiq_client.request("POST", "scans", raw=b"{not json", headers={"Content-Type": "application/json"})
    assert (broken.status, broken.json()) == (400, {"error": "Invalid JSON"})


def test_what_perimeter_cannot_do_answers_certiq_shaped_naming_the_value() -> None:
    body, _ = certiq.STYLE.error(Unsupported("No container scans.", field="scan_type", value="container"), None)
    assert body == {"error": "Unsupported scan_type: container"}


def test_over_the_rate_limit_is_429_with_retry_after(chalice: Client, keys: dict[str, str]) -> None:
    throttled = client_for(chalice, keys["throttled"])
    replies = [throttled.request("GET", "scans/scn_nothing") for _ in range(4)]
    assert [r.status for r in replies] == [404, 404, 404, 429]
    limited = replies[-1]
    retry = int(str(limited.header("Retry-After")))
    assert retry > 0 and limited.json() == {"error": "Rate limit exceeded", "retry_after": retry}


def test_the_dialect_serves_its_own_openapi_document(chalice: Client) -> None:
    answer = chalice.http.get(f"{API}/openapi.json")
    document = json.loads(answer.body)
    validate(document)
    assert answer.status_code == 200 and document["servers"] == [{"url": f"{BASE}{API}"}]
    assert {"/scans", "/scans/{token}", "/scans/{token}/report"} <= set(document["paths"])
    assert list(document["components"]["securitySchemes"]) == ["bearerAuth"]
    report = document["paths"]["/scans/{token}/report"]["get"]["responses"]
    assert "application/pdf" in report["200"]["content"] and "409" in report
    created = document["paths"]["/scans"]["post"]["responses"]["202"]["content"]["application/json"]["schema"]
    assert created["$ref"].endswith("/CertiqScanCreated")
    assert "CertiqError" in document["components"]["schemas"]


def test_v1_is_unchanged_beside_the_dialect(chalice: Client, keys: dict[str, str], wired: Services) -> None:
    token = complete_scan(wired)
    answer = chalice.http.get(f"/v1/scans/{token}/report", headers={"Authorization": f"Bearer {keys['acme']}"})
    assert answer.status_code == 302
    missing = chalice.http.get("/v1/scans/scn_nope", headers={"Authorization": f"Bearer {keys['acme']}"})
    assert missing.headers["Content-Type"] == "application/problem+json"
