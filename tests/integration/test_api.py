"""The public API through Chalice's test client, on DynamoDB and Step Functions under moto."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.api.dialects import DIALECTS
from chalicelib.api.table import OPERATIONS, PAGE_OPERATIONS
from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.aws.stepfunctions import StepFunctionsWorkflow
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.settings import Settings
from chalicelib.local.provision import Resources
from chalicelib.organizations.mail import MemoryMailer
from tests.conftest import PEPPER, PUBLIC_DOMAINS
from tests.support.fakes import FakeResolver


class Api:
    """A tiny HTTP helper around chalice's test client."""

    def __init__(self, client: Client, key: str) -> None:
        self.client = client
        self.key = key

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = None,
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Any:
        all_headers = {"Authorization": f"Bearer {key or self.key}", "Content-Type": "application/json",
                       **(headers or {})}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        return getattr(self.client.http, method.lower())(path, headers=all_headers, body=data)


@pytest.fixture
def wired(aws: dict[str, Any], resources: Resources) -> Iterator[Services]:
    settings = Settings.from_env({}, key_pepper=PEPPER, table_name=resources.table,
                                 state_machine_arn=resources.state_machine_arn, rate_limit_per_minute=1000,
                                 webhook_queue_url=resources.queue_url, webhook_dlq_url=resources.dlq_url)
    services = Services(settings, store=DynamoDBStore(resources.table, aws["dynamodb"]),
                        workflow=StepFunctionsWorkflow(resources.state_machine_arn, aws["stepfunctions"]),
                        resolver=FakeResolver(PUBLIC_DOMAINS))
    services.__dict__["mailer"] = MemoryMailer()  # invitations (SES would need PERIMETER_MAIL_FROM)
    set_services(services)
    services.auth.create_tenant("acme", "Acme")
    services.auth.create_tenant("rival", "Rival")
    services.auth.create_tenant("throttled", "Throttled", rate_limit_per_minute=3)
    yield services
    set_services(None)


@pytest.fixture
def keys(wired: Services) -> dict[str, str]:
    return {t: wired.auth.issue_key(t)[1] for t in ("acme", "rival", "throttled")}


@pytest.fixture
def api(keys: dict[str, str]) -> Iterator[Api]:
    with Client(app) as client:
        yield Api(client, keys["acme"])


