"""CyperSecurity's organization and team endpoints: `GET/PATCH /organization`, `GET/POST /team/members`.

Each calls the organization service exactly as its /v1 route does (`chalicelib.api.org_routes`) and
needs the same least role, read from that route's declaration; only the shapes are CyperSecurity's
(`id`, `2024-12-31T10:00:00Z` times, offset pagination with `total`, the nested error). CyperSecurity
documents no way to change or remove a member: that stays on `/v1/team/members/{member_id}`.
"""

from __future__ import annotations

from chalice.app import Request, Response

from chalicelib.access.roles import Role
from chalicelib.api import org_routes
from chalicelib.api.dialects import cypersecurity_models as m
from chalicelib.api.dialects.cypersecurity import DIALECT, iso, route
from chalicelib.api.http import Ctx, Result
from chalicelib.api.operations import required_role
from chalicelib.organizations.models import Member, Organization

MEMBERS_PAGE = 100  # members read per service call while counting `total`
MAX_MEMBERS = 10_000  # members counted for `total` and offsets (oldest first)
_NATIVE = {op.operation_id: op for op in org_routes.route.operations}


def native_role(operation_id: str) -> Role:
    """The least role of the /v1 operation `operation_id` (so the dialect can never drift from it); raises
    KeyError for an operation /v1 does not have."""
    return required_role(_NATIVE[operation_id])


def organization_out(org: Organization) -> m.OrganizationOut:
    """The organization in CyperSecurity's shape."""
    return m.OrganizationOut(id=org.organization_id, name=org.name, industry=org.industry, contact=org.contact,
                             default_ready_threshold=org.default_ready_threshold, branding_url=org.branding_url,
                             created_at=iso(org.created_at) or "", updated_at=iso(org.updated_at))


def member_out(member: Member) -> m.MemberOut:
    """A member in CyperSecurity's shape (nothing about the invitation token)."""
    return m.MemberOut(id=member.member_id, email=member.email, name=member.name, role=member.role,
                       status=member.status.value, invited_at=iso(member.invited_at) or "",
                       invitation_expires_at=iso(member.invitation_expires_at), joined_at=iso(member.joined_at))


def all_members(ctx: Ctx) -> list[Member]:
    """The tenant's members oldest first, up to MAX_MEMBERS (offset pagination needs the count)."""
    found: list[Member] = []
    cursor: str | None = None
    while len(found) < MAX_MEMBERS:
        page, cursor = ctx.services.organizations.list_members(ctx.tenant_id, limit=MEMBERS_PAGE, cursor=cursor)
        found.extend(page)
        if cursor is None:
            break
    return found[:MAX_MEMBERS]


@route("GET", DIALECT.path("/organization"), "cyperGetOrganization", "Your organization's settings", 200,
       m.OrganizationOut, errors=(404,), tags=("account",), role=native_role("getOrganization"))
def cypersecurity_get_organization(request: Request | None) -> Response:
    """GET /organization."""
    def op(ctx: Ctx) -> Result:
        return Result(200, organization_out(ctx.services.organizations.get_organization(ctx.tenant_id)))
    return DIALECT.handle(request, op)


@route("PATCH", DIALECT.path("/organization"), "cyperUpdateOrganization",
       "Change your organization's name, industry and other settings (only the fields given)", 200,
       m.OrganizationOut, request=m.UpdateOrganizationIn, errors=(400, 404, 409, 413, 415, 422), tags=("account",),
       role=native_role("updateOrganization"))
def cypersecurity_update_organization(request: Request | None) -> Response:
    """PATCH /organization."""
    def op(ctx: Ctx) -> Result:
        org = ctx.services.organizations.update_organization(ctx.tenant_id, ctx.body(m.UpdateOrganizationIn))
        return Result(200, organization_out(org))
    return DIALECT.handle(request, op)


@route("GET", DIALECT.path("/team/members"), "cyperListTeamMembers",
       "List team members, invited and active (offset pagination, oldest first)", 200, m.MemberListOut,
       query=m.ListMembersQuery, errors=(422,), tags=("account",), role=native_role("listTeamMembers"))
def cypersecurity_list_team_members(request: Request | None) -> Response:
    """GET /team/members?limit&offset."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(m.ListMembersQuery)
        members = all_members(ctx)
        page = [member_out(member) for member in members[q.offset:q.offset + q.limit]]
        return Result(200, m.MemberListOut(members=page, total=len(members), limit=q.limit, offset=q.offset))
    return DIALECT.handle(request, op)


@route("POST", DIALECT.path("/team/members"), "cyperInviteTeamMember",
       "Invite a member: the invitation token goes only to their email address", 201, m.MemberOut,
       request=m.InviteMemberIn, errors=(400, 409, 413, 415, 422, 503), tags=("account",),
       role=native_role("inviteTeamMember"))
def cypersecurity_invite_team_member(request: Request | None) -> Response:
    """POST /team/members; 409 when the address is already a member or invited."""
    def op(ctx: Ctx) -> Result:
        member = ctx.services.organizations.invite(ctx.tenant_id, ctx.body(m.InviteMemberIn),
                                                   invited_by=ctx.principal.key_id)
        return Result(201, member_out(member))
    return DIALECT.handle(request, op)
