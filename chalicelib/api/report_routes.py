"""Report, download and branding routes, each declared once in the operation table.

`GET /v1/downloads/{token}` serves the embedded stack's report, evidence and logo downloads: the
link is the capability (like an S3 presigned URL): no API key, but the token's HMAC and expiry are
verified before a byte is read. In AWS the object store hands out S3 presigned URLs instead, so
that route answers 404 there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from chalice.app import Request, Response
from pydantic import BaseModel, ConfigDict

from chalicelib.api import views
from chalicelib.api.http import Ctx, Result, handle, path_id, problem, respond
from chalicelib.api.operations import Routes
from chalicelib.bootstrap import get_services
from chalicelib.core.errors import InvalidReportFormat, NotFound, PerimeterError, Unprocessable
from chalicelib.core.objects import ObjectMissing
from chalicelib.reports.images import MAX_LOGO_BYTES
from chalicelib.reports.service import BrandingService, BrandingUpdate, StoredBranding
from chalicelib.storage.files import FileObjectStore, safe_filename

log = logging.getLogger(__name__)

# A logo of MAX_LOGO_BYTES is 4/3 larger in base64, plus the rest of the document.
BRANDING_MAX_BODY = MAX_LOGO_BYTES * 4 // 3 + 16 * 1024

DOWNLOAD_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",  # the URL is a capability: never leak it onward
}

route = Routes()


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


@route("GET", "/v1/scans/{token}/report", "getScanReport",
       "Download a complete scan's report: 302 to a signed link valid 15 minutes at most (an S3 presigned URL in "
       "AWS, the API's own /v1/downloads link on the embedded stack)", 302,
       views.ReportLinkView, query=ReportQuery, errors=(404, 409, 422), tags=("scans",))
def get_report(request: Request | None, token: str) -> Response:
    """GET /v1/scans/{token}/report: 302 to a presigned URL, or the link as JSON."""
    def op(ctx: Ctx) -> Result:
        try:
            fmt = ctx.query(ReportQuery).format
        except Unprocessable:
            raise InvalidReportFormat("format must be pdf or json.") from None
        link = ctx.services.reports.link(ctx.tenant_id, path_id("token", token), fmt)
        if wants_json(ctx.request.headers.get("accept")):
            return Result(200, views.ReportLinkView(url=link.url, expires_at=link.expires_at, sha256=link.sha256,
                                                    format=fmt))
        return Result(302, None, {"Location": link.url, "Cache-Control": "no-store", "Vary": "Accept"})
    return handle(request, op)


@route("GET", "/v1/scans/{token}/sbom", "getScanSbom",
       "Download a complete container scan's CycloneDX SBOM: 302 to a signed link valid 15 minutes at most", 302,
       views.SbomLinkView, errors=(404, 409), tags=("scans",))
def get_sbom(request: Request | None, token: str) -> Response:
    """GET /v1/scans/{token}/sbom: 302 to a presigned URL, or the link as JSON."""
    def op(ctx: Ctx) -> Result:
        link = ctx.services.reports.sbom_link(ctx.tenant_id, path_id("token", token))
        if wants_json(ctx.request.headers.get("accept")):
            return Result(200, views.SbomLinkView(url=link.url, expires_at=link.expires_at, sha256=link.sha256))
        return Result(302, None, {"Location": link.url, "Cache-Control": "no-store", "Vary": "Accept"})
    return handle(request, op)


@route("GET", "/v1/downloads/{token}", "download",
       "Download a report, evidence or logo through a signed, expiring link (embedded stack; the link is the "
       "credential)", 200, None, public=True, errors=(403, 404), tags=("scans",), media="*/*", path_max=4096)
def download(request: Request | None, token: str, clock: Callable[[], float] = time.time) -> Response:
    """Verify the link's signature and expiry, then answer the object's bytes with its content type.

    Errors are problem+json: 403 `link-invalid` / `link-expired`, 404 `not-found` (no such object, or
    an object store that is not file-backed). Raises RuntimeError when called outside a request.
    """
    if request is None:
        raise RuntimeError("download() needs the current request")
    try:
        objects = get_services().objects
        if not isinstance(objects, FileObjectStore):
            raise NotFound("Downloads are served by the object store's own links on this deployment.")
        key, filename = objects.verify_link(token, clock())
        try:
            stored = objects.read(key)
        except ObjectMissing:
            raise NotFound("The linked object no longer exists.") from None
    except PerimeterError as error:
        body, extra = problem(error, (request.context or {}).get("path"))
        return respond(error.status, body, extra)
    except Exception:
        log.exception("unhandled error on a download")
        body, extra = problem(PerimeterError("An unexpected error occurred; it has been logged."))
        return respond(500, body, extra)
    disposition = f'attachment; filename="{safe_filename(filename)}"' if filename else "inline"
    return Response(body=stored.body, status_code=200, headers={
        "Content-Type": stored.content_type, "Content-Disposition": disposition, **DOWNLOAD_HEADERS})


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


@route("PUT", "/v1/branding", "putBranding", "Set the co-branding of reports (name, colours, contact, logo)", 200,
       views.BrandingView, request=BrandingUpdate, errors=(400, 413, 422), tags=("branding",))
def put_branding(request: Request | None) -> Response:
    """PUT /v1/branding."""
    def op(ctx: Ctx) -> Result:
        service = ctx.services.reports.branding
        return Result(200, branding_view(service, service.put(ctx.tenant_id, ctx.body(BrandingUpdate))))
    return handle(request, op, max_body=BRANDING_MAX_BODY)


@route("GET", "/v1/branding", "getBranding", "Read the co-branding of reports", 200, views.BrandingView,
       errors=(404,), tags=("branding",))
def get_branding(request: Request | None) -> Response:
    """GET /v1/branding."""
    def op(ctx: Ctx) -> Result:
        service = ctx.services.reports.branding
        return Result(200, branding_view(service, service.get(ctx.tenant_id)))
    return handle(request, op)
