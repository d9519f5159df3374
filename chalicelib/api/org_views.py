"""Response models of the organization and team routes (the OpenAPI document is generated from them)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from chalicelib.access.auth import ApiKey
from chalicelib.access.roles import Role
from chalicelib.organizations.models import Contact, Member, MemberStatus, Organization


class OrganizationView(BaseModel):
    """The caller's organization: its settings as every member may read them."""

    organization_id: str = Field(description="The tenant id.")
    name: str
    industry: str | None
    contact: Contact
    default_ready_threshold: int = Field(description="New scans are `ready` at this score or above.")
    branding_url: str | None = Field(description="The partner's site (https), as given; never fetched.")
    created_at: datetime
    updated_at: datetime | None


class MemberView(BaseModel):
    """A team member; never their invitation token or keys."""

    member_id: str
    email: str
    name: str
    role: Role
    status: MemberStatus = Field(description="`invited` until the invitation is accepted, then `active`.")
    invited_at: datetime
    invitation_expires_at: datetime | None = Field(description="While invited: when the invitation lapses.")
    joined_at: datetime | None


class MemberList(BaseModel):
    """One page of members, oldest first."""

    items: list[MemberView]
    next_cursor: str | None


class InvitationAccepted(BaseModel):
    """An accepted invitation: the member, now active, and their first API key (shown only this once)."""

    organization_id: str
    member: MemberView
    key_id: str
    api_key: str = Field(description="Send as `Authorization: Bearer <api_key>`. Shown once: store it now.")


def organization_view(org: Organization) -> OrganizationView:
    """The API's view of an organization."""
    return OrganizationView(**org.model_dump())


def member_view(member: Member) -> MemberView:
    """The API's view of a member (nothing about the invitation token)."""
    return MemberView(member_id=member.member_id, email=member.email, name=member.name, role=member.role,
                      status=member.status, invited_at=member.invited_at,
                      invitation_expires_at=member.invitation_expires_at, joined_at=member.joined_at)


def invitation_accepted(member: Member, key: ApiKey, plaintext: str) -> InvitationAccepted:
    """The answer to an accepted invitation."""
    return InvitationAccepted(organization_id=member.tenant_id, member=member_view(member), key_id=key.key_id,
                              api_key=plaintext)
