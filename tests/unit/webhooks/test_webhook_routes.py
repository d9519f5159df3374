"""The /v1/webhooks routes through Chalice's test client, on in-memory fakes (the `services` fixture)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.api.dialects import DIALECT_OPERATIONS
from chalicelib.api.table import OPERATIONS, PAGE_OPERATIONS
from chalicelib.bootstrap import Services
from chalicelib.webhooks.models import DeliveryMessage, DisabledReason, EndpointStatus
from tests.support.memory import MemoryQueue, MemoryStore

HOOK = "https://example.com/hooks/perimeter"


class Api:
    def __init__(self, client: Client, keys: dict[str, str]) -> None:
        self.client = client
        self.keys = keys

    def call(self, method: str, path: str, body: Any = None, *, tenant: str = "acme",
             headers: dict[str, str] | None = None, raw: bytes | None = None) -> Any:
        all_headers = {"Authorization": f"Bearer {self.keys[tenant]}", "Content-Type": "application/json",
                       **(headers or {})}
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        return getattr(self.client.http, method.lower())(path, headers=all_headers, body=data)


@pytest.fixture
def queue(services: Services) -> MemoryQueue:
    queue = MemoryQueue()
    services.webhook_queue = queue
    services.webhook_dlq = MemoryQueue()
    return queue


@pytest.fixture
def api(services: Services, queue: MemoryQueue) -> Iterator[Api]:
    keys = {}
    for tenant in ("acme", "rival"):
        services.auth.create_tenant(tenant, tenant.title())
        keys[tenant] = services.auth.issue_key(tenant)[1]
    with Client(app) as client:
        yield Api(client, keys)


def body(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def _create(api: Api, **extra: Any) -> dict[str, Any]:
    response = api.call("POST", "/v1/webhooks", {"url": HOOK, "events": ["scan.completed"], **extra})
    assert response.status_code == 201, response.body
    return dict(body(response))


def test_create_shows_the_secret_once_and_never_again(api: Api, services: Services) -> None:
    created = _create(api, description="prod receiver")
    secret = created["secret"]
    assert secret.startswith("whsec_") and created["url"] == HOOK and created["status"] == "active"
    reads = [api.call("GET", f"/v1/webhooks/{created['webhook_id']}"), api.call("GET", "/v1/webhooks"),
             api.call("GET", f"/v1/webhooks/{created['webhook_id']}/deliveries")]
    for response in reads:
        text = response.body.decode()
        assert response.status_code == 200 and "whsec_" not in text and '"secret"' not in text
    assert body(reads[0])["description"] == "prod receiver"
    assert isinstance(services.store, MemoryStore)
    assert secret not in json.dumps([r.data for r in services.store._items.values()])


def test_idempotent_create_replays_the_secret_without_storing_it_in_clear(api: Api, services: Services) -> None:
    headers = {"Idempotency-Key": "hook-1"}
    first = api.call("POST", "/v1/webhooks", {"url": HOOK, "events": ["*"]}, headers=headers)
    second = api.call("POST", "/v1/webhooks", {"url": HOOK, "events": ["*"]}, headers=headers)
    assert first.status_code == second.status_code == 201 and second.headers["Idempotent-Replayed"] == "true"
    assert body(first) == body(second) and body(first)["secret"].startswith("whsec_")
    assert len(body(api.call("GET", "/v1/webhooks"))["items"]) == 1
    stored = json.dumps([r.data for r in services.store._items.values()])  # type: ignore[attr-defined]
    assert body(first)["secret"] not in stored and "sealed:" in stored  # the idempotency record holds it wrapped
    rotated = api.call("POST", f"/v1/webhooks/{body(first)['webhook_id']}/rotate-secret",
                       headers={"Idempotency-Key": "rot-1"})
    assert rotated.status_code == 200 and body(rotated)["secret"].startswith("whsec_")
    assert body(rotated)["secret"] not in json.dumps([r.data for r in services.store._items.values()])  # type: ignore[attr-defined]


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"url": HOOK, "events": ["scan.exploded"]}, 422, "validation-failed"),
    ({"url": HOOK, "events": []}, 422, "validation-failed"),
    ({"url": HOOK}, 422, "validation-failed"),
    ({"url": HOOK, "events": ["*"], "status": "disabled"}, 422, "validation-failed"),
    ({"url": "http://example.com/hook", "events": ["*"]}, 422, "webhook-url-not-allowed"),
    ({"url": "https://internal.example/hook", "events": ["*"]}, 422, "webhook-url-not-allowed"),
    ({"url": "https://0xA9FEA9FE/", "events": ["*"]}, 422, "webhook-url-not-allowed"),
    ({"url": "https://nope.example/", "events": ["*"]}, 422, "invalid-webhook-url"),
    ({"url": "https://" + "a" * 2100 + ".com/", "events": ["*"]}, 422, "validation-failed"),
])
def test_bad_registrations_are_problem_details(api: Api, payload: dict[str, Any], status: int, code: str) -> None:
    response = api.call("POST", "/v1/webhooks", payload)
    assert (response.status_code, body(response)["code"]) == (status, code)
    assert response.headers["Content-Type"] == "application/problem+json"
    assert body(api.call("GET", "/v1/webhooks"))["items"] == []


def test_every_webhook_id_route_hides_other_tenants_objects(api: Api, queue: MemoryQueue) -> None:
    hook = _create(api)["webhook_id"]
    delivery = body(api.call("POST", f"/v1/webhooks/{hook}/test"))["delivery_id"]
    attempts = {
        ("GET", "/v1/webhooks/{webhook_id}"), ("DELETE", "/v1/webhooks/{webhook_id}"),
        ("POST", "/v1/webhooks/{webhook_id}/rotate-secret"), ("POST", "/v1/webhooks/{webhook_id}/test"),
        ("POST", "/v1/webhooks/{webhook_id}/enable"),
        ("GET", "/v1/webhooks/{webhook_id}/deliveries"),
        ("POST", "/v1/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver"),
    }
    assert attempts == {(op.method, op.path) for op in OPERATIONS if op.path.startswith("/v1/webhooks/{")}
    for method, template in sorted(attempts):
        path = template.format(webhook_id=hook, delivery_id=delivery)
        response = api.call(method, path, tenant="rival")
        assert (response.status_code, body(response)["code"]) == (404, "webhook-not-found"), (method, path)
    assert api.call("GET", f"/v1/webhooks/{hook}").status_code == 200
    assert body(api.call("GET", "/v1/webhooks", tenant="rival"))["items"] == []
    assert len(queue.bodies()) == 1  # the rival's test and redelivery queued nothing


def test_delete_answers_204_then_404(api: Api) -> None:
    hook = _create(api)["webhook_id"]
    deleted = api.call("DELETE", f"/v1/webhooks/{hook}")
    assert deleted.status_code == 204 and not deleted.body
    assert api.call("GET", f"/v1/webhooks/{hook}").status_code == 404
    assert api.call("DELETE", f"/v1/webhooks/{hook}").status_code == 404


def test_rotate_returns_a_new_secret_and_the_overlap(api: Api) -> None:
    created = _create(api)
    rotated = api.call("POST", f"/v1/webhooks/{created['webhook_id']}/rotate-secret")
    new = body(rotated)
    assert rotated.status_code == 200 and new["secret"] != created["secret"] and new["secret"].startswith("whsec_")
    assert new["previous_secret_expires_at"] is not None
    assert body(api.call("GET", f"/v1/webhooks/{created['webhook_id']}"))["previous_secret_expires_at"] == new[
        "previous_secret_expires_at"]


def test_test_event_and_redelivery_are_202_and_keep_the_event_id(api: Api, queue: MemoryQueue) -> None:
    hook = _create(api)["webhook_id"]
    tested = api.call("POST", f"/v1/webhooks/{hook}/test")
    queued = body(tested)
    assert tested.status_code == 202 and queued["event"] == "webhook.test" and queued["status"] == "pending"
    redelivered = api.call("POST", f"/v1/webhooks/{hook}/deliveries/{queued['delivery_id']}/redeliver")
    again = body(redelivered)
    assert redelivered.status_code == 202 and again["event_id"] == queued["event_id"]
    assert again["delivery_id"] != queued["delivery_id"]
    messages = [DeliveryMessage.decode(b) for b in queue.bodies()]
    assert [m.delivery_id for m in messages] == [queued["delivery_id"], again["delivery_id"]]
    listed = body(api.call("GET", f"/v1/webhooks/{hook}/deliveries?limit=1"))
    assert [d["delivery_id"] for d in listed["items"]] == [again["delivery_id"]] and listed["next_cursor"]
    assert listed["items"][0]["redelivery_of"] == queued["delivery_id"] and listed["items"][0]["attempts"] == []
    unknown = api.call("POST", f"/v1/webhooks/{hook}/deliveries/whd_nope/redeliver")
    assert (unknown.status_code, body(unknown)["code"]) == (404, "delivery-not-found")


def test_a_disabled_endpoint_refuses_tests_with_409(api: Api, services: Services) -> None:
    hook = _create(api)["webhook_id"]
    services.webhooks.repo.update_endpoint("acme", hook, lambda e: e.model_copy(update={
        "status": EndpointStatus.DISABLED, "disabled_reason": DisabledReason.GONE}))
    response = api.call("POST", f"/v1/webhooks/{hook}/test")
    assert (response.status_code, body(response)["code"]) == (409, "webhook-disabled")
    assert body(api.call("GET", f"/v1/webhooks/{hook}"))["disabled_reason"] == "endpoint-gone"


def test_enable_reactivates_a_disabled_endpoint_and_restarts_its_failure_clock(api: Api, services: Services) -> None:
    hook = _create(api)["webhook_id"]
    services.webhooks.repo.update_endpoint("acme", hook, lambda e: e.model_copy(update={
        "status": EndpointStatus.DISABLED, "disabled_reason": DisabledReason.FAILING,
        "failing_since": e.created_at}))
    enabled = api.call("POST", f"/v1/webhooks/{hook}/enable")
    assert enabled.status_code == 200 and body(enabled)["status"] == "active"
    assert body(enabled)["disabled_reason"] is None
    assert services.webhooks.get("acme", hook).failing_since is None
    assert api.call("POST", f"/v1/webhooks/{hook}/test").status_code == 202
    again = api.call("POST", f"/v1/webhooks/{hook}/enable")
    assert again.status_code == 200 and body(again)["status"] == "active"


def test_a_queue_outage_still_accepts_the_test_event_into_the_outbox(api: Api, services: Services) -> None:
    from chalicelib.aws.sqs import SqsQueue

    hook = _create(api)["webhook_id"]
    services.webhooks._queue = SqsQueue("")  # not configured: every call fails
    response = api.call("POST", f"/v1/webhooks/{hook}/test")
    assert response.status_code == 202 and body(response)["status"] == "pending"
    [entry] = services.webhook_repository.due_outbox(None, limit=10)
    assert entry.delivery_id == body(response)["delivery_id"] and entry.unsent


def test_webhook_list_pages_newest_first(api: Api) -> None:
    hooks = [_create(api)["webhook_id"] for _ in range(3)]
    first = body(api.call("GET", "/v1/webhooks?limit=2"))
    second = body(api.call("GET", f"/v1/webhooks?limit=2&cursor={first['next_cursor']}"))
    assert [h["webhook_id"] for h in first["items"] + second["items"]] == list(reversed(hooks))
    assert second["next_cursor"] is None
    assert body(api.call("GET", "/v1/webhooks?cursor=abc"))["code"] == "invalid-cursor"
    assert api.call("GET", "/v1/webhooks?limit=500").status_code == 422


def test_openapi_documents_the_webhook_routes(api: Api) -> None:
    doc = body(api.client.http.get("/v1/openapi.json"))
    documented = {(method.upper(), path) for path, item in doc["paths"].items() for method in item}
    routed = {(method, path) for path, entry in app.routes.items() for method in entry}
    undocumented = {(op.method, op.path) for op in (*DIALECT_OPERATIONS, *PAGE_OPERATIONS)}  # own document; pages
    assert documented == routed - undocumented
    create = doc["paths"]["/v1/webhooks"]["post"]
    assert "201" in create["responses"] and create["requestBody"]["content"]["application/json"]["schema"][
        "$ref"].endswith("/CreateWebhook")
    assert "204" in doc["paths"]["/v1/webhooks/{webhook_id}"]["delete"]["responses"]


def test_a_secret_that_cannot_be_revealed_is_a_problem_from_the_one_error_mapper(
        api: Api, services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(webhook_id: str, sealed: str) -> str:
        raise ValueError("wrong key")

    monkeypatch.setattr(services.webhooks, "reveal_in_response", broken)
    response = api.call("POST", "/v1/webhooks", {"url": HOOK, "events": ["*"]}, headers={"Idempotency-Key": "k-1"})
    problem = body(response)
    assert response.status_code == 500 and response.headers["Content-Type"] == "application/problem+json"
    assert problem["code"] == "internal-error" and "rotate it" in problem["detail"]
    assert "sealed:" not in response.body.decode() and "whsec_" not in response.body.decode()
