"""CyperSecurity's organization and team endpoints against the client written from its documentation.

Chalice's test client, DynamoDB under moto, mail in memory: the documented bodies (`name`/`industry`,
`email`/`role`), the shapes, offset pagination, the least roles of the /v1 routes, the nested error
(validation, a duplicate address, mail down), tenant isolation, and that /v1 sees the same records.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from functools import partial
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.access.roles import Role
from chalicelib.api.dialects import cypersecurity
from chalicelib.api.operations import required_role
from chalicelib.api.org_routes import route as org_route
from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.aws.stepfunctions import StepFunctionsWorkflow
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.errors import MailUnavailable
from chalicelib.core.mail import OutgoingMail
from chalicelib.core.settings import Settings
from chalicelib.local.provision import Resources
from chalicelib.organizations.mail import MemoryMailer
from tests.conftest import PEPPER, PUBLIC_DOMAINS
from tests.contract.clients.cypersecurity import CyperSecurityClient, CyperSecurityError
from tests.contract.clients.wire import chalice_transport
from tests.integration.conftest import aws, resources  # noqa: F401 (fixtures)
from tests.support.fakes import FakeResolver

BASE = "https://perimeter.test/compat/cypersecurity/v1"
TOKEN = re.compile(r"pmi_[A-Za-z0-9_-]{43}")
MEMBER_FIELDS = {"id", "email", "name", "role", "status", "invited_at", "invitation_expires_at", "joined_at"}
NATIVE_OF = {"cyperGetOrganization": "getOrganization", "cyperUpdateOrganization": "updateOrganization",
             "cyperListTeamMembers": "listTeamMembers", "cyperInviteTeamMember": "inviteTeamMember"}


class DownMailer:
    """A mail service that refuses every message."""

    def send(self, message: OutgoingMail) -> None:
        raise MailUnavailable("the mail service is down")


@pytest.fixture
def wired(aws: dict[str, Any], resources: Resources) -> Iterator[Services]:  # noqa: F811
    settings = Settings.from_env({}, key_pepper=PEPPER, table_name=resources.table,
                                 state_machine_arn=resources.state_machine_arn, rate_limit_per_minute=1000,
                                 webhook_queue_url=resources.queue_url, webhook_dlq_url=resources.dlq_url,
                                 public_base_url="https://perimeter.test")
    services = Services(settings, store=DynamoDBStore(resources.table, aws["dynamodb"]),
                        workflow=StepFunctionsWorkflow(resources.state_machine_arn, aws["stepfunctions"]),
                        resolver=FakeResolver(PUBLIC_DOMAINS))
    services.__dict__["mailer"] = MemoryMailer()
    set_services(services)
    for tenant in ("acme", "rival"):
        services.auth.create_tenant(tenant, tenant.title())
    yield services
    set_services(None)


@pytest.fixture
def http(wired: Services) -> Iterator[Client]:
    with Client(app) as client:
        yield client


def client_for(wired: Services, http: Client, tenant: str = "acme", role: Role = Role.OWNER) -> CyperSecurityClient:
    return CyperSecurityClient(BASE, wired.auth.issue_key(tenant, name=role.value, role=role)[1],
                               chalice_transport(http))


@pytest.fixture
def cyper(wired: Services, http: Client) -> CyperSecurityClient:
    return client_for(wired, http)


def mailer(services: Services) -> MemoryMailer:
    return services.__dict__["mailer"]  # type: ignore[no-any-return]


def refusal(call: Any) -> CyperSecurityError:
    with pytest.raises(CyperSecurityError) as refused:
        call()
    assert refused.value.headers["Content-Type"] == "application/json"
    return refused.value


# -- organization -------------------------------------------------------------------------------------------------
def test_the_documented_update_changes_the_organization_v1_reads(cyper: CyperSecurityClient, http: Client) -> None:
    before = cyper.get_organization()
    assert set(before) == {"id", "name", "industry", "contact", "default_ready_threshold", "branding_url",
                           "created_at", "updated_at"}
    assert (before["id"], before["name"], before["industry"], before["updated_at"]) == ("acme", "Acme", None, None)
    assert before["created_at"].endswith("Z") and len(before["created_at"]) == 20

    updated = cyper.update_organization("Acme Security", "technology")
    assert (updated["name"], updated["industry"]) == ("Acme Security", "technology")
    assert updated["updated_at"].endswith("Z") and cyper.get_organization() == updated
    native = json.loads(http.http.get("/v1/organization", headers={"X-API-Key": cyper.api_key}).body)
    assert (native["organization_id"], native["name"], native["industry"]) == ("acme", "Acme Security", "technology")


def test_perimeters_other_settings_patch_too_and_only_the_fields_given_change(cyper: CyperSecurityClient) -> None:
    cyper.update_organization("Acme Security", "technology")
    changed = cyper._call("PATCH", "/organization", {"default_ready_threshold": 80, "branding_url": "https://acme.example",
                                                     "contact": {"email": "ciso@acme.example"}}).json()
    assert (changed["name"], changed["industry"], changed["default_ready_threshold"]) == (
        "Acme Security", "technology", 80)
    assert changed["branding_url"] == "https://acme.example"
    assert changed["contact"] == {"name": None, "email": "ciso@acme.example", "phone": None}
    cleared = cyper._call("PATCH", "/organization", {"industry": None}).json()
    assert cleared["industry"] is None and cleared["default_ready_threshold"] == 80


@pytest.mark.parametrize(("body", "field"), [
    ({"name": "Acme", "plan": "gold"}, "plan"),
    ({"name": ""}, "name"),
    ({"name": None}, "name"),
    ({"industry": "tech\nnology"}, "industry"),
    ({"default_ready_threshold": 101}, "default_ready_threshold"),
    ({"branding_url": "http://acme.example"}, "branding_url"),
])
def test_bad_organization_changes_are_invalid_request_naming_the_field(cyper: CyperSecurityClient,
                                                                       body: dict[str, Any], field: str) -> None:
    error = refusal(lambda: cyper._call("PATCH", "/organization", body))
    assert (error.status, error.code, error.details) == (422, "invalid_request", {"field": field})
    assert cyper.get_organization()["name"] == "Acme"


# -- team ---------------------------------------------------------------------------------------------------------
def test_an_invitation_is_mailed_listed_and_once_accepted_active(cyper: CyperSecurityClient, wired: Services,
                                                                http: Client) -> None:
    invited = cyper.invite_member("teammate@example.com", "member")
    assert cyper.last is not None and cyper.last.status == 201
    assert set(invited) == MEMBER_FIELDS and invited["id"].startswith("mem")
    assert (invited["email"], invited["role"], invited["status"], invited["joined_at"]) == (
        "teammate@example.com", "member", "invited", None)
    assert invited["invited_at"].endswith("Z") and invited["invitation_expires_at"] > invited["invited_at"]
    [mail] = mailer(wired).sent
    token = TOKEN.search(mail.text)
    assert mail.to == "teammate@example.com" and token is not None
    assert token.group(0) not in json.dumps(invited) and "token" not in json.dumps(invited)
    assert cyper.list_team_members() == {"members": [invited], "total": 1, "limit": 20, "offset": 0}

    accepted = http.http.post("/v1/team/invitations/accept", headers={"Content-Type": "application/json"},
                              body=json.dumps({"token": token.group(0), "name": "Tea Mate"}))
    assert accepted.status_code == 200
    [member] = cyper.list_team_members()["members"]
    assert (member["id"], member["status"], member["name"], member["invitation_expires_at"]) == (
        invited["id"], "active", "Tea Mate", None)
    assert member["joined_at"].endswith("Z")


def test_members_page_by_offset_with_the_total_oldest_first(cyper: CyperSecurityClient) -> None:
    emails = [f"p{i}@example.com" for i in range(5)]
    for email in emails:
        cyper.invite_member(email, "viewer")
    first = cyper.list_team_members(limit=2)
    assert (first["total"], first["limit"], first["offset"]) == (5, 2, 0)
    pages = first["members"] + cyper.list_team_members(limit=2, offset=2)["members"]
    pages += cyper.list_team_members(limit=2, offset=4)["members"]
    assert [m["email"] for m in pages] == emails
    assert cyper.list_team_members(offset=5) == {"members": [], "total": 5, "limit": 20, "offset": 5}
    for query, field in (({"limit": 101}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset")):
        error = refusal(partial(cyper._call, "GET", "/team/members", query=query))
        assert (error.status, error.code, error.details) == (422, "invalid_request", {"field": field})


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "not an address", "role": "member"}, "email"),
    ({"email": "x@example.com", "role": "superuser"}, "role"),
    ({"email": "x@example.com"}, "role"),
    ({"role": "member"}, "email"),
    ({"email": "x@example.com", "role": "member", "admin": True}, "admin"),
])
def test_bad_invitations_are_invalid_request_naming_the_field_and_send_nothing(
        cyper: CyperSecurityClient, wired: Services, body: dict[str, Any], field: str) -> None:
    error = refusal(lambda: cyper._call("POST", "/team/members", body))
    assert (error.status, error.code, error.details) == (422, "invalid_request", {"field": field})
    assert mailer(wired).sent == [] and cyper.list_team_members()["total"] == 0


def test_a_second_invitation_of_an_address_is_refused_on_the_email_field(cyper: CyperSecurityClient,
                                                                         wired: Services) -> None:
    cyper.invite_member("bob@example.com")
    error = refusal(lambda: cyper.invite_member("Bob@Example.com", "admin"))
    assert (error.status, error.code, error.details) == (409, "invalid_request", {"field": "email"})
    assert "already" in error.message and len(mailer(wired).sent) == 1


def test_an_invitation_that_cannot_be_mailed_leaves_nothing(cyper: CyperSecurityClient, wired: Services) -> None:
    wired.__dict__["mailer"] = DownMailer()
    error = refusal(lambda: cyper.invite_member("ann@example.com"))
    assert (error.status, error.code) == (503, "internal_error") and "nothing was changed" in error.message
    wired.__dict__["mailer"] = MemoryMailer()
    assert cyper.list_team_members()["total"] == 0
    assert cyper.invite_member("ann@example.com")["status"] == "invited"


def test_each_organization_sees_only_its_own_organization_and_team(cyper: CyperSecurityClient, wired: Services,
                                                                   http: Client) -> None:
    rival = client_for(wired, http, "rival")
    ours = cyper.invite_member("shared@example.com")
    theirs = rival.invite_member("shared@example.com")  # one address may belong to two organizations
    assert ours["id"] != theirs["id"]
    rival.update_organization("Rival Security", "insurance")
    assert (cyper.get_organization()["id"], cyper.get_organization()["name"]) == ("acme", "Acme")
    assert [m["id"] for m in cyper.list_team_members()["members"]] == [ours["id"]]
    assert [m["id"] for m in rival.list_team_members()["members"]] == [theirs["id"]]


# -- roles --------------------------------------------------------------------------------------------------------
def test_each_operation_needs_exactly_the_least_role_of_its_v1_route() -> None:
    native = {op.operation_id: required_role(op) for op in org_route.operations}
    ours = {op.operation_id: required_role(op) for op in cypersecurity.DIALECT.routes.operations
            if op.operation_id in NATIVE_OF}
    assert ours == {op_id: native[v1] for op_id, v1 in NATIVE_OF.items()}
    assert ours == {"cyperGetOrganization": Role.VIEWER, "cyperUpdateOrganization": Role.OWNER,
                    "cyperListTeamMembers": Role.VIEWER, "cyperInviteTeamMember": Role.OWNER}


@pytest.mark.parametrize("role", [Role.VIEWER, Role.MEMBER, Role.ADMIN])
def test_below_owner_reads_but_changes_nothing_in_the_vendor_error(wired: Services, http: Client,
                                                                   role: Role) -> None:
    caller = client_for(wired, http, role=role)
    assert caller.get_organization()["id"] == "acme" and caller.list_team_members()["total"] == 0
    for call in (lambda: caller.update_organization("Taken Over", "crime"),
                 lambda: caller.invite_member("friend@example.com", "owner")):
        error = refusal(call)
        assert (error.status, error.code, error.details) == (403, "invalid_request", {"required_role": "owner"})
        assert f"the {role.value} role" in error.message
    assert caller.get_organization()["name"] == "Acme" and mailer(wired).sent == []


# -- the document -------------------------------------------------------------------------------------------------
def test_the_document_describes_the_account_operations_with_their_roles(http: Client, wired: Services) -> None:
    document = json.loads(http.http.get("/compat/cypersecurity/v1/openapi.json").body)
    organization, members = document["paths"]["/organization"], document["paths"]["/team/members"]
    assert set(organization) == {"get", "patch"} and set(members) == {"get", "post"}
    assert "/team/members/{member_id}" not in document["paths"]  # not documented by CyperSecurity: /v1 only
    roles = {(path, method): item["x-perimeter-role"] for path, methods in (("/organization", organization),
                                                                           ("/team/members", members))
             for method, item in methods.items()}
    assert roles == {("/organization", "get"): "viewer", ("/organization", "patch"): "owner",
                     ("/team/members", "get"): "viewer", ("/team/members", "post"): "owner"}
    schemas = document["components"]["schemas"]
    assert {"name", "industry"} <= set(schemas["UpdateOrganizationIn"]["properties"])
    assert set(schemas["InviteMemberIn"]["required"]) == {"email", "role"}
    assert set(schemas["MemberOut"]["properties"]) == MEMBER_FIELDS
    assert "409" in members["post"]["responses"] and "503" in members["post"]["responses"]
    assert members["post"]["responses"]["201"]["content"]["application/json"]["schema"]["$ref"].endswith("/MemberOut")
