"""The team on fakes: invitations, acceptance, roles that follow to keys, removal, the last owner."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.access.roles import Role
from chalicelib.core.errors import (
    InvitationNotFound,
    LastOwner,
    MailUnavailable,
    MemberExists,
    MemberNotFound,
    Unauthorized,
)
from chalicelib.core.mail import OutgoingMail
from chalicelib.organizations.models import AcceptInvitation, InviteMember, MemberStatus
from chalicelib.organizations.team import OWNERS_SK
from tests.support.memory import MemoryStore
from tests.unit.organizations.harness import ACCEPT_URL, TOKEN, Harness, build


@pytest.fixture
def h() -> Harness:
    return build()


def _join(h: Harness, email: str, role: Role) -> tuple[str, str]:
    """Invite and accept; returns (member id, API key)."""
    _, token = h.invite(email, role)
    member, _, key = h.orgs.accept(AcceptInvitation(token=token))
    return member.member_id, key


def test_an_invitation_mails_the_token_once_and_stores_only_its_keyed_hash(h: Harness) -> None:
    member, token = h.invite("Ann@Example.com", Role.ADMIN)
    assert member.status == MemberStatus.INVITED and member.role == Role.ADMIN
    assert member.invitation_expires_at == h.clock.now + timedelta(days=7)
    [mail] = h.mailer.sent
    assert mail.to == "Ann@Example.com" and "Acme Insurance" in mail.subject
    assert token in mail.text and token in mail.html and ACCEPT_URL in mail.text and "admin" in mail.text
    stored = json.dumps([v[0] for v in h.snapshot().values()])
    assert token not in stored and h.orgs.hash_token(token) in stored
    assert len(token) - len("pmi_") == 43  # 256 bits, base64url


def test_tokens_are_unique_across_invitations(h: Harness) -> None:
    tokens = {h.invite(f"p{i}@example.com")[1] for i in range(50)}
    assert len(tokens) == 50


def test_an_address_already_invited_or_active_is_refused_whatever_its_case(h: Harness) -> None:
    h.invite("bob@example.com")
    _join(h, "carol@example.com", Role.VIEWER)
    before = h.snapshot()
    for email in ("BOB@example.com", "carol@EXAMPLE.com"):
        with pytest.raises(MemberExists):
            h.orgs.invite("acme", InviteMember(email=email, role=Role.MEMBER))
    assert h.snapshot() == before and len(h.mailer.sent) == 2


def test_the_same_address_may_belong_to_two_organizations(h: Harness) -> None:
    h.invite("dan@example.com", tenant_id="acme")
    member, _ = h.invite("dan@example.com", tenant_id="rival")
    assert member.tenant_id == "rival" and "Rival Cover" in h.mailer.sent[-1].subject


def test_accepting_activates_the_member_and_issues_a_key_with_their_role(h: Harness) -> None:
    invited, token = h.invite("erin@example.com", Role.VIEWER)
    h.clock.advance(hours=1)
    member, key, plaintext = h.orgs.accept(AcceptInvitation(token=token, name="Erin"))
    assert member.member_id == invited.member_id and member.status == MemberStatus.ACTIVE
    assert member.name == "Erin" and member.joined_at == h.clock.now and member.invitation_hash is None
    principal = h.auth.authenticate(f"Bearer {plaintext}", None)
    assert (principal.tenant.tenant_id, principal.role, principal.member_id) == ("acme", Role.VIEWER,
                                                                                 member.member_id)
    assert key.member_id == member.member_id and plaintext not in json.dumps([v[0] for v in h.snapshot().values()])
    assert h.orgs.is_active_member("acme", member.member_id) == Role.VIEWER


@pytest.mark.parametrize("case", ["used", "expired", "unknown", "malformed", "revoked"])
def test_every_unusable_token_answers_the_same_not_found(h: Harness, case: str) -> None:
    member, token = h.invite("fay@example.com")
    if case == "used":
        h.orgs.accept(AcceptInvitation(token=token))
    elif case == "expired":
        h.clock.advance(days=7)
    elif case == "unknown":
        token = "pmi_" + "A" * 43
    elif case == "malformed":
        token = token[:-1] + "!"
    else:
        h.orgs.remove("acme", member.member_id)
    before = h.snapshot()
    with pytest.raises(InvitationNotFound) as caught:
        h.orgs.accept(AcceptInvitation(token=token))
    assert caught.value.code == "invitation-not-found" and caught.value.status == 404
    assert h.snapshot() == before


def test_an_address_whose_invitation_lapsed_can_be_invited_again(h: Harness) -> None:
    first, old_token = h.invite("gus@example.com")
    h.clock.advance(days=8)
    second, new_token = h.invite("gus@example.com")
    assert second.member_id != first.member_id
    with pytest.raises(MemberNotFound):
        h.orgs.get_member("acme", first.member_id)
    with pytest.raises(InvitationNotFound):
        h.orgs.accept(AcceptInvitation(token=old_token))
    assert h.orgs.accept(AcceptInvitation(token=new_token))[0].member_id == second.member_id


class FailingMailer:
    def send(self, message: OutgoingMail) -> None:
        raise MailUnavailable("down")


def test_an_invitation_that_cannot_be_mailed_leaves_nothing_behind() -> None:
    h = build(mailer=FailingMailer())
    before = h.snapshot()
    with pytest.raises(MailUnavailable):
        h.orgs.invite("acme", InviteMember(email="hal@example.com", role=Role.MEMBER))
    assert h.snapshot() == before
    assert h.orgs.list_members("acme", limit=10) == ([], None)


def test_a_new_role_reaches_the_members_keys_at_once(h: Harness) -> None:
    member_id, key = _join(h, "ivy@example.com", Role.MEMBER)
    _, second = h.auth.issue_key("acme", role=Role.MEMBER, member_id=member_id)
    _, service_key = h.auth.issue_key("acme", role=Role.MEMBER)  # the organization's, nobody's
    changed = h.orgs.change_role("acme", member_id, Role.ADMIN)
    assert changed.role == Role.ADMIN and h.orgs.is_active_member("acme", member_id) == Role.ADMIN
    assert [h.auth.authenticate(f"Bearer {k}", None).role for k in (key, second, service_key)] == [
        Role.ADMIN, Role.ADMIN, Role.MEMBER]
    assert {k.role for k in h.auth.list_keys("acme") if k.member_id == member_id} == {Role.ADMIN}


def test_an_invited_members_role_changes_before_they_accept(h: Harness) -> None:
    member, token = h.invite("jo@example.com", Role.VIEWER)
    h.orgs.change_role("acme", member.member_id, Role.ADMIN)
    _, key, plaintext = h.orgs.accept(AcceptInvitation(token=token))
    assert key.role == Role.ADMIN and h.auth.authenticate(None, plaintext).role == Role.ADMIN


def test_removing_a_member_revokes_their_keys_and_frees_the_address(h: Harness) -> None:
    member_id, key = _join(h, "kim@example.com", Role.ADMIN)
    assert h.orgs.remove("acme", member_id) == 1
    with pytest.raises(Unauthorized):
        h.auth.authenticate(f"Bearer {key}", None)
    assert h.orgs.is_active_member("acme", member_id) is None
    assert h.invite("kim@example.com")[0].member_id != member_id


def test_removing_an_invited_member_kills_the_invitation(h: Harness) -> None:
    member, token = h.invite("lee@example.com")
    assert h.orgs.remove("acme", member.member_id) == 0
    with pytest.raises(InvitationNotFound):
        h.orgs.accept(AcceptInvitation(token=token))


def test_the_last_active_owner_can_be_neither_demoted_nor_removed(h: Harness) -> None:
    owner_id, _ = _join(h, "max@example.com", Role.OWNER)
    before = h.snapshot()
    with pytest.raises(LastOwner) as demoted:
        h.orgs.change_role("acme", owner_id, Role.ADMIN)
    with pytest.raises(LastOwner):
        h.orgs.remove("acme", owner_id)
    assert demoted.value.code == "last-owner" and demoted.value.status == 409
    assert h.snapshot() == before
    second_id, _ = _join(h, "ned@example.com", Role.OWNER)
    h.orgs.change_role("acme", owner_id, Role.MEMBER)
    with pytest.raises(LastOwner):
        h.orgs.remove("acme", second_id)
    h.orgs.change_role("acme", owner_id, Role.OWNER)
    h.orgs.remove("acme", second_id)
    assert h.orgs.team.active_owners("acme") == 1


def test_an_invited_owner_does_not_count_until_they_accept(h: Harness) -> None:
    owner_id, _ = _join(h, "oli@example.com", Role.OWNER)
    h.invite("pat@example.com", Role.OWNER)
    with pytest.raises(LastOwner):
        h.orgs.remove("acme", owner_id)


class InterleavingStore(MemoryStore):
    """Runs `interleave` once, just before the first conditional write of the owner count."""

    def __init__(self) -> None:
        super().__init__()
        self.interleave: Any = None

    def put(self, pk: str, sk: str, data: dict[str, Any], **kwargs: Any) -> Any:
        if sk == OWNERS_SK and self.interleave is not None and kwargs.get("expect_version") is not None:
            run, self.interleave = self.interleave, None
            run()
        return super().put(pk, sk, data, **kwargs)


def test_two_owners_demoted_at_the_same_moment_leave_one_owner() -> None:
    store = InterleavingStore()
    h = build(store)
    first, _ = _join(h, "quin@example.com", Role.OWNER)
    second, _ = _join(h, "rae@example.com", Role.OWNER)
    store.interleave = lambda: h.orgs.change_role("acme", second, Role.ADMIN)  # wins the race
    with pytest.raises(LastOwner):
        h.orgs.change_role("acme", first, Role.ADMIN)
    roles = {m.member_id: m.role for m in h.orgs.list_members("acme", limit=10)[0]}
    assert roles == {first: Role.OWNER, second: Role.ADMIN} and h.orgs.team.active_owners("acme") == 1


def test_two_acceptances_of_one_token_issue_one_key() -> None:
    store = InterleavingStore()
    h = build(store)
    _, token = h.invite("sam@example.com")
    original_delete = store.delete
    calls: list[str] = []

    def delete(pk: str, sk: str, *, expect_version: int | None = None) -> None:
        if sk == "INVITATION" and not calls:  # the other acceptance claims the invitation first
            calls.append("raced")
            h.orgs.accept(AcceptInvitation(token=token))
        original_delete(pk, sk, expect_version=expect_version)

    store.delete = delete  # type: ignore[method-assign]
    with pytest.raises(InvitationNotFound):
        h.orgs.accept(AcceptInvitation(token=token))
    assert calls == ["raced"] and len(h.auth.list_keys("acme")) == 1


def test_another_tenants_member_is_not_found(h: Harness) -> None:
    member_id, _ = _join(h, "tia@example.com", Role.MEMBER)
    before = h.snapshot()
    for call in (lambda: h.orgs.get_member("rival", member_id),
                 lambda: h.orgs.change_role("rival", member_id, Role.OWNER),
                 lambda: h.orgs.remove("rival", member_id)):
        with pytest.raises(MemberNotFound):
            call()
    assert h.snapshot() == before and h.orgs.is_active_member("rival", member_id) is None


def test_members_list_in_pages_oldest_first(h: Harness) -> None:
    ids = [h.invite(f"u{i}@example.com")[0].member_id for i in range(5)]
    page, cursor = h.orgs.list_members("acme", limit=2)
    seen = [m.member_id for m in page]
    while cursor:
        page, cursor = h.orgs.list_members("acme", limit=2, cursor=cursor)
        seen += [m.member_id for m in page]
    assert seen == ids
    assert TOKEN.search(json.dumps([m.model_dump(mode="json") for m in page])) is None
