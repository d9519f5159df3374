"""`GET /v1/downloads/{token}`: the embedded stack's report, evidence and logo downloads.

The link is the capability (like an S3 presigned URL): no API key, but the token's HMAC and expiry
are verified before a byte is read. In AWS the object store hands out S3 presigned URLs instead, so
the route answers 404 there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from chalice.app import Request, Response

from chalicelib.api.http import problem, respond
from chalicelib.bootstrap import get_services
from chalicelib.core.errors import NotFound, PerimeterError
from chalicelib.core.objects import ObjectMissing
from chalicelib.storage.files import FileObjectStore, safe_filename

log = logging.getLogger(__name__)

DOWNLOAD_HEADERS = {
    "Cache-Control": "private, no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
    "Referrer-Policy": "no-referrer",  # the URL is a capability: never leak it onward
}


def download(request: Request | None, clock: Callable[[], float] = time.time) -> Response:
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
        key, filename = objects.verify_link((request.uri_params or {}).get("token", ""), clock())
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
