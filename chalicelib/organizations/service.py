"""Organization settings and the team: members, invitations, roles (docs/decisions.md 2026-12-07).

Invitation tokens are `pmi_` + 256 random bits, mailed once and stored only as an HMAC under a
server key; accepting one makes the member active and issues their first API key (shown once).
A member's keys carry the member's role; changing the role changes the keys, removing the member
revokes them.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable
from datetime import datetime, timedelta

from chalicelib.access.auth import ApiKey, AuthService, Tenant
from chalicelib.access.roles import Role
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import Conflict, InvitationNotFound, MailUnavailable, MemberExists, MemberNotFound
from chalicelib.core.ids import new_id
from chalicelib.core.mail import Mailer
from chalicelib.core.pagination import decode_cursor, page_of
from chalicelib.core.store import ConditionFailed, KeyValueStore
from chalicelib.organizations.mail import invitation_mail
from chalicelib.organizations.models import (
    AcceptInvitation,
    Contact,
    InviteMember,
    Member,
    MemberStatus,
    Organization,
    OrganizationProfile,
    UpdateOrganization,
)
from chalicelib.organizations.team import MEMBER_PREFIX, TeamRecords, tenant_pk

log = logging.getLogger(__name__)
TOKEN_PREFIX = "pmi_"  # noqa: S105 (a prefix, not a secret)
_TOKEN_SHAPE = re.compile(r"^pmi_[A-Za-z0-9_-]{43}$")
PROFILE_SK = "ORGANIZATION"
_ATTEMPTS = 5


def generate_invitation_token() -> str:
    """A new invitation token: recognisable prefix + 256 random bits (base64url)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class OrganizationService:
    """Reads and changes an organization's settings and its team."""

    def __init__(self, store: KeyValueStore, auth: AuthService, mailer: Callable[[], Mailer], *,
                 token_key: bytes, invitation_days: int = 7, accept_url: str = "",
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._auth = auth
        self._mailer = mailer
        self._token_key = token_key
        self._invitation_days = invitation_days
        self._accept_url = accept_url
        self._clock = clock
        self.team = TeamRecords(store)

    def hash_token(self, token: str) -> str:
        """The keyed hash under which an invitation token is stored."""
        return hmac.new(self._token_key, token.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    # -- the organization
    def get_organization(self, tenant_id: str) -> Organization:
        """The organization (the tenant and its profile); raises NotFound."""
        return _organization(self._auth.get_tenant(tenant_id), self._profile(tenant_id)[0])

    def update_organization(self, tenant_id: str, changes: UpdateOrganization) -> Organization:
        """Apply the fields given (validated already); raises NotFound, Conflict after repeated races."""
        given = changes.model_fields_set
        profile = self._update_profile(tenant_id, changes) if given else self._profile(tenant_id)[0]
        tenant = self._auth.get_tenant(tenant_id)
        if given & {"name", "default_ready_threshold"}:
            for _ in range(_ATTEMPTS):
                try:
                    tenant = self._auth.update_tenant(tenant_id, name=changes.name,
                                                      ready_threshold=changes.default_ready_threshold)
                    break
                except ConditionFailed:
                    continue
            else:
                raise Conflict("The organization changed concurrently; try again.")
        return _organization(tenant, profile)

    def _profile(self, tenant_id: str) -> tuple[OrganizationProfile, int]:
        record = self._store.get(tenant_pk(tenant_id), PROFILE_SK)
        return (OrganizationProfile.model_validate(record.data), record.version) if record else \
            (OrganizationProfile(), 0)

    def _update_profile(self, tenant_id: str, changes: UpdateOrganization) -> OrganizationProfile:
        self._auth.get_tenant(tenant_id)  # NotFound before anything is written
        given = changes.model_fields_set
        for _ in range(_ATTEMPTS):
            profile, version = self._profile(tenant_id)
            update: dict[str, object] = {"updated_at": self._clock()}
            if "industry" in given:
                update["industry"] = changes.industry
            if "contact" in given:
                update["contact"] = changes.contact or Contact()
            if "branding_url" in given:
                update["branding_url"] = changes.branding_url
            profile = profile.model_copy(update=update)
            try:
                self._store.put(tenant_pk(tenant_id), PROFILE_SK, profile.model_dump(mode="json"),
                                expect_version=version)
                return profile
            except ConditionFailed:
                continue
        raise Conflict("The organization changed concurrently; try again.")

    # -- members
    def list_members(self, tenant_id: str, *, limit: int, cursor: str | None = None) -> tuple[list[Member], str | None]:
        """A page of members, oldest first; raises BadRequest for a cursor that is not this listing's."""
        after = decode_cursor(cursor, MEMBER_PREFIX) if cursor else None
        rows = self.team.members(tenant_id, after=after, limit=limit + 1)
        page, next_cursor = page_of(rows, limit, lambda r: r.sk)
        return [Member.model_validate(r.data) for r in page], next_cursor

    def get_member(self, tenant_id: str, member_id: str) -> Member:
        """One member of the tenant; raises MemberNotFound (also for another tenant's id)."""
        found = self.team.member(tenant_id, member_id)
        if found is None:
            raise MemberNotFound(f"No team member {member_id}.")
        return found[0]

    def is_active_member(self, tenant_id: str, member_id: str) -> Role | None:
        """The role of an active member of the tenant, None for anyone else (invited, removed, unknown)."""
        found = self.team.member(tenant_id, member_id)
        return found[0].role if found and found[0].status == MemberStatus.ACTIVE else None

    def invite(self, tenant_id: str, command: InviteMember, *, invited_by: str | None = None) -> Member:
        """Create an invited member and mail them a token; raises MemberExists, MailUnavailable, NotFound.

        Nothing stays behind when the mail cannot be sent. An address whose invitation expired unused
        may be invited again (the stale member is replaced).
        """
        tenant = self._auth.get_tenant(tenant_id)
        now = self._clock()
        member = Member(member_id=new_id("mem"), tenant_id=tenant_id, email=command.email, name=command.name or "",
                        role=command.role, status=MemberStatus.INVITED, invited_at=now, invited_by=invited_by,
                        invitation_expires_at=now + timedelta(days=self._invitation_days))
        self._claim_address(tenant_id, member, now)
        token = generate_invitation_token()
        digest, expires_at = self.hash_token(token), now + timedelta(days=self._invitation_days)
        member = member.model_copy(update={"invitation_hash": digest})
        try:
            self.team.put_member(member, 0)
            self.team.add_invitation(digest, member, expires_at)
            self._mailer().send(invitation_mail(
                to=member.email, organization=tenant.name, role=member.role.value, token=token,
                accept_url=self._accept_url, expires_at=expires_at))
        except Exception as exc:
            self._discard(member)
            if isinstance(exc, MailUnavailable | ConditionFailed):
                raise MailUnavailable("The invitation could not be sent; nothing was changed.") from exc
            raise
        log.info("member invited: %s as %s", member.member_id, member.role.value)
        return member

    def _claim_address(self, tenant_id: str, member: Member, now: datetime) -> None:
        """Reserve the member's address; raises MemberExists while another member holds it."""
        for _ in range(_ATTEMPTS):
            try:
                self.team.claim_email(tenant_id, member.email, member.member_id)
                return
            except ConditionFailed:
                pass
            claim = self.team.email_claim(tenant_id, member.email)
            if claim is None:
                continue
            holder = self.team.member(tenant_id, str(claim.data.get("member_id")))
            if holder is not None and not _expired_invitation(holder[0], now):
                raise MemberExists(f"{member.email} is already {holder[0].status.value} in this organization.")
            if holder is not None:
                self._discard(holder[0], holder[1])
            else:  # a claim whose member is gone (an interrupted removal): free it under its version
                try:
                    self.team.release_email(tenant_id, member.email, expect_version=claim.version)
                except ConditionFailed:
                    continue
        raise Conflict("The team changed concurrently; try again.", code="team-busy")

    def _discard(self, member: Member, version: int | None = None) -> None:
        """Remove an invited member, its invitation and its address claim (absent parts are fine)."""
        try:
            if version is not None:
                self.team.delete_member(member, version)
            else:
                self._store.delete(tenant_pk(member.tenant_id), MEMBER_PREFIX + member.member_id)
        except ConditionFailed:
            return  # it changed meanwhile (accepted, say): leave it be
        if member.invitation_hash:
            self.team.drop_invitation(member.invitation_hash)
        claim = self.team.email_claim(member.tenant_id, member.email)
        if claim is not None and claim.data.get("member_id") == member.member_id:
            with contextlib.suppress(ConditionFailed):
                self.team.release_email(member.tenant_id, member.email, expect_version=claim.version)

    def accept(self, command: AcceptInvitation) -> tuple[Member, ApiKey, str]:
        """Turn an invitation into an active member with a first API key: (member, key record, plaintext key).

        Raises InvitationNotFound alike for an unknown, malformed, expired, used or revoked token.
        """
        well_formed = bool(_TOKEN_SHAPE.match(command.token))
        digest = self.hash_token(command.token if well_formed else "\x00" * 47)
        record = self.team.invitation(digest) if well_formed else None
        stored = str(record.data.get("token_hash", "")) if record else "0" * 64
        matches = hmac.compare_digest(stored, digest)
        if not (well_formed and record is not None and matches):
            raise InvitationNotFound("The invitation is unknown, expired or already used.")
        tenant_id, member_id = str(record.data["tenant_id"]), str(record.data["member_id"])
        if datetime.fromisoformat(str(record.data["expires_at"])) <= self._clock():
            raise InvitationNotFound("The invitation is unknown, expired or already used.")
        try:
            self.team.drop_invitation(digest, expect_version=record.version)  # one acceptance wins
        except ConditionFailed:
            raise InvitationNotFound("The invitation is unknown, expired or already used.") from None
        member = self._activate(tenant_id, member_id, digest, command.name)
        key, plaintext = self._auth.issue_key(tenant_id, name=member.name or member.email, role=member.role,
                                              member_id=member.member_id)
        current = self.team.member(tenant_id, member_id)
        if current is None or current[0].status != MemberStatus.ACTIVE:  # removed meanwhile
            self._auth.revoke_key(tenant_id, key.key_id)
            raise InvitationNotFound("The invitation is unknown, expired or already used.")
        if current[0].role != member.role:  # role changed meanwhile: the key follows
            self._auth.set_member_role(tenant_id, member_id, current[0].role)
            key = key.model_copy(update={"role": current[0].role})
        log.info("invitation accepted: %s", member_id)
        return current[0], key, plaintext

    def _activate(self, tenant_id: str, member_id: str, digest: str, name: str | None) -> Member:
        for _ in range(_ATTEMPTS):
            found = self.team.member(tenant_id, member_id)
            if found is None or found[0].status != MemberStatus.INVITED or found[0].invitation_hash is None \
                    or not hmac.compare_digest(found[0].invitation_hash, digest):
                raise InvitationNotFound("The invitation is unknown, expired or already used.")
            member, version = found
            active = member.model_copy(update={
                "status": MemberStatus.ACTIVE, "joined_at": self._clock(), "invitation_hash": None,
                "invitation_expires_at": None, "name": name or member.name})
            try:
                self.team.put_member(active, version)
            except ConditionFailed:
                continue
            if active.role == Role.OWNER:
                self.team.add_owner(tenant_id)
            return active
        raise Conflict("The team changed concurrently; try again.", code="team-busy")

    def change_role(self, tenant_id: str, member_id: str, role: Role) -> Member:
        """Give a member (and every live key of theirs) a role; raises MemberNotFound, LastOwner, Conflict."""
        for _ in range(_ATTEMPTS):
            member, version = self._found(tenant_id, member_id)
            active = member.status == MemberStatus.ACTIVE
            demoting = active and member.role == Role.OWNER and role != Role.OWNER
            promoting = active and member.role != Role.OWNER and role == Role.OWNER
            if demoting:
                self.team.remove_owner(tenant_id)
            changed = member.model_copy(update={"role": role})
            try:
                if member.role != role:
                    self.team.put_member(changed, version)
            except ConditionFailed:
                if demoting:
                    self.team.add_owner(tenant_id)
                continue
            if promoting:
                self.team.add_owner(tenant_id)
            if active:
                self._auth.set_member_role(tenant_id, member_id, role)
            log.info("member %s now %s", member_id, role.value)
            return changed
        raise Conflict("The team changed concurrently; try again.", code="team-busy")

    def remove(self, tenant_id: str, member_id: str) -> int:
        """Remove a member, revoke their keys and any pending invitation; returns the keys revoked.

        Raises MemberNotFound, LastOwner, Conflict.
        """
        for _ in range(_ATTEMPTS):
            member, version = self._found(tenant_id, member_id)
            owner = member.status == MemberStatus.ACTIVE and member.role == Role.OWNER
            if owner:
                self.team.remove_owner(tenant_id)
            try:
                self.team.delete_member(member, version)
            except ConditionFailed:
                if owner:
                    self.team.add_owner(tenant_id)
                continue
            self._discard(member)  # the invitation and the address claim; the member is gone already
            revoked = self._auth.revoke_member_keys(tenant_id, member_id)
            log.info("member %s removed, %d keys revoked", member_id, revoked)
            return revoked
        raise Conflict("The team changed concurrently; try again.", code="team-busy")

    def _found(self, tenant_id: str, member_id: str) -> tuple[Member, int]:
        found = self.team.member(tenant_id, member_id)
        if found is None:
            raise MemberNotFound(f"No team member {member_id}.")
        return found


def _expired_invitation(member: Member, now: datetime) -> bool:
    return member.status == MemberStatus.INVITED and (
        member.invitation_expires_at is None or member.invitation_expires_at <= now)


def _organization(tenant: Tenant, profile: OrganizationProfile) -> Organization:
    return Organization(organization_id=tenant.tenant_id, name=tenant.name, industry=profile.industry,
                        contact=profile.contact, default_ready_threshold=tenant.ready_threshold,
                        branding_url=profile.branding_url, created_at=tenant.created_at,
                        updated_at=profile.updated_at)
