"""What every vendor dialect is made of: a base path, a response style, a document, and its operations.

A dialect is a translation at the edge (DESIGN.md section 3): its handlers parse the vendor's request
shape, call the same services as /v1 (through `chalicelib.api.http.handle`, so authentication, rate
limits, body bounds and idempotency are the same), and render the vendor's response shape. Nothing
of a dialect reaches the services: they never know which surface called them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalice.app import Request, Response

from chalicelib.api.http import Ctx, ResponseStyle, Result, handle, register_style
from chalicelib.api.operations import Op, Routes
from chalicelib.api.spec import DocInfo, openapi_document
from chalicelib.bootstrap import get_services
from chalicelib.scans.active import not_checked
from chalicelib.scans.models import Scan, ScanError, ScanStatus

NOT_CHECKED = {"container": "The image could not be scanned", "webapp": "The site could not be tested"}


@dataclass(frozen=True)
class Dialect:
    """One vendor's API surface, mounted under `base_path` beside /v1.

    `name` is also the webhook `format` whose payloads, event names, headers and signature match the
    vendor's (chalicelib/webhooks/formats). `routes` holds the vendor operations, declared with full
    paths (`base_path` + the vendor's path).
    """

    name: str
    title: str
    base_path: str
    style: ResponseStyle
    doc: DocInfo
    routes: Routes = field(default_factory=Routes, compare=False)

    def handle(self, request: Request | None, operation: Callable[[Ctx], Result], **options: Any) -> Response:
        """`chalicelib.api.http.handle` in this dialect's style (errors and rate-limit headers)."""
        return handle(request, operation, style=self.style, **options)

    def path(self, suffix: str) -> str:
        """The full path of a vendor path (`/scans` -> `/scan-api/api/v1/scans`)."""
        return self.base_path.rstrip("/") + suffix

    @property
    def operations(self) -> tuple[Op, ...]:
        """The dialect's operations, its OpenAPI document first."""
        return (self._openapi_op(), *self.routes.operations)

    def _openapi_op(self) -> Op:
        dialect = self

        def openapi(request: Request | None) -> Response:
            base = get_services().settings.public_base_url.rstrip("/")
            document = openapi_document(tuple(dialect.routes.operations), base + dialect.base_path, dialect.doc)
            return handle(request, lambda _: Result(200, _relative(document, dialect.base_path)), public=True,
                          style=dialect.style)

        openapi.__name__ = f"{self.name}_openapi"
        return Op("GET", self.path("/openapi.json"), f"{self.name}GetOpenApi", f"The {self.title} document", 200,
                  None, public=True, tags=("meta",), handler=openapi)


def _relative(document: dict[str, Any], base_path: str) -> dict[str, Any]:
    """The document with paths relative to its server URL (which carries the base path), as vendors write them."""
    paths = {path.removeprefix(base_path.rstrip("/")) or "/": item for path, item in document["paths"].items()}
    return {**document, "paths": paths}


def mount(dialect: Dialect) -> Dialect:
    """Register the dialect's style for the errors Chalice raises itself under its base path; returns it."""
    register_style(dialect.base_path, dialect.style)
    return dialect


def unchecked(scan: Scan) -> ScanError | None:
    """For a completed webapp or container scan whose check could not run: the error vendors see it failed with
    (their CI steps read a failed scan as a failed job, and zero findings from nothing tested must not pass)."""
    if scan.status is not ScanStatus.COMPLETE:
        return None
    why = not_checked(scan.scan_type, scan.signals)
    if not why:
        return None
    return ScanError(code="not-checked", message="; ".join(
        f"{NOT_CHECKED.get(key, f'The {key} check could not run')}: {text}" for key, text in sorted(why.items())))
