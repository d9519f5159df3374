"""Organization and team routes through Chalice's test client, on DynamoDB under moto, mail in memory."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.access.roles import Role
from chalicelib.api.table import OPERATIONS
from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.aws.stepfunctions import StepFunctionsWorkflow
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.settings import Settings
from chalicelib.local.provision import Resources
from chalicelib.organizations.mail import MemoryMailer
from tests.conftest import PEPPER, PUBLIC_DOMAINS
from tests.support.fakes import FakeResolver

TOKEN = re.compile(r"pmi_[A-Za-z0-9_-]{43}")
ACCEPT = "/v1/team/invitations/accept"


@pytest.fixture
def wired(aws: dict[str, Any], resources: Resources) -> Iterator[Services]:
    settings = Settings.from_env({}, key_pepper=PEPPER, table_name=resources.table,
                                 state_machine_arn=resources.state_machine_arn, rate_limit_per_minute=1000,
                                 webhook_queue_url=resources.queue_url, webhook_dlq_url=resources.dlq_url)
    services = Services(settings, store=DynamoDBStore(resources.table, aws["dynamodb"]),
                        workflow=StepFunctionsWorkflow(resources.state_machine_arn, aws["stepfunctions"]),
                        resolver=FakeResolver(PUBLIC_DOMAINS))
    services.__dict__["mailer"] = MemoryMailer()
    set_services(services)
    services.auth.create_tenant("acme", "Acme")
    services.auth.create_tenant("rival", "Rival")
    yield services
    set_services(None)


class Api:
    def __init__(self, client: Client, services: Services, aws: dict[str, Any]) -> None:
        self.client = client
        self.services = services
        self.aws = aws
        self.keys = {t: services.auth.issue_key(t)[1] for t in ("acme", "rival")}

    def call(self, method: str, path: str, body: Any = None, *, key: str | None = "acme",
             raw: bytes | None = None) -> tuple[int, Any, dict[str, str]]:
        headers = {"Content-Type": "application/json"}
        if key is not None:
            headers["Authorization"] = f"Bearer {self.keys.get(key, key)}"
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        response = getattr(self.client.http, method.lower())(path, headers=headers, body=data)
        return response.status_code, json.loads(response.body) if response.body else None, response.headers

    @property
    def mailer(self) -> MemoryMailer:
        return self.services.__dict__["mailer"]  # type: ignore[no-any-return]

    def invite(self, email: str, role: str = "member") -> tuple[dict[str, Any], str]:
        status, body, _ = self.call("POST", "/v1/team/members", {"email": email, "role": role})
        assert status == 201, body
        found = TOKEN.search(self.mailer.sent[-1].text)
        assert found is not None
        return body, found.group(0)

    def join(self, email: str, role: str = "member") -> tuple[str, str]:
        _, token = self.invite(email, role)
        status, body, _ = self.call("POST", ACCEPT, {"token": token}, key=None)
        assert status == 200, body
        return body["member"]["member_id"], body["api_key"]


@pytest.fixture
def api(wired: Services, aws: dict[str, Any]) -> Iterator[Api]:
    with Client(app) as client:
        yield Api(client, wired, aws)


def _table(api: Api) -> list[Any]:
    """Every item of the table but the rate-limit windows each request counts in and the audit trail (a refused
    request is an event too)."""
    items = api.aws["dynamodb"].scan(TableName=api.services.settings.table_name)["Items"]
    return sorted(json.dumps(i, sort_keys=True) for i in items
                  if not i["pk"]["S"].startswith("RATE#") and not i["sk"]["S"].startswith("AUDIT#"))


def test_every_organization_and_team_operation_names_its_role() -> None:
    ops = {(o.method, o.path): (o.role, o.public) for o in OPERATIONS if set(o.tags) & {"organization", "team"}}
    assert ops == {
        ("GET", "/v1/organization"): (Role.VIEWER, False),
        ("PATCH", "/v1/organization"): (Role.OWNER, False),
        ("GET", "/v1/team/members"): (Role.VIEWER, False),
        ("POST", "/v1/team/members"): (Role.OWNER, False),
        ("GET", "/v1/team/members/{member_id}"): (Role.VIEWER, False),
        ("PATCH", "/v1/team/members/{member_id}"): (Role.OWNER, False),
        ("DELETE", "/v1/team/members/{member_id}"): (Role.OWNER, False),
        ("POST", ACCEPT): (None, True),
    }


def test_the_organization_reads_and_patches_and_new_scans_take_its_threshold(api: Api) -> None:
    status, org, _ = api.call("GET", "/v1/organization")
    assert status == 200 and org["organization_id"] == "acme" and org["default_ready_threshold"] == 65
    status, org, _ = api.call("PATCH", "/v1/organization", {
        "name": "Acme Cyber", "industry": "insurance", "default_ready_threshold": 75,
        "contact": {"name": "Ada", "email": "ada@acme.example", "phone": "+1 555 0100"},
        "branding_url": "https://acme.example"})
    assert status == 200 and org["name"] == "Acme Cyber" and org["contact"]["email"] == "ada@acme.example"
    assert api.call("GET", "/v1/organization")[1] == org
    status, scan, _ = api.call("POST", "/v1/scans", {"domain": "example.com"})
    assert status == 202
    assert api.call("GET", f"/v1/scans/{scan['scan_token']}")[1]["ready_threshold"] == 75
    assert api.call("GET", "/v1/organization", key="rival")[1]["name"] == "Rival"


@pytest.mark.parametrize(("method", "path", "raw"), [
    ("PATCH", "/v1/organization", b'{"name": "Acme", "plan": "gold", "seats": 2}'),
    ("PATCH", "/v1/organization", b'{"branding_url": "http://acme.example"}'),
    ("PATCH", "/v1/organization", b'{"default_ready_threshold": 101}'),
    ("PATCH", "/v1/organization", b'{"name": '),
    ("PATCH", "/v1/organization", b'["name"]'),
    ("POST", "/v1/team/members", b'{"email": "x@example.com", "role": "superuser"}'),
    ("POST", "/v1/team/members", b'{"email": "not an address", "role": "member"}'),
    ("POST", "/v1/team/members", b'{"email": "x@example.com", "role": "member", "admin": true}'),
    ("POST", "/v1/team/members", b''),
    ("POST", ACCEPT, b'{"token": ""}'),
    ("POST", ACCEPT, b'{"token": "pmi_x", "extra": 1}'),
])
def test_bad_input_answers_a_problem_and_changes_nothing(api: Api, method: str, path: str, raw: bytes) -> None:
    before = (_table(api), len(api.mailer.sent))
    response = getattr(api.client.http, method.lower())(
        path, body=raw, headers={"Content-Type": "application/json", "Authorization": f"Bearer {api.keys['acme']}"})
    body = json.loads(response.body)
    assert response.status_code in (400, 422) and response.headers["Content-Type"] == "application/problem+json"
    assert body["code"] and body["status"] == response.status_code
    assert (_table(api), len(api.mailer.sent)) == before


def test_unknown_organization_fields_are_listed_by_name(api: Api) -> None:
    status, body, _ = api.call("PATCH", "/v1/organization", {"plan": "gold", "seats": 2})
    assert status == 422 and sorted(e["field"] for e in body["errors"]) == ["plan", "seats"]


def test_invite_accept_change_and_remove(api: Api) -> None:
    member, token = api.invite("ann@example.com", "viewer")
    assert member["status"] == "invited" and "invitation_hash" not in member and token not in json.dumps(member)
    assert api.call("GET", "/v1/team/members")[1]["items"] == [member]
    status, accepted, _ = api.call("POST", ACCEPT, {"token": token, "name": "Ann"}, key=None)
    assert status == 200 and accepted["member"]["status"] == "active" and accepted["member"]["name"] == "Ann"
    member_id, key = accepted["member"]["member_id"], accepted["api_key"]
    principal = api.services.auth.authenticate(f"Bearer {key}", None)
    assert (principal.role, principal.member_id) == (Role.VIEWER, member_id)
    assert api.call("GET", "/v1/organization", key=key)[0] == 200
    status, changed, _ = api.call("PATCH", f"/v1/team/members/{member_id}", {"role": "admin"})
    assert status == 200 and changed["role"] == "admin"
    assert api.services.auth.authenticate(f"Bearer {key}", None).role == Role.ADMIN
    assert api.call("DELETE", f"/v1/team/members/{member_id}")[0] == 204
    status, problem, _ = api.call("GET", "/v1/organization", key=key)
    assert status == 401 and problem["code"] == "unauthorized"
    assert api.call("GET", f"/v1/team/members/{member_id}")[1]["code"] == "member-not-found"


def test_a_second_invitation_of_an_address_is_a_conflict(api: Api) -> None:
    api.invite("bob@example.com")
    status, body, _ = api.call("POST", "/v1/team/members", {"email": "Bob@Example.com", "role": "admin"})
    assert status == 409 and body["code"] == "member-exists" and len(api.mailer.sent) == 1


def test_a_used_or_unknown_token_is_the_same_not_found(api: Api) -> None:
    _, token = api.invite("cat@example.com")
    assert api.call("POST", ACCEPT, {"token": token}, key=None)[0] == 200
    answers = [api.call("POST", ACCEPT, {"token": t}, key=None) for t in (token, "pmi_" + "B" * 43, "nonsense")]
    assert {(s, b["code"], b["detail"]) for s, b, _ in answers} == {
        (404, "invitation-not-found", "The invitation is unknown, expired or already used.")}


def test_the_last_owner_stays(api: Api) -> None:
    owner_id, _ = api.join("dee@example.com", "owner")
    for method, body in (("PATCH", {"role": "viewer"}), ("DELETE", None)):
        status, problem, _ = api.call(method, f"/v1/team/members/{owner_id}", body)
        assert status == 409 and problem["code"] == "last-owner"
    assert api.services.organizations.is_active_member("acme", owner_id) == Role.OWNER


def test_another_tenants_member_is_not_found(api: Api) -> None:
    member_id, key = api.join("eve@example.com", "admin")
    for method, body in (("GET", None), ("PATCH", {"role": "owner"}), ("DELETE", None)):
        status, problem, _ = api.call(method, f"/v1/team/members/{member_id}", body, key="rival")
        assert status == 404 and problem["code"] == "member-not-found"
    assert api.call("GET", "/v1/team/members", key="rival")[1]["items"] == []
    assert api.services.auth.authenticate(f"Bearer {key}", None).role == Role.ADMIN


def test_members_page_with_a_cursor_and_refuse_a_foreign_one(api: Api) -> None:
    emails = [f"p{i}@example.com" for i in range(3)]
    for email in emails:
        api.invite(email)
    first = api.call("GET", "/v1/team/members?limit=2")[1]
    second = api.call("GET", f"/v1/team/members?limit=2&cursor={first['next_cursor']}")[1]
    assert [m["email"] for m in first["items"] + second["items"]] == emails and second["next_cursor"] is None
    status, problem, _ = api.call("GET", "/v1/team/members?cursor=eyJhZnRlciI6ICJTQ0FOI3gifQ")
    assert status == 400 and problem["code"] == "invalid-cursor"


def test_the_document_describes_the_team_routes(api: Api) -> None:
    doc = api.call("GET", "/v1/openapi.json", key=None)[1]
    assert doc["paths"][ACCEPT]["post"].get("security") == []
    assert set(doc["paths"]["/v1/team/members/{member_id}"]) == {"get", "patch", "delete"}
    assert "409" in doc["paths"]["/v1/team/members"]["post"]["responses"]
