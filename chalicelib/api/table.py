"""The operation table: every public operation of the API, in the order the document lists them.

Each route module declares its operations on its handlers (`chalicelib.api.operations.Routes`);
this module adds the two meta routes and gathers them. app.py registers every entry with Chalice
and `GET /v1/openapi.json` renders the same entries, so a route cannot be served undocumented.
"""

from __future__ import annotations

from chalice.app import Request, Response

from chalicelib.api import (
    audit_routes,
    key_routes,
    org_routes,
    report_routes,
    routes,
    sa_routes,
    target_routes,
    views,
    webhook_routes,
)
from chalicelib.api.dialects import DIALECT_OPERATIONS
from chalicelib.api.http import Result, handle
from chalicelib.api.operations import VERSION, Op, Routes, register_routes
from chalicelib.api.spec import openapi_document
from chalicelib.bootstrap import get_services

meta = Routes()


@meta("GET", "/v1/health", "getHealth", "Liveness", 200, views.Health, public=True, tags=("meta",))
def health(request: Request | None) -> Response:
    """Liveness; no authentication."""
    return handle(request, lambda _: Result(200, views.Health(status="ok", version=VERSION)), public=True)


@meta("GET", "/v1/openapi.json", "getOpenApi", "This document", 200, None, public=True, tags=("meta",))
def openapi(request: Request | None) -> Response:
    """This table as OpenAPI 3.1; no authentication."""
    return handle(request, lambda _: Result(200, openapi_document(OPERATIONS, get_services().settings.public_base_url)),
                  public=True)


OPERATIONS: tuple[Op, ...] = (
    *meta.operations, *routes.route.operations, *report_routes.route.operations,
    *webhook_routes.route.operations, *target_routes.route.operations, *key_routes.route.operations,
    *audit_routes.route.operations, *org_routes.route.operations,
)

# The insured's self-assessment page (HTML, outside every document).
PAGE_OPERATIONS: tuple[Op, ...] = tuple(sa_routes.route.operations)

# Every route app.py serves: /v1 (the document above), each vendor dialect (its own document) and the pages.
ROUTED: tuple[Op, ...] = (*OPERATIONS, *DIALECT_OPERATIONS, *PAGE_OPERATIONS)

# The least role of each route, for the role check every authenticated request passes (chalicelib.api.http).
register_routes(ROUTED)
