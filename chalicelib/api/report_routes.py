"""Route bodies of reports and branding: parse input, call one ReportService function, return a model."""

from __future__ import annotations

from typing import Literal

from chalice.app import Request, Response
from pydantic import BaseModel, ConfigDict

from chalicelib.api import views
from chalicelib.api.http import Ctx, Result, handle
from chalicelib.core.errors import InvalidReportFormat, Unprocessable
from chalicelib.reports.images import MAX_LOGO_BYTES
from chalicelib.reports.service import BrandingService, BrandingUpdate, StoredBranding

# A logo of MAX_LOGO_BYTES is 4/3 larger in base64, plus the rest of the document.
BRANDING_MAX_BODY = MAX_LOGO_BYTES * 4 // 3 + 16 * 1024


class ReportQuery(BaseModel):
    """`GET /v1/scans/{token}/report` query."""

    model_config = ConfigDict(extra="ignore")
    format: Literal["pdf", "json"] = "pdf"


def wants_json(accept: str | None) -> bool:
    """True when the Accept header names application/json with a non-zero quality."""
    for part in (accept or "").split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() != "application/json":
            continue
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    return float(value) > 0
                except ValueError:
                    return False
        return True
    return False


def get_report(request: Request | None) -> Response:
    """GET /v1/scans/{token}/report: 302 to a presigned URL, or the link as JSON."""
    def op(ctx: Ctx) -> Result:
        try:
            fmt = ctx.query(ReportQuery).format
        except Unprocessable:
            raise InvalidReportFormat("format must be pdf or json.") from None
        link = ctx.services.reports.link(ctx.tenant_id, ctx.path_id("token"), fmt)
        if wants_json(ctx.request.headers.get("accept")):
            return Result(200, views.ReportLinkView(url=link.url, expires_at=link.expires_at, sha256=link.sha256,
                                                    format=fmt))
        return Result(302, None, {"Location": link.url, "Cache-Control": "no-store", "Vary": "Accept"})
    return handle(request, op)


def branding_view(service: BrandingService, stored: StoredBranding) -> views.BrandingView:
    """The partner-facing branding, the logo as a short-lived link."""
    logo = None
    link = service.logo_link(stored)
    if stored.logo is not None and link is not None:
        logo = views.LogoView(url=link.url, expires_at=link.expires_at, content_type=stored.logo.content_type,
                              width=stored.logo.width, height=stored.logo.height, size=stored.logo.size,
                              sha256=stored.logo.sha256)
    return views.BrandingView(
        display_name=stored.display_name, primary_color=stored.primary_color, accent_color=stored.accent_color,
        contact=views.ContactView.model_validate(stored.contact.model_dump()), logo=logo,
        updated_at=stored.updated_at,
    )


def put_branding(request: Request | None) -> Response:
    """PUT /v1/branding."""
    def op(ctx: Ctx) -> Result:
        service = ctx.services.reports.branding
        return Result(200, branding_view(service, service.put(ctx.tenant_id, ctx.body(BrandingUpdate))))
    return handle(request, op, max_body=BRANDING_MAX_BODY)


def get_branding(request: Request | None) -> Response:
    """GET /v1/branding."""
    def op(ctx: Ctx) -> Result:
        service = ctx.services.reports.branding
        return Result(200, branding_view(service, service.get(ctx.tenant_id)))
    return handle(request, op)
