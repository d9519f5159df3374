"""Roles, API keys and audit events through the public API (chalice's test client; services on fakes)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.access.audit import AuditService
from chalicelib.access.roles import Role
from chalicelib.bootstrap import Services
from tests.support.memory import MemoryStore
from tests.unit.access.conftest import Caller

PLANTED_SECRET = "plantedSecretValue-0123456789abcdef"


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(app) as chalice_client:
        yield chalice_client


@pytest.fixture
def keys(services: Services) -> dict[str, str]:
    """Service keys: acme's of each role, and rival's admin."""
    services.auth.create_tenant("acme", "Acme")
    services.auth.create_tenant("rival", "Rival")
    made = {role.value: services.auth.issue_key("acme", name=role.value, role=role)[1] for role in Role}
    made["rival"] = services.auth.issue_key("rival", name="rival admin", role=Role.ADMIN)[1]
    return made


@pytest.fixture
def api(client: Client, keys: dict[str, str]) -> dict[str, Caller]:
    return {name: Caller(client, key) for name, key in keys.items()}


def _everything_stored(services: Services) -> str:
    store = services.store
    assert isinstance(store, MemoryStore)
    return json.dumps([(pk, sk, r.data) for (pk, sk), r in store._items.items()])


def _audit_items(services: Services) -> str:
    store = services.store
    assert isinstance(store, MemoryStore)
    return json.dumps([r.data for (pk, sk), r in store._items.items() if sk.startswith("AUDIT#")])


def test_an_admin_manages_keys_and_the_new_key_has_its_role(api: dict[str, Caller], keys: dict[str, str]) -> None:
    status, created = api["admin"].json("POST", "/v1/api-keys", {"name": "dashboard", "role": "viewer"})
    assert status == 201 and created["role"] == "viewer" and created["api_key"].startswith("pmk_")
    viewer = Caller(api["admin"].client, created["api_key"])
    assert viewer.json("GET", "/v1/scans")[0] == 200
    assert viewer.json("GET", "/v1/api-keys")[0] == 403

    status, listed = api["admin"].json("GET", "/v1/api-keys?limit=100")
    assert status == 200 and created["key_id"] in [k["key_id"] for k in listed["items"]]
    text = json.dumps(listed)
    assert "key_hash" not in text and all(key not in text for key in [*keys.values(), created["api_key"]])

    status, revoked = api["admin"].json("DELETE", f"/v1/api-keys/{created['key_id']}")
    assert status == 200 and revoked["revoked_at"] is not None
    assert viewer.json("GET", "/v1/scans")[0] == 401


def test_minting_above_ones_role_and_revoking_a_stronger_key_are_refused(api: dict[str, Caller],
                                                                        services: Services) -> None:
    status, refused = api["admin"].json("POST", "/v1/api-keys", {"name": "escalate", "role": "owner"})
    assert status == 403 and refused["code"] == "insufficient-role"
    owner_key = next(k for k in services.auth.list_keys("acme") if k.role == Role.OWNER)
    status, refused = api["admin"].json("DELETE", f"/v1/api-keys/{owner_key.key_id}")
    assert status == 403 and refused["code"] == "insufficient-role"
    assert api["owner"].json("GET", "/v1/api-keys")[0] == 200  # the owner key still works


def test_another_tenants_key_is_not_found(api: dict[str, Caller], services: Services) -> None:
    rival_key = services.auth.list_keys("rival")[0]
    status, problem = api["owner"].json("DELETE", f"/v1/api-keys/{rival_key.key_id}")
    assert status == 404 and problem["code"] == "key-not-found"
    assert rival_key.key_id not in json.dumps(api["owner"].json("GET", "/v1/api-keys")[1])
    assert api["rival"].json("GET", "/v1/scans")[0] == 200


def test_a_replayed_create_shows_the_same_key_and_stores_it_nowhere(api: dict[str, Caller],
                                                                   services: Services) -> None:
    headers = {"Idempotency-Key": "create-key-1"}
    first = api["admin"].json("POST", "/v1/api-keys", {"name": "ci", "role": "member"}, headers=headers)[1]
    again = api["admin"].json("POST", "/v1/api-keys", {"name": "ci", "role": "member"}, headers=headers)[1]
    assert first["api_key"] == again["api_key"] and first["key_id"] == again["key_id"]
    assert first["api_key"] not in _everything_stored(services)


def test_a_members_key_follows_the_member(api: dict[str, Caller], services: Services) -> None:
    members = {"mem_alice": Role.MEMBER}
    services.member_roles = lambda tenant_id, member_id: members.get(member_id) if tenant_id == "acme" else None
    status, created = api["admin"].json("POST", "/v1/api-keys", {"name": "alice", "member_id": "mem_alice"})
    assert status == 201 and created["role"] == "member" and created["member_id"] == "mem_alice"
    alice = Caller(api["admin"].client, created["api_key"])
    assert alice.json("POST", "/v1/scans", {"domain": "example.com"})[0] == 202
    services.auth.set_member_role("acme", "mem_alice", Role.VIEWER)
    assert alice.json("POST", "/v1/scans", {"domain": "example.com"})[0] == 403
    services.auth.revoke_member_keys("acme", "mem_alice")
    assert alice.json("GET", "/v1/scans")[0] == 401
    gone = api["admin"].json("POST", "/v1/api-keys", {"name": "x", "member_id": "mem_unknown"})[1]
    assert gone["code"] == "member-not-found"


def test_audit_events_say_who_did_what_with_which_key_and_never_a_secret(
        api: dict[str, Caller], keys: dict[str, str], services: Services) -> None:
    admin_id = services.auth.authenticate(None, keys["admin"]).key_id
    viewer_id = services.auth.authenticate(None, keys["viewer"]).key_id
    status, hook = api["admin"].json("POST", f"/v1/webhooks?token={PLANTED_SECRET}", {
        "url": f"https://example.com/hook?sig={PLANTED_SECRET}", "events": ["scan.completed"],
        "secret": PLANTED_SECRET, "description": keys["owner"]})
    assert status == 201
    rotated = api["admin"].json("POST", f"/v1/webhooks/{hook['webhook_id']}/rotate-secret")[1]
    assert api["viewer"].json("POST", "/v1/scans", {"domain": "example.com", "name": keys["owner"]})[0] == 403
    assert api["member"].json("POST", "/v1/scans", {"domain": "not a domain"})[0] == 422
    created = api["admin"].json("POST", "/v1/api-keys", {"name": "ci", "role": "viewer"})[1]
    api["admin"].call("GET", "/v1/webhooks")  # reads are not recorded

    status, listed = api["admin"].json("GET", "/v1/audit-events")
    assert status == 200
    seen = [(e["action"], e["actor_key_id"], e["status"], e["target"]) for e in listed["items"]]
    member_id = services.auth.authenticate(None, keys["member"]).key_id
    assert seen == [
        ("createApiKey", admin_id, 201, None),
        ("createScan", member_id, 422, None),
        ("createScan", viewer_id, 403, None),
        ("rotateWebhookSecret", admin_id, 200, {"webhook_id": hook["webhook_id"]}),
        ("createWebhook", admin_id, 201, None),
    ]
    assert all(e["source_ip"] for e in listed["items"])
    stored = _audit_items(services) + json.dumps(listed)
    for secret in [PLANTED_SECRET, hook["secret"], rotated["secret"], created["api_key"], *keys.values()]:
        assert secret not in stored


def test_audit_events_filter_and_stay_in_their_tenant(api: dict[str, Caller], keys: dict[str, str],
                                                    services: Services) -> None:
    api["member"].call("POST", "/v1/scans", {"domain": "example.com"})
    api["admin"].call("POST", "/v1/api-keys", {"name": "x", "role": "viewer"})
    api["rival"].call("POST", "/v1/api-keys", {"name": "y", "role": "viewer"})
    admin_id = services.auth.authenticate(None, keys["admin"]).key_id
    by_actor = api["admin"].json("GET", f"/v1/audit-events?actor={admin_id}")[1]
    assert [e["action"] for e in by_actor["items"]] == ["createApiKey"]
    by_action = api["admin"].json("GET", "/v1/audit-events?action=createScan")[1]
    assert [e["status"] for e in by_action["items"]] == [202]
    rival = api["rival"].json("GET", "/v1/audit-events")[1]
    assert [e["action"] for e in rival["items"]] == ["createApiKey"]
    assert admin_id not in json.dumps(rival)
    assert api["member"].json("GET", "/v1/audit-events")[0] == 403
    for since in ("yesterday", "0.5", "1700000000"):  # a bare number is not read as a Unix time
        assert api["admin"].json("GET", f"/v1/audit-events?since={since}")[0] == 422, since
    iso = api["admin"].json("GET", "/v1/audit-events?since=2000-01-01T00:00:00Z")
    assert iso[0] == 200 and len(iso[1]["items"]) >= 1


class BrokenAudit(AuditService):
    def record(self, tenant_id: str, **fields: Any) -> Any:  # type: ignore[override]
        raise ConnectionError("the table is away")


def test_a_failed_audit_write_is_logged_and_the_request_still_answers(
        api: dict[str, Caller], services: Services, caplog: pytest.LogCaptureFixture) -> None:
    services.audit = BrokenAudit(services.store, 1)
    with caplog.at_level(logging.ERROR):
        status, created = api["admin"].json("POST", "/v1/api-keys", {"name": "ci", "role": "viewer"})
    assert status == 201 and created["api_key"]
    assert any("audit event not recorded" in r.getMessage() for r in caplog.records)
