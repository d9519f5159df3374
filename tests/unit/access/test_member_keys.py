"""Keys that belong to members: they follow the member's role, die with the member, and never outrank the minter."""

from __future__ import annotations

import pytest

from chalicelib.access.auth import AuthService, Principal
from chalicelib.access.roles import Role
from chalicelib.admin import run
from chalicelib.bootstrap import Services
from chalicelib.core.errors import Forbidden, NotFound, Unauthorized, Unprocessable

MEMBERS = {("acme", "mem_alice"): Role.MEMBER, ("acme", "mem_bob"): Role.ADMIN}


@pytest.fixture
def auth(services: Services, tenant: str) -> AuthService:
    services.member_roles = lambda tenant_id, member_id: MEMBERS.get((tenant_id, member_id))
    return services.auth


def _caller(auth: AuthService, role: Role, tenant_id: str = "acme") -> Principal:
    _, key = auth.issue_key(tenant_id, role=role)
    return auth.authenticate(f"Bearer {key}", None)


def test_a_members_keys_follow_a_role_change_at_once(auth: AuthService) -> None:
    _, first = auth.issue_key("acme", role=Role.MEMBER, member_id="mem_alice")
    _, second = auth.issue_key("acme", role=Role.MEMBER, member_id="mem_alice")
    revoked, _ = auth.issue_key("acme", role=Role.MEMBER, member_id="mem_alice")
    auth.revoke_key("acme", revoked.key_id)
    _, other = auth.issue_key("acme", role=Role.MEMBER, member_id="mem_carol")

    assert auth.set_member_role("acme", "mem_alice", Role.VIEWER) == 2  # the revoked key is left alone
    assert auth.authenticate(f"Bearer {first}", None).role == Role.VIEWER
    assert auth.authenticate(f"Bearer {second}", None).role == Role.VIEWER
    assert auth.authenticate(f"Bearer {other}", None).role == Role.MEMBER
    listed = {k.key_id: k.role for k in auth.keys_of_member("acme", "mem_alice")}
    assert sorted(listed.values()) == sorted([Role.VIEWER, Role.VIEWER, Role.MEMBER])
    assert auth.set_member_role("acme", "mem_alice", Role.VIEWER) == 0  # already there


def test_a_members_keys_die_with_the_member(auth: AuthService) -> None:
    _, alice = auth.issue_key("acme", role=Role.MEMBER, member_id="mem_alice")
    _, service = auth.issue_key("acme", role=Role.MEMBER)
    assert auth.revoke_member_keys("acme", "mem_alice") == 1
    with pytest.raises(Unauthorized):
        auth.authenticate(f"Bearer {alice}", None)
    assert auth.authenticate(f"Bearer {service}", None).member_id is None
    assert all(k.revoked_at is not None for k in auth.keys_of_member("acme", "mem_alice"))
    assert auth.revoke_member_keys("acme", "mem_alice") == 0


def test_a_role_change_never_revives_a_revoked_key(auth: AuthService) -> None:
    record, key = auth.issue_key("acme", role=Role.MEMBER, member_id="mem_alice")
    auth.revoke_key("acme", record.key_id)
    auth.set_member_role("acme", "mem_alice", Role.OWNER)
    with pytest.raises(Unauthorized):
        auth.authenticate(f"Bearer {key}", None)


def test_member_operations_stay_in_their_tenant(auth: AuthService) -> None:
    _, rival_key = auth.issue_key("rival", role=Role.MEMBER, member_id="mem_alice")
    assert auth.set_member_role("acme", "mem_alice", Role.VIEWER) == 0
    assert auth.revoke_member_keys("acme", "mem_alice") == 0
    assert auth.authenticate(f"Bearer {rival_key}", None).role == Role.MEMBER
    assert auth.keys_of_member("acme", "mem_alice") == []


def test_minting_above_ones_own_role_is_refused(auth: AuthService) -> None:
    admin = _caller(auth, Role.ADMIN)
    with pytest.raises(Forbidden):
        auth.mint_key(admin, name="too strong", role=Role.OWNER)
    record, key = auth.mint_key(admin, name="peer", role=Role.ADMIN)
    assert auth.authenticate(None, key).role == Role.ADMIN and record.member_id is None


def test_a_members_key_carries_the_members_role(auth: AuthService) -> None:
    owner, member = _caller(auth, Role.OWNER), _caller(auth, Role.MEMBER)
    record, _ = auth.mint_key(owner, name="alice's laptop", role=None, member_id="mem_alice")
    assert record.role == Role.MEMBER and record.member_id == "mem_alice"
    with pytest.raises(Unprocessable) as mismatch:
        auth.mint_key(owner, name="x", role=Role.ADMIN, member_id="mem_alice")
    assert mismatch.value.code == "role-mismatch"
    with pytest.raises(Forbidden):  # bob is an admin: a member-role caller cannot mint his key
        auth.mint_key(member, name="x", role=None, member_id="mem_bob")


def test_a_member_key_needs_an_active_member_and_a_service_key_a_role(auth: AuthService) -> None:
    owner = _caller(auth, Role.OWNER)
    with pytest.raises(Unprocessable) as unknown:
        auth.mint_key(owner, name="x", role=Role.VIEWER, member_id="mem_gone")
    assert unknown.value.code == "member-not-found"
    rival_owner = _caller(auth, Role.OWNER, "rival")
    with pytest.raises(Unprocessable):  # alice is acme's member, not rival's
        auth.mint_key(rival_owner, name="x", role=None, member_id="mem_alice")
    with pytest.raises(Unprocessable) as roleless:
        auth.mint_key(owner, name="x", role=None)
    assert roleless.value.code == "role-required"


def test_without_organizations_wired_nobody_is_a_member(services: Services, tenant: str) -> None:
    owner = _caller(services.auth, Role.OWNER)
    with pytest.raises(Unprocessable):
        services.auth.mint_key(owner, name="x", role=None, member_id="mem_alice")


def test_revoking_a_stronger_key_or_another_tenants_key_is_refused(auth: AuthService) -> None:
    admin = _caller(auth, Role.ADMIN)
    owner_key, _ = auth.issue_key("acme", role=Role.OWNER)
    rival_key, _ = auth.issue_key("rival", role=Role.VIEWER)
    with pytest.raises(Forbidden):
        auth.revoke_key_as(admin, owner_key.key_id)
    with pytest.raises(NotFound):
        auth.revoke_key_as(admin, rival_key.key_id)
    viewer_key, _ = auth.issue_key("acme", role=Role.VIEWER)
    assert auth.revoke_key_as(admin, viewer_key.key_id).revoked_at is not None


def test_keys_page_newest_first_without_crossing_tenants(auth: AuthService) -> None:
    issued = [auth.issue_key("acme", name=f"k{i}", role=Role.VIEWER)[0].key_id for i in range(5)]
    auth.issue_key("rival", role=Role.VIEWER)
    first, cursor = auth.page_keys("acme", limit=3)
    second, last = auth.page_keys("acme", limit=3, cursor=cursor)
    assert [k.key_id for k in first + second] == issued[::-1] and last is None


def test_the_cli_issues_keys_with_a_role(services: Services, tenant: str) -> None:
    out = run(["issue-key", "acme", "--name", "ci", "--role", "viewer"], services)
    assert out["role"] == "viewer"
    assert services.auth.authenticate(None, str(out["api_key"])).role == Role.VIEWER
    default = run(["issue-key", "acme"], services)
    assert services.auth.authenticate(None, str(default["api_key"])).role == Role.OWNER
    with pytest.raises(SystemExit):
        run(["issue-key", "acme", "--role", "superuser"], services)
