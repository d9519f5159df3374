"""Organization and team routes, each declared once in the operation table with the least role it needs.

`POST /v1/team/invitations/accept` is public: the invitation token is the credential. It is bounded
like every other body and rate-limited per source address.
"""

from __future__ import annotations

from chalice.app import Request, Response

from chalicelib.access.roles import Role
from chalicelib.api import org_views as views
from chalicelib.api.http import Ctx, Result, handle, parse_body, path_id
from chalicelib.api.operations import Routes
from chalicelib.bootstrap import get_services
from chalicelib.core.errors import PayloadTooLarge
from chalicelib.core.pagination import PageQuery
from chalicelib.organizations.models import AcceptInvitation, ChangeMemberRole, InviteMember, UpdateOrganization

_MEMBER = "/v1/team/members/{member_id}"
ACCEPTS_PER_MINUTE = 30  # per source address

route = Routes()


@route("GET", "/v1/organization", "getOrganization", "Read your organization's settings", 200,
       views.OrganizationView, errors=(404,), tags=("organization",), role=Role.VIEWER)
def get_organization(request: Request | None) -> Response:
    """GET /v1/organization."""
    def op(ctx: Ctx) -> Result:
        return Result(200, views.organization_view(ctx.services.organizations.get_organization(ctx.tenant_id)))
    return handle(request, op)


@route("PATCH", "/v1/organization", "updateOrganization",
       "Change your organization's settings (only the fields given; unknown fields are refused)", 200,
       views.OrganizationView, request=UpdateOrganization, errors=(400, 404, 409, 413, 415, 422),
       tags=("organization",), role=Role.OWNER)
def update_organization(request: Request | None) -> Response:
    """PATCH /v1/organization."""
    def op(ctx: Ctx) -> Result:
        org = ctx.services.organizations.update_organization(ctx.tenant_id, ctx.body(UpdateOrganization))
        return Result(200, views.organization_view(org))
    return handle(request, op)


@route("GET", "/v1/team/members", "listTeamMembers", "List team members, invited and active, oldest first",
       200, views.MemberList, query=PageQuery, errors=(400, 422), tags=("team",), role=Role.VIEWER)
def list_team_members(request: Request | None) -> Response:
    """GET /v1/team/members."""
    def op(ctx: Ctx) -> Result:
        q = ctx.query(PageQuery)
        items, cursor = ctx.services.organizations.list_members(ctx.tenant_id, limit=q.limit, cursor=q.cursor)
        return Result(200, views.MemberList(items=[views.member_view(m) for m in items], next_cursor=cursor))
    return handle(request, op)


@route("POST", "/v1/team/members", "inviteTeamMember",
       "Invite a member: the invitation token goes only to their email address", 201, views.MemberView,
       request=InviteMember, errors=(409, 413, 503), tags=("team",), role=Role.OWNER)
def invite_team_member(request: Request | None) -> Response:
    """POST /v1/team/members."""
    def op(ctx: Ctx) -> Result:
        member = ctx.services.organizations.invite(ctx.tenant_id, ctx.body(InviteMember),
                                                   invited_by=ctx.principal.key_id)
        location = f"{ctx.services.settings.public_base_url}/v1/team/members/{member.member_id}"
        return Result(201, views.member_view(member), {"Location": location})
    return handle(request, op)


@route("GET", _MEMBER, "getTeamMember", "Read a team member", 200, views.MemberView, errors=(404,),
       tags=("team",), role=Role.VIEWER)
def get_team_member(request: Request | None, member_id: str) -> Response:
    """GET /v1/team/members/{member_id}."""
    def op(ctx: Ctx) -> Result:
        member = ctx.services.organizations.get_member(ctx.tenant_id, path_id("member_id", member_id))
        return Result(200, views.member_view(member))
    return handle(request, op)


@route("PATCH", _MEMBER, "updateTeamMember", "Change a member's role (and their API keys' role at once)", 200,
       views.MemberView, request=ChangeMemberRole, errors=(400, 404, 409, 413, 415, 422), tags=("team",),
       role=Role.OWNER)
def update_team_member(request: Request | None, member_id: str) -> Response:
    """PATCH /v1/team/members/{member_id}; 409 `last-owner` for the last active owner's demotion."""
    def op(ctx: Ctx) -> Result:
        command = ctx.body(ChangeMemberRole)
        member = ctx.services.organizations.change_role(ctx.tenant_id, path_id("member_id", member_id),
                                                        command.role)
        return Result(200, views.member_view(member))
    return handle(request, op)


@route("DELETE", _MEMBER, "removeTeamMember",
       "Remove a member: their API keys are revoked and a pending invitation dies", 204, None,
       errors=(404, 409), tags=("team",), role=Role.OWNER)
def remove_team_member(request: Request | None, member_id: str) -> Response:
    """DELETE /v1/team/members/{member_id}; 409 `last-owner` for the last active owner."""
    def op(ctx: Ctx) -> Result:
        ctx.services.organizations.remove(ctx.tenant_id, path_id("member_id", member_id))
        return Result(204, None)
    return handle(request, op)


@route("POST", "/v1/team/invitations/accept", "acceptTeamInvitation",
       "Accept an invitation with its token (no API key needed): answers your first API key, once", 200,
       views.InvitationAccepted, request=AcceptInvitation, public=True, errors=(400, 404, 413, 415, 422, 429),
       tags=("team",))
def accept_team_invitation(request: Request | None) -> Response:
    """POST /v1/team/invitations/accept (public)."""
    def op(_: None) -> Result:
        assert request is not None  # handle() refuses a missing request first
        services = get_services()
        raw = request.raw_body or b""
        if len(raw) > services.settings.max_body_bytes:
            raise PayloadTooLarge(f"The body is {len(raw)} bytes; at most {services.settings.max_body_bytes}.")
        source = str(((request.context or {}).get("identity") or {}).get("sourceIp") or "unknown")
        services.rate_limiter.enforce(f"invitation-accept#{source}", ACCEPTS_PER_MINUTE)
        member, key, plaintext = services.organizations.accept(parse_body(AcceptInvitation, raw))
        return Result(200, views.invitation_accepted(member, key, plaintext))
    return handle(request, op, public=True)
