"""/v1/targets through Chalice's test client, with Services.targets built by the composition root over a
DNS server this test starts (PERIMETER_DNS_SERVERS) and 127.0.0.0/8 exempt from the guard."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.access.roles import Role
from chalicelib.api.table import OPERATIONS
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.errors import TargetNotVerified
from chalicelib.core.settings import Settings
from tests.conftest import PEPPER
from tests.support.dnsserver import LocalDNSServer
from tests.support.memory import MemoryObjectStore, MemoryStore, RecordingWorkflow
from tests.support.services import loopback_address

SHOP = "shop.perimeter.test"
BASE = "https://api.perimeter.test"


@pytest.fixture(scope="module")
def dns() -> Iterator[LocalDNSServer]:
    server = LocalDNSServer({}).start()
    yield server
    server.stop()


@pytest.fixture
def services(dns: LocalDNSServer) -> Iterator[Services]:
    dns.resolver.zone.clear()
    dns.resolver.update({SHOP: [("A", loopback_address())], "private.perimeter.test": [("A", "10.0.0.1")]})
    settings = Settings.from_env({}, key_pepper=PEPPER, dns_servers=[dns.address], dns_timeout=2.0,
                                 allow_private_targets=["127.0.0.0/8"], public_base_url=BASE,
                                 rate_limit_per_minute=10_000, target_verification_days=7)
    built = Services(settings, store=MemoryStore(), workflow=RecordingWorkflow(), objects=MemoryObjectStore())
    set_services(built)
    for tenant in ("acme", "rival"):
        built.auth.create_tenant(tenant, tenant.title())
    yield built
    set_services(None)


class Api:
    def __init__(self, client: Client, services: Services) -> None:
        self.client = client
        self.keys = {t: services.auth.issue_key(t)[1] for t in ("acme", "rival")}

    def call(self, method: str, path: str, payload: Any = None, *, tenant: str = "acme", raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> Any:
        data = raw if raw is not None else (json.dumps(payload).encode() if payload is not None else b"")
        all_headers = {"Authorization": f"Bearer {self.keys[tenant]}", "Content-Type": "application/json",
                       **(headers or {})}
        return getattr(self.client.http, method.lower())(path, headers=all_headers, body=data)


@pytest.fixture
def api(services: Services) -> Iterator[Api]:
    with Client(app) as client:
        yield Api(client, services)


def body(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def test_register_answers_201_with_the_challenge_then_200_with_the_same_target(api: Api) -> None:
    created = api.call("POST", "/v1/targets", {"domain": f"https://{SHOP.upper()}/login"})
    assert created.status_code == 201
    target = body(created)
    token = target["challenge"]["token"]
    assert target["status"] == "pending" and target["domain"] == SHOP and target["method"] is None
    assert target["challenge"]["dns"] == {"name": f"_perimeter-challenge.{SHOP}", "type": "TXT",
                                          "value": f"perimeter-challenge={token}"}
    assert target["challenge"]["http"] == {"url": f"https://{SHOP}/.well-known/perimeter-challenge", "body": token}
    assert created.headers["Location"] == f"{BASE}/v1/targets/{target['target_id']}"
    again = api.call("POST", "/v1/targets", {"domain": SHOP})
    assert again.status_code == 200 and body(again) == target


@pytest.mark.parametrize(("payload", "status", "code"), [
    ({"domain": "127.0.0.1"}, 422, "invalid-domain"),
    ({"domain": "private.perimeter.test"}, 422, "target-not-allowed"),
    ({"domain": "missing.perimeter.test"}, 422, "domain-not-found"),
    ({"domain": "bad_name!.test"}, 422, "invalid-domain"),
    ({"domain": "x" * 400}, 422, "validation-failed"),
    ({"domain": SHOP, "scope": "all"}, 422, "validation-failed"),
    ({}, 422, "validation-failed"),
    ([SHOP], 422, "validation-failed"),
    (None, 400, "missing-body"),
    (b"{not json", 400, "malformed-json"),
])
def test_bad_input_is_problem_json_and_stores_nothing(api: Api, services: Services, payload: Any, status: int,
                                                       code: str) -> None:
    raw = payload if isinstance(payload, bytes) else None
    response = api.call("POST", "/v1/targets", None if raw else payload, raw=raw)
    assert (response.status_code, body(response)["code"]) == (status, code), response.body
    assert response.headers["Content-Type"] == "application/problem+json"
    assert body(api.call("GET", "/v1/targets"))["items"] == []


def test_verify_fails_with_what_was_seen_then_succeeds_once_the_record_is_published(
        api: Api, dns: LocalDNSServer) -> None:
    target = body(api.call("POST", "/v1/targets", {"domain": SHOP}))
    challenge = f"_perimeter-challenge.{SHOP}"
    dns.resolver.update({challenge: [("TXT", "perimeter-challenge=old")]})
    failed = api.call("POST", f"/v1/targets/{target['target_id']}/verify")
    problem = body(failed)
    assert (failed.status_code, problem["code"]) == (422, "target-verification-failed")
    assert problem["checks"]["dns"]["found"] == ["perimeter-challenge=old"]
    assert problem["checks"]["http"]["passed"] is False and problem["checks"]["http"]["error"]
    assert target["challenge"]["dns"]["value"] in problem["how_to_fix"]
    dns.resolver.update({challenge: [("TXT", target["challenge"]["dns"]["value"])]})
    verified = body(api.call("POST", f"/v1/targets/{target['target_id']}/verify"))
    assert (verified["status"], verified["method"], verified["covers_subdomains"]) == ("verified", "dns", True)
    at = datetime.fromisoformat(verified["verified_at"])
    assert datetime.fromisoformat(verified["expires_at"]) == at + timedelta(days=7)
    assert body(api.call("GET", f"/v1/targets/{target['target_id']}")) == verified


def test_the_gate_rechecks_the_live_record_and_lapses_the_target_when_it_is_gone(
        api: Api, services: Services, dns: LocalDNSServer) -> None:
    target = body(api.call("POST", "/v1/targets", {"domain": SHOP}))
    dns.resolver.update({f"_perimeter-challenge.{SHOP}": [("TXT", target["challenge"]["dns"]["value"])]})
    api.call("POST", f"/v1/targets/{target['target_id']}/verify")
    assert services.targets.require_verified("acme", f"app.{SHOP}").target_id == target["target_id"]
    dns.resolver.update({f"_perimeter-challenge.{SHOP}": [("TXT", "removed")]})
    with pytest.raises(TargetNotVerified) as refused:
        services.targets.require_verified("acme", f"app.{SHOP}")
    assert refused.value.extra["verify_url"] == f"{BASE}/v1/targets/{target['target_id']}/verify"
    assert body(api.call("GET", f"/v1/targets/{target['target_id']}"))["status"] == "lapsed"


def test_another_tenants_target_answers_404_on_every_route(api: Api) -> None:
    target_id = body(api.call("POST", "/v1/targets", {"domain": SHOP}))["target_id"]
    for method, path in (("GET", f"/v1/targets/{target_id}"), ("POST", f"/v1/targets/{target_id}/verify"),
                         ("DELETE", f"/v1/targets/{target_id}")):
        response = api.call(method, path, tenant="rival")
        assert (response.status_code, body(response)["code"]) == (404, "target-not-found"), (method, path)
    assert body(api.call("GET", "/v1/targets", tenant="rival"))["items"] == []
    assert api.call("GET", f"/v1/targets/{target_id}").status_code == 200


def test_list_pages_and_delete_forgets(api: Api, dns: LocalDNSServer) -> None:
    names = [f"{n}.{SHOP}" for n in ("a", "b", "c")]
    dns.resolver.update({n: [("A", loopback_address())] for n in names})
    ids = [body(api.call("POST", "/v1/targets", {"domain": n}))["target_id"] for n in names]
    first = body(api.call("GET", "/v1/targets?limit=2"))
    rest = body(api.call("GET", f"/v1/targets?limit=2&cursor={first['next_cursor']}"))
    assert [t["target_id"] for t in first["items"] + rest["items"]] == ids[::-1] and rest["next_cursor"] is None
    assert api.call("GET", "/v1/targets?limit=0").status_code == 422
    assert api.call("DELETE", f"/v1/targets/{ids[0]}").status_code == 204
    assert api.call("GET", f"/v1/targets/{ids[0]}").status_code == 404
    assert api.call("DELETE", f"/v1/targets/{ids[0]}").status_code == 404


def test_register_honours_idempotency_key(api: Api) -> None:
    headers = {"Idempotency-Key": "register-shop-1"}
    first = api.call("POST", "/v1/targets", {"domain": SHOP}, headers=headers)
    replay = api.call("POST", "/v1/targets", {"domain": SHOP}, headers=headers)
    assert (first.status_code, replay.status_code) == (201, 201) and replay.body == first.body
    assert replay.headers["Idempotent-Replayed"] == "true"


def test_every_target_operation_declares_its_role_and_is_documented(api: Api) -> None:
    roles = {(op.method, op.path): op.role for op in OPERATIONS if op.path.startswith("/v1/targets")}
    assert roles == {
        ("POST", "/v1/targets"): Role.ADMIN, ("GET", "/v1/targets"): Role.VIEWER,
        ("GET", "/v1/targets/{target_id}"): Role.VIEWER, ("POST", "/v1/targets/{target_id}/verify"): Role.ADMIN,
        ("DELETE", "/v1/targets/{target_id}"): Role.ADMIN,
    }
    document = body(api.client.http.get("/v1/openapi.json"))
    assert set(document["paths"]["/v1/targets/{target_id}"]) == {"get", "delete"}
    assert {"200", "201", "422"} <= set(document["paths"]["/v1/targets"]["post"]["responses"])