def body(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def test_create_scan_returns_202_and_starts_the_execution(api: Api, aws: dict[str, Any]) -> None:
    response = api.call("POST", "/v1/scans", {"domain": "https://Example.com/login"})
    created = body(response)
    assert response.status_code == 202
    assert created["status"] == "pending" and created["status_url"].endswith(f"/v1/scans/{created['scan_token']}")
    assert created["estimated_seconds"] > 0 and response.headers["Location"] == created["status_url"]
    executions = aws["stepfunctions"].list_executions(stateMachineArn=_machine(aws))["executions"]
    assert [e["name"] for e in executions] == [created["scan_token"]]
    scan = body(api.call("GET", f"/v1/scans/{created['scan_token']}"))
    assert scan["target"] == "example.com" and scan["domain"] == "example.com" and scan["scan_type"] == "posture"


def _machine(aws: dict[str, Any]) -> str:
    return str(aws["stepfunctions"].list_state_machines()["stateMachines"][0]["stateMachineArn"])


def test_targeted_scan_carries_its_fields(api: Api) -> None:
    response = api.call("POST", "/v1/scans", {
        "target": "93.184.216.34", "scan_type": "ports", "name": "edge", "priority": "high",
        "options": {"ports": "22,80,443,8000-8100"}, "tags": ["ci", "prod"], "timeout_seconds": 120})
    assert response.status_code == 202
    scan = body(api.call("GET", f"/v1/scans/{body(response)['scan_token']}"))
    assert (scan["scan_type"], scan["priority"], scan["tags"], scan["timeout_seconds"], scan["domain"]) == (
        "ports", "high", ["ci", "prod"], 120, None)
    assert scan["options"]["ports"] == "22,80,443,8000-8100"


@pytest.mark.parametrize(("payload", "code"), [
    ({"domain": "internal.example"}, "target-not-allowed"),
    ({"domain": "metadata.example"}, "target-not-allowed"),
    ({"target": "2852039166", "scan_type": "ports"}, "target-not-allowed"),
    ({"target": "0251.0376.0251.0376", "scan_type": "tls"}, "target-not-allowed"),
    ({"target": "[::ffff:127.0.0.1]", "scan_type": "web"}, "target-not-allowed"),
    ({"domain": "localhost"}, "invalid-domain"),
    ({"domain": "exa mple.com"}, "invalid-domain"),
    ({"domain": "nope.example"}, "domain-not-found"),
    ({"domain": "example.com", "admin": True}, "validation-failed"),
    ({"domain": "example.com", "tenant_id": "rival"}, "validation-failed"),
    ({"domain": "example.com", "options": {"ports": "1-1024; rm -rf /"}}, "validation-failed"),
    ({"domain": "example.com", "timeout_seconds": 5}, "validation-failed"),
    ({"domain": "example.com", "target": "example.com"}, "validation-failed"),
    ({}, "validation-failed"),
    ({"scan_type": "nmap", "target": "example.com"}, "validation-failed"),
])
def test_bad_scan_requests_are_422_problems_and_store_nothing(api: Api, payload: dict[str, Any], code: str) -> None:
    response = api.call("POST", "/v1/scans", payload)
    problem = body(response)
    assert response.status_code == 422 and response.headers["Content-Type"] == "application/problem+json"
    assert problem["code"] == code and problem["status"] == 422 and problem["error"] and problem["title"]
    assert body(api.call("GET", "/v1/scans"))["items"] == []


@pytest.mark.parametrize(("raw", "status", "code"), [
    (b"{not json", 400, "malformed-json"),
    (b"", 400, "missing-body"),
    (b"[1, 2]", 422, "validation-failed"),
    (b"\xff\xfe", 400, "malformed-json"),
])
def test_malformed_bodies_are_clear_errors(api: Api, raw: bytes, status: int, code: str) -> None:
    response = api.call("POST", "/v1/scans", raw=raw)
    assert (response.status_code, body(response)["code"]) == (status, code)


def test_oversized_body_is_413(api: Api) -> None:
    response = api.call("POST", "/v1/scans", {"domain": "example.com", "name": "x" * 70_000})
    assert (response.status_code, body(response)["code"]) == (413, "payload-too-large")


@pytest.mark.parametrize("headers", [
    {}, {"Authorization": "Bearer "}, {"Authorization": "Bearer pmk_nottherightkeynottherightkey123"},
    {"Authorization": "Token abc"}, {"X-API-Key": "short"},
])
def test_auth_failures_are_one_identical_401(keys: dict[str, str], headers: dict[str, str]) -> None:
    with Client(app) as client:
        response = client.http.get("/v1/scans", headers=headers)
        reference = client.http.get("/v1/scans", headers={"Authorization": "Bearer pmk_" + "Z" * 43})
    assert response.status_code == 401 and response.body == reference.body
    assert body(response)["code"] == "unauthorized"


def test_revoked_key_is_401_with_the_same_body(api: Api, wired: Services, keys: dict[str, str]) -> None:
    unknown = api.call("GET", "/v1/scans", key="pmk_" + "Q" * 43)
    [record] = wired.auth.list_keys("acme")
    wired.auth.revoke_key("acme", record.key_id)
    revoked = api.call("GET", "/v1/scans")
    assert revoked.status_code == 401 and revoked.body == unknown.body


def test_x_api_key_header_authenticates(keys: dict[str, str]) -> None:
    with Client(app) as client:
        response = client.http.get("/v1/scans", headers={"X-API-Key": keys["acme"]})
    assert response.status_code == 200


def test_every_id_route_hides_other_tenants_objects(api: Api, keys: dict[str, str]) -> None:
    scan = body(api.call("POST", "/v1/scans", {"domain": "example.com"}))["scan_token"]
    template = body(api.call("POST", "/v1/scan-templates", {"name": "t"}))["template_id"]
    hook = body(api.call("POST", "/v1/webhooks", {"url": "https://example.com/hook", "events": ["*"]}))["webhook_id"]
    delivery = body(api.call("POST", f"/v1/webhooks/{hook}/test"))["delivery_id"]
    target = body(api.call("POST", "/v1/targets", {"domain": "example.com"}))["target_id"]
    api_key = body(api.call("POST", "/v1/api-keys", {"name": "k", "role": "viewer"}))["key_id"]
    member = body(api.call("POST", "/v1/team/members", {"email": "someone@example.com", "role": "viewer"}))["member_id"]
    rival = keys["rival"]
    attempts = [
        ("GET", f"/v1/scans/{scan}", None), ("GET", f"/v1/scans/{scan}/findings", None),
        ("GET", f"/v1/scans/{scan}/report", None), ("GET", f"/v1/scans/{scan}/sbom", None),
        ("POST", f"/v1/scans/{scan}/cancel", None),
        ("GET", f"/v1/webhooks/{hook}", None), ("POST", f"/v1/webhooks/{hook}/rotate-secret", None),
        ("POST", f"/v1/webhooks/{hook}/test", None), ("GET", f"/v1/webhooks/{hook}/deliveries", None),
        ("POST", f"/v1/webhooks/{hook}/enable", None),
        ("POST", f"/v1/webhooks/{hook}/deliveries/{delivery}/redeliver", None),
        ("DELETE", f"/v1/webhooks/{hook}", None),
        ("GET", f"/v1/scan-templates/{template}", None), ("DELETE", f"/v1/scan-templates/{template}", None),
        ("POST", f"/v1/scan-templates/{template}/launch", {"target": "example.com"}),
        ("GET", f"/v1/targets/{target}", None), ("POST", f"/v1/targets/{target}/verify", None),
        ("DELETE", f"/v1/targets/{target}", None),
        ("DELETE", f"/v1/api-keys/{api_key}", None),
        ("GET", f"/v1/team/members/{member}", None), ("PATCH", f"/v1/team/members/{member}", {"role": "admin"}),
        ("DELETE", f"/v1/team/members/{member}", None),
    ]
    # Public capability routes carry no tenant id: the signed token is the credential (test_downloads.py).
    id_routes = {(op.method, op.path) for op in OPERATIONS if "{" in op.path and not op.public}
    assert len(id_routes) == len(attempts)
    for method, path, payload in attempts:
        response = api.call(method, path, payload, key=rival)
        assert response.status_code == 404, (method, path)
    assert body(api.call("GET", f"/v1/scans/{scan}"))["status"] == "pending"
    assert api.call("GET", f"/v1/scan-templates/{template}").status_code == 200
    assert api.call("GET", f"/v1/webhooks/{hook}").status_code == 200
    assert body(api.call("GET", f"/v1/targets/{target}"))["status"] == "pending"
    assert body(api.call("GET", f"/v1/team/members/{member}"))["role"] == "viewer"
    assert body(api.call("GET", "/v1/scans", key=rival))["items"] == []


def test_cancel_then_cancel_again_is_409(api: Api) -> None:
    token = body(api.call("POST", "/v1/scans", {"domain": "example.com"}))["scan_token"]
    cancelled = api.call("POST", f"/v1/scans/{token}/cancel")
    assert cancelled.status_code == 200 and body(cancelled)["status"] == "cancelled"
    again = api.call("POST", f"/v1/scans/{token}/cancel")
    assert (again.status_code, body(again)["code"]) == (409, "scan-terminal")


def test_unknown_scan_is_404(api: Api) -> None:
    response = api.call("GET", "/v1/scans/scn_00000000000000000000000000")
    assert (response.status_code, body(response)["code"]) == (404, "scan-not-found")


def test_list_filters_and_cursor(api: Api) -> None:
    tokens = [body(api.call("POST", "/v1/scans", {"domain": "example.com", "tags": [f"t{i % 2}"]}))["scan_token"]
              for i in range(5)]
    api.call("POST", "/v1/scans", {"target": "93.184.216.34", "scan_type": "tls"})
    first = body(api.call("GET", "/v1/scans?scan_type=posture&limit=2"))
    second = body(api.call("GET", f"/v1/scans?scan_type=posture&limit=2&cursor={first['next_cursor']}"))
    third = body(api.call("GET", f"/v1/scans?scan_type=posture&limit=2&cursor={second['next_cursor']}"))
    seen = [s["scan_token"] for s in first["items"] + second["items"] + third["items"]]
    assert seen == list(reversed(tokens)) and third["next_cursor"] is None
    tagged = body(api.call("GET", "/v1/scans?tag=t0"))["items"]
    assert {s["scan_token"] for s in tagged} == set(tokens[::2])
    assert api.call("GET", "/v1/scans?limit=1000").status_code == 422
    assert api.call("GET", "/v1/scans?status=bogus").status_code == 422
    assert body(api.call("GET", "/v1/scans?cursor=abc"))["code"] == "invalid-cursor"


def test_idempotency_key_replays_and_refuses_reuse(api: Api) -> None:
    headers = {"Idempotency-Key": "order-42"}
    first = api.call("POST", "/v1/scans", {"domain": "example.com"}, headers=headers)
    second = api.call("POST", "/v1/scans", {"domain": "example.com"}, headers=headers)
    assert first.status_code == second.status_code == 202
    assert body(first) == body(second) and second.headers.get("Idempotent-Replayed") == "true"
    other = api.call("POST", "/v1/scans", {"domain": "xn--bcher-kva.example"}, headers=headers)
    assert (other.status_code, body(other)["code"]) == (422, "idempotency-key-reused")
    assert len(body(api.call("GET", "/v1/scans"))["items"]) == 1


def test_idempotent_validation_errors_replay_too(api: Api) -> None:
    headers = {"Idempotency-Key": "bad-1"}
    first = api.call("POST", "/v1/scans", {"domain": "internal.example"}, headers=headers)
    second = api.call("POST", "/v1/scans", {"domain": "internal.example"}, headers=headers)
    assert first.status_code == second.status_code == 422 and body(first) == body(second)


def test_rate_limit_gives_429_with_retry_after_and_headers(keys: dict[str, str]) -> None:
    with Client(app) as client:
        responses = [client.http.get("/v1/scans", headers={"X-API-Key": keys["throttled"]}) for _ in range(4)]
    assert [r.status_code for r in responses] == [200, 200, 200, 429]
    limited = responses[-1]
    assert int(limited.headers["Retry-After"]) >= 1 and body(limited)["code"] == "rate-limited"
    assert responses[0].headers["X-RateLimit-Limit"] == "3" and responses[0].headers["X-RateLimit-Remaining"] == "2"
    assert responses[0].headers["RateLimit-Policy"] == '"per-key";q=3;w=60'


def test_templates_crud_and_launch(api: Api) -> None:
    created = api.call("POST", "/v1/scan-templates", {"name": "weekly tls", "scan_type": "tls", "tags": ["w"]})
    template = body(created)
    assert created.status_code == 201 and template["scan_type"] == "tls"
    assert [t["template_id"] for t in body(api.call("GET", "/v1/scan-templates"))["items"]] == [template["template_id"]]
    launched = api.call("POST", f"/v1/scan-templates/{template['template_id']}/launch",
                        {"target": "93.184.216.34", "priority": "low"})
    scan = body(api.call("GET", f"/v1/scans/{body(launched)['scan_token']}"))
    assert (launched.status_code, scan["scan_type"], scan["priority"], scan["template_id"]) == (
        202, "tls", "low", template["template_id"])
    assert api.call("DELETE", f"/v1/scan-templates/{template['template_id']}").status_code == 204
    assert api.call("GET", f"/v1/scan-templates/{template['template_id']}").status_code == 404


def test_usage_summary_counts_the_tenants_scans(api: Api, keys: dict[str, str]) -> None:
    api.call("POST", "/v1/scans", {"domain": "example.com"})
    api.call("POST", "/v1/scans", {"target": "93.184.216.34", "scan_type": "ports"})
    summary = body(api.call("GET", "/v1/usage/summary?period=7d"))
    assert summary["scans_created"] == 2 and summary["scans_by_type"]["ports"] == 1 and summary["period"] == "7d"
    assert body(api.call("GET", "/v1/usage/summary", key=keys["rival"]))["scans_created"] == 0
    assert api.call("GET", "/v1/usage/summary?period=1y").status_code == 422


def test_openapi_document_describes_every_route_of_the_app(wired: Services) -> None:
    with Client(app) as client:
        doc = body(client.http.get("/v1/openapi.json"))
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    routed = {(method, path) for path, entry in app.routes.items() for method in entry}
    routed -= {(op.method, op.path) for op in PAGE_OPERATIONS}  # HTML pages (/sa/...), in no document
    dialect_routes = {(m, p) for m, p in routed if any(p.startswith(d.base_path + "/") for d in DIALECTS)}
    assert documented == routed - dialect_routes and {p for _, p in documented} == {
        p for _, p in routed - dialect_routes if p.startswith("/v1/")}
    with Client(app) as client:  # each vendor dialect's routes are in its own document, relative to its server URL
        for dialect in DIALECTS:
            own = body(client.http.get(f"{dialect.base_path}/openapi.json"))
            served = {(m.upper(), dialect.base_path + p) for p, item in own["paths"].items() for m in item}
            assert served | {("GET", f"{dialect.base_path}/openapi.json")} == {
                (m, p) for m, p in dialect_routes if p.startswith(dialect.base_path + "/")}
    assert doc["openapi"] == "3.1.0"
    assert doc["paths"]["/v1/scans"]["post"]["requestBody"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "/CreateScan")


def test_health_needs_no_key() -> None:
    with Client(app) as client:
        response = client.http.get("/v1/health")
    assert response.status_code == 200 and body(response)["status"] == "ok"
