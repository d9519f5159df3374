"""What an organization and its team are: stored records and the commands that change them.

The organization is the tenant (same id): its `name` and `default_ready_threshold` are the tenant
item's `name` and `ready_threshold`; the rest of its profile lives beside it (docs/decisions.md).
"""

from __future__ import annotations

import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictInt, field_validator

from chalicelib.access.roles import Role

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_EMAIL = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@"
    r"(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$")
_PHONE = re.compile(r"^\+?[0-9][0-9 ()./-]{2,30}$")
MAX_URL_LENGTH = 2048


def _plain_text(value: str) -> str:
    """Stripped text without control characters; raises ValueError."""
    value = value.strip()
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters or line breaks")
    if not value:
        raise ValueError("must not be blank")
    return value


def _email(value: str) -> str:
    value = value.strip()
    if len(value) > 254 or not _EMAIL.match(value) or ".." in value:
        raise ValueError("must be an email address (name@domain)")
    return value


def _phone(value: str) -> str:
    value = value.strip()
    if not _PHONE.match(value):
        raise ValueError("must be a phone number: digits, spaces and + ( ) . / - only")
    return value


def _https_url(value: str) -> str:
    """An absolute https URL with a host and no credentials; raises ValueError."""
    value = value.strip()
    if len(value) > MAX_URL_LENGTH or _CONTROL.search(value) or " " in value:
        raise ValueError(f"must be an https URL of at most {MAX_URL_LENGTH} characters without spaces")
    try:
        parts = urlsplit(value)
        port = parts.port
    except ValueError:
        raise ValueError("must be an https URL") from None
    if parts.scheme != "https" or not parts.hostname or "@" in parts.netloc or port == 0:
        raise ValueError("must be an https URL with a host and no user name or password")
    return value


OrgName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_plain_text)]
Industry = Annotated[str, Field(min_length=1, max_length=80), AfterValidator(_plain_text)]
PersonName = Annotated[str, Field(min_length=1, max_length=100), AfterValidator(_plain_text)]
# The documented patterns are looser than the validators (which also bound labels and refuse `..`).
Email = Annotated[str, Field(min_length=3, max_length=254, examples=["ciso@example.com"],
                             json_schema_extra={"pattern": r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9-]+"
                                                           r"(\.[A-Za-z0-9-]+)+$"}), AfterValidator(_email)]
Phone = Annotated[str, Field(min_length=3, max_length=32, examples=["+61 2 9000 0000"]), AfterValidator(_phone)]
HttpsUrl = Annotated[str, Field(min_length=9, max_length=MAX_URL_LENGTH, examples=["https://partner.example"],
                                json_schema_extra={"pattern": r"^https://[^\s/@?#]+([/?#]\S*)?$"}),
                     AfterValidator(_https_url)]
Threshold = Annotated[StrictInt, Field(ge=0, le=100)]
InvitationToken = Annotated[str, Field(min_length=1, max_length=200)]


class Contact(BaseModel):
    """Who to talk to at the organization; every part optional."""

    model_config = ConfigDict(extra="forbid")
    name: PersonName | None = None
    email: Email | None = None
    phone: Phone | None = None


class OrganizationProfile(BaseModel):
    """The part of an organization stored beside the tenant item (`TENANT#<id>` / `ORGANIZATION`)."""

    model_config = ConfigDict(extra="forbid")
    industry: str | None = None
    contact: Contact = Field(default_factory=Contact)
    branding_url: str | None = None
    updated_at: datetime | None = None


class Organization(BaseModel):
    """The organization as the API shows it: the tenant's settings and its profile."""

    organization_id: str
    name: str
    industry: str | None
    contact: Contact
    default_ready_threshold: int
    branding_url: str | None
    created_at: datetime
    updated_at: datetime | None


_NOT_NULL = ("name", "default_ready_threshold")


class UpdateOrganization(BaseModel):
    """`PATCH /v1/organization`: the fields given replace the stored ones; null clears an optional one."""

    model_config = ConfigDict(extra="forbid")
    name: OrgName | None = None
    industry: Industry | None = Field(default=None, description="Free text, e.g. `technology` or `healthcare`.")
    contact: Contact | None = Field(default=None, description="Replaces the whole contact; null clears it.")
    default_ready_threshold: Threshold | None = Field(
        default=None, description="The score at which new scans are `ready` (existing scans keep theirs).")
    branding_url: HttpsUrl | None = Field(default=None, description="The partner's site (https); never fetched.")

    @field_validator(*_NOT_NULL, mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("may not be null")
        return value


class MemberStatus(StrEnum):
    INVITED = "invited"
    ACTIVE = "active"


class Member(BaseModel):
    """A person of the organization's team, invited or active. `invitation_hash` never leaves the service."""

    model_config = ConfigDict(extra="forbid")
    member_id: str
    tenant_id: str
    email: str
    name: str = ""
    role: Role
    status: MemberStatus
    invited_at: datetime
    invited_by: str | None = None  # the key id that sent the invitation
    invitation_expires_at: datetime | None = None
    invitation_hash: str | None = None
    joined_at: datetime | None = None


class InviteMember(BaseModel):
    """`POST /v1/team/members`."""

    model_config = ConfigDict(extra="forbid")
    email: Email
    role: Role
    name: PersonName | None = None


class ChangeMemberRole(BaseModel):
    """`PATCH /v1/team/members/{member_id}`."""

    model_config = ConfigDict(extra="forbid")
    role: Role


class AcceptInvitation(BaseModel):
    """`POST /v1/team/invitations/accept`: the token from the invitation email, and the name to show."""

    model_config = ConfigDict(extra="forbid")
    token: InvitationToken
    name: PersonName | None = None
