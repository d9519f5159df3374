"""Reports and branding: render a scored scan to PDF and JSON, store and seal them, hand out short links.

`ReportService.render_and_store(tenant_id, scan_id)` is the one function the pipeline's RenderReport
step calls. `ReportService.link(...)` backs `GET /v1/scans/{token}/report`; `ReportService.branding`
backs `/v1/branding`. fpdf2 (chalicelib.reports.pdf) is imported only inside `render_and_store`, so
the API Lambda never pays for it at cold start.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.core.clock import utcnow
from chalicelib.core.errors import (
    InvalidBranding,
    InvalidLogo,
    InvalidReportFormat,
    NotFound,
    PerimeterError,
    ReportNotRenderable,
    ScanNotComplete,
)
from chalicelib.core.objects import ObjectMissing, ObjectStore
from chalicelib.core.store import KeyValueStore
from chalicelib.reports.branding import Branding, ContactCard
from chalicelib.reports.images import JPEG_SOI, MAX_LOGO_BYTES, PNG_SIGNATURE, ImageInfo, inspect_logo
from chalicelib.reports.integrity import MIN_KEY_BYTES, sha256_hex, sign_report
from chalicelib.scans.keys import branding_logo_key, report_key, scan_prefix
from chalicelib.scans.models import Scan, ScanStatus, ScanType
from chalicelib.scans.service import ScanService

log = logging.getLogger(__name__)

ReportFormat = Literal["pdf", "json"]
FORMATS: tuple[ReportFormat, ...] = ("pdf", "json")
CONTENT_TYPES: dict[str, str] = {"pdf": "application/pdf", "json": "application/json"}
MANIFEST = "manifest.json"  # report.manifest.json: digests and HMAC seals of the stored reports
MAX_LINK_SECONDS = 900  # DESIGN.md section 4: presigned report links live 15 minutes at most
_HEX_COLOUR = r"^#[0-9A-Fa-f]{6}$"
# base64 of MAX_LOGO_BYTES, plus room for a data: URL prefix and line breaks.
_MAX_LOGO_TEXT = (MAX_LOGO_BYTES + 2) // 3 * 4 + 1024
_DATA_URL = re.compile(r"^data:image/(png|jpeg|jpg);base64,", re.IGNORECASE)
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9.-]+")
# States in which the render step may (re)write a scan's reports.
_RENDERABLE = frozenset({ScanStatus.SCORING, ScanStatus.COMPLETE})


class ReportLink(NamedTuple):
    """A presigned download link for one stored report."""

    url: str
    expires_at: datetime
    sha256: str


class StoredReport(NamedTuple):
    """A stored report's bytes, verified against the digest recorded at render time."""

    body: bytes
    content_type: str
    filename: str
    sha256: str


# -- branding -----------------------------------------------------------------------------------


class BrandingUpdate(BaseModel):
    """`PUT /v1/branding`: the tenant's co-branding, replaced as a whole (the logo: see `logo`)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    display_name: str = Field(min_length=1, max_length=120, description="The partner name shown on reports.")
    primary_color: str = Field(default="#1F3A5F", pattern=_HEX_COLOUR, description="#RRGGBB")
    accent_color: str = Field(default="#E07A1F", pattern=_HEX_COLOUR, description="#RRGGBB")
    contact: ContactCard = Field(default_factory=ContactCard)
    logo: str | None = Field(
        default=None,
        description="Base64 of a PNG or JPEG (a data:image/...;base64, URL is accepted), at most 512 KiB and "
                    "2048x2048 pixels. Omitted: the current logo is kept; null: the logo is removed.",
    )


class StoredLogo(BaseModel):
    """Where a tenant's logo lives and what inspection proved about it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    sha256: str
    content_type: str
    width: int
    height: int
    size: int


class StoredBranding(BaseModel):
    """The branding item (`TENANT#<id>` / `BRANDING`); the logo bytes live in the object store."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    display_name: str
    primary_color: str
    accent_color: str
    contact: ContactCard
    logo: StoredLogo | None = None
    updated_at: datetime


def decode_logo(text: str) -> tuple[bytes, ImageInfo]:
    """Base64 (or a data: URL) to checked PNG/JPEG bytes; raises InvalidLogo with a specific code."""
    text = _DATA_URL.sub("", text.strip(), count=1)
    if len(text) > _MAX_LOGO_TEXT:  # refused before decoding anything
        raise InvalidLogo(f"The logo is over {MAX_LOGO_BYTES} bytes (512 KiB) once decoded.", code="logo-too-large")
    try:
        raw = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidLogo("logo must be base64-encoded PNG or JPEG bytes.", code="logo-not-base64") from None
    if len(raw) > MAX_LOGO_BYTES:
        raise InvalidLogo(f"The logo is {len(raw)} bytes; at most {MAX_LOGO_BYTES} (512 KiB) are accepted.",
                          code="logo-too-large")
    if not raw.startswith((PNG_SIGNATURE, JPEG_SOI)):
        raise InvalidLogo("The logo is not a PNG or JPEG image (unrecognised file signature).",
                          code="logo-unsupported-type")
    try:
        info = inspect_logo(raw)
    except ValueError as exc:
        raise InvalidLogo(f"The logo was refused: {exc}.", code="invalid-logo") from None
    return raw, info


class BrandingService:
    """A tenant's co-branding: one item in the table, the logo in the object store."""

    def __init__(self, store: KeyValueStore, objects: ObjectStore, link_seconds: int,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._objects = objects
        self._link_seconds = link_seconds
        self._clock = clock

    def get(self, tenant_id: str) -> StoredBranding:
        """The tenant's branding; raises NotFound (code `branding-not-set`)."""
        found = self.find(tenant_id)
        if found is None:
            raise NotFound("No branding has been set for this account.", code="branding-not-set")
        return found

    def find(self, tenant_id: str) -> StoredBranding | None:
        """The tenant's branding, or None."""
        record = self._store.get(f"TENANT#{tenant_id}", "BRANDING")
        return StoredBranding.model_validate(record.data) if record is not None else None

    def put(self, tenant_id: str, update: BrandingUpdate) -> StoredBranding:
        """Validate and store the tenant's branding; raises InvalidLogo, InvalidBranding (422)."""
        try:  # the report's own rules (no control characters), before anything is stored
            Branding(partner_name=update.display_name, contact=update.contact,
                     primary_color=update.primary_color, accent_color=update.accent_color)
        except ValidationError as exc:
            first = exc.errors(include_url=False)[0]
            field = ".".join(str(p) for p in first["loc"]).replace("partner_name", "display_name") or "(body)"
            raise InvalidBranding(f"{field}: {first['msg']}") from None
        current = self.find(tenant_id)
        logo = current.logo if current is not None and "logo" not in update.model_fields_set else None
        if update.logo is not None:
            raw, info = decode_logo(update.logo)
            digest = sha256_hex(raw)
            key = branding_logo_key(tenant_id, digest, "png" if info.kind == "png" else "jpg")
            self._objects.put(key, raw, info.mime_type)  # content-addressed: a retry rewrites the same object
            logo = StoredLogo(key=key, sha256=digest, content_type=info.mime_type, width=info.width,
                              height=info.height, size=len(raw))
        stored = StoredBranding(
            display_name=update.display_name, primary_color=update.primary_color.upper(),
            accent_color=update.accent_color.upper(), contact=update.contact, logo=logo, updated_at=self._clock(),
        )
        self._store.put(f"TENANT#{tenant_id}", "BRANDING", stored.model_dump(mode="json"))
        return stored

    def logo_link(self, branding: StoredBranding) -> ReportLink | None:
        """A short-lived link to the logo, or None without one."""
        if branding.logo is None:
            return None
        expires_at = self._clock() + timedelta(seconds=self._link_seconds)
        return ReportLink(self._objects.presign(branding.logo.key, self._link_seconds), expires_at,
                          branding.logo.sha256)

    def for_report(self, tenant_id: str) -> Branding | None:
        """The tenant's branding as reports render it; a missing or damaged logo is left out (logged)."""
        stored = self.find(tenant_id)
        if stored is None:
            return None
        fields: dict[str, Any] = {"partner_name": stored.display_name, "contact": stored.contact,
                                  "primary_color": stored.primary_color, "accent_color": stored.accent_color}
        if stored.logo is not None:
            try:
                return Branding(**fields, logo=self._objects.get(stored.logo.key))
            except (ObjectMissing, ValueError):  # pydantic's ValidationError is a ValueError
                log.warning("logo %s of tenant %s is missing or invalid; rendering without it",
                            stored.logo.key, tenant_id)
        return Branding(**fields)


# -- reports ------------------------------------------------------------------------------------


def report_filename(scan: Scan, fmt: str) -> str:
    """`perimeter-<domain>-<scan id>.<fmt>`, with only letters, digits, dots and hyphens."""
    target = _FILENAME_UNSAFE.sub("-", scan.target).strip("-.")[:100] or "target"
    return f"perimeter-{target}-{scan.scan_id}.{fmt}"


def _check_renderable(scan: Scan) -> None:
    if scan.status not in _RENDERABLE:
        raise ReportNotRenderable(f"Scan {scan.scan_id} is {scan.status.value}; only a scored scan gets a report.")
    if scan.scoring_version is None:  # a scored scan may still have no score: its report says why
        raise ReportNotRenderable(f"Scan {scan.scan_id} has not been scored yet.")


class ReportService:
    """Render, store, seal and link a scan's reports."""

    def __init__(self, store: KeyValueStore, objects: ObjectStore, scans: ScanService, signing_key: bytes,
                 link_seconds: int = 600, clock: Callable[[], datetime] = utcnow) -> None:
        if not 0 < link_seconds <= MAX_LINK_SECONDS:
            raise ValueError(f"report links must expire within {MAX_LINK_SECONDS} seconds")
        if len(signing_key) < MIN_KEY_BYTES:
            raise ValueError(f"the report signing key must be at least {MIN_KEY_BYTES} bytes")
        self._objects = objects
        self._scans = scans
        self._signing_key = signing_key
        self.link_seconds = link_seconds
        self._clock = clock
        self.branding = BrandingService(store, objects, link_seconds, clock)

    def render_and_store(self, tenant_id: str, scan_id: str, *, progress: int | None = None) -> dict[str, Any]:
        """Render the scored scan to PDF and JSON, store both, record their keys and SHA-256 on the scan.

        A scan scored without a score (nothing could be tested) gets reports that say so.
        `progress` is recorded in the same write (the pipeline's RenderReport step).
        Idempotent: a second call rewrites the same keys and records the new digests. Raises NotFound,
        ReportNotRenderable (409: unscored, failed or cancelled scan) and ReportFontsMissing (500).
        Returns `{"scan_id", "report_keys", "report_sha256", "report_bytes", "manifest_key", "render_ms"}`.
        """
        started = time.perf_counter()
        scan = self._scans.get(tenant_id, scan_id)
        _check_renderable(scan)
        generated_at = self._clock()
        # The report describes the scan as Finalize will leave it (the next step): complete.
        as_final = scan.model_copy(update={"status": ScanStatus.COMPLETE,
                                           "completed_at": scan.completed_at or generated_at})
        # The report model, fpdf2 and fontTools: imported on this path only (not at the API's cold start).
        from chalicelib.reports.json_report import render_json
        from chalicelib.reports.model import report_data
        from chalicelib.reports.pdf import render_pdf

        try:
            data = report_data(as_final, self.branding.for_report(tenant_id), generated_at,
                               self._scans.all_findings(scan))
        except ValueError as exc:
            raise ReportNotRenderable(f"Scan {scan_id} cannot be reported: {exc}.") from exc
        bodies = {"pdf": render_pdf(data), "json": render_json(data)}
        keys = {fmt: report_key(tenant_id, scan_id, fmt) for fmt in bodies}
        digests = {fmt: sha256_hex(body) for fmt, body in bodies.items()}
        for fmt, body in bodies.items():
            self._objects.put(keys[fmt], body, CONTENT_TYPES[fmt])
        manifest_key = report_key(tenant_id, scan_id, MANIFEST)
        self._objects.put(manifest_key, self._manifest(scan, generated_at, keys, bodies), CONTENT_TYPES["json"])

        def record(current: Scan) -> dict[str, Any]:
            _check_renderable(current)  # cancelled meanwhile: refuse rather than decorate a dead scan
            recorded: dict[str, Any] = {"report_keys": keys, "report_sha256": digests}
            if progress is not None and current.status is ScanStatus.SCORING:
                recorded["progress"] = progress
            return recorded

        self._scans.update(tenant_id, scan_id, record)
        return {
            "scan_id": scan_id,
            "report_keys": keys,
            "report_sha256": digests,
            "report_bytes": {fmt: len(body) for fmt, body in bodies.items()},
            "manifest_key": manifest_key,
            "render_ms": round((time.perf_counter() - started) * 1000, 1),
        }

    def _manifest(self, scan: Scan, generated_at: datetime, keys: dict[str, str], bodies: dict[str, bytes]) -> bytes:
        """Digests and HMAC-SHA256 seals of the stored reports, for later verification by Perimeter."""
        document = {
            "format": "perimeter.report-manifest",
            "format_version": 1,
            "scan_token": scan.scan_id,
            "generated_at": generated_at.isoformat(),
            "signature_algorithm": "hmac-sha256",
            "reports": {
                fmt: {"key": keys[fmt], "content_type": CONTENT_TYPES[fmt], "bytes": len(body),
                      "sha256": sha256_hex(body), "signature": "sha256=" + sign_report(body, self._signing_key)}
                for fmt, body in bodies.items()
            },
        }
        return (json.dumps(document, sort_keys=True, indent=2) + "\n").encode()

    def _stored(self, tenant_id: str, scan_id: str, fmt: str) -> tuple[Scan, str, str]:
        """A complete scan, the key and the recorded digest of its `fmt` report; raises as `link` does."""
        if fmt not in FORMATS:
            raise InvalidReportFormat(f"format must be one of {', '.join(FORMATS)}.")
        scan = self._scans.get(tenant_id, scan_id)
        if scan.status is not ScanStatus.COMPLETE:
            raise ScanNotComplete(f"Scan {scan_id} is {scan.status.value}; its report is available once it is "
                                  "complete.")
        key, digest = scan.report_keys.get(fmt), scan.report_sha256.get(fmt)
        if not key or not digest or not key.startswith(scan_prefix(tenant_id, scan_id)):
            raise NotFound(f"Scan {scan_id} has no {fmt} report.", code="report-not-found")
        return scan, key, digest

    def link(self, tenant_id: str, scan_id: str, fmt: str) -> ReportLink:
        """A presigned link (at most 15 minutes) to a complete scan's report.

        Raises InvalidReportFormat (422), NotFound (404, also for another tenant's scan),
        ScanNotComplete (409) and NotFound `report-not-found` when a complete scan has no such report.
        """
        scan, key, digest = self._stored(tenant_id, scan_id, fmt)
        expires_at = self._clock() + timedelta(seconds=self.link_seconds)  # taken before signing: never late
        url = self._objects.presign(key, self.link_seconds, report_filename(scan, fmt))
        return ReportLink(url, expires_at, digest)

    def sbom_link(self, tenant_id: str, scan_id: str) -> ReportLink:
        """A presigned link (at most 15 minutes) to a complete container scan's CycloneDX SBOM.

        Raises NotFound (404, also for another tenant's scan; `sbom-not-available` for other scan types or
        a container scan that produced none) and ScanNotComplete (409) while the scan is not complete.
        """
        scan = self._scans.get(tenant_id, scan_id)
        if scan.scan_type is not ScanType.CONTAINER:
            raise NotFound(f"Scan {scan_id} is a {scan.scan_type.value} scan; only container scans have an SBOM.",
                           code="sbom-not-available")
        if scan.status is not ScanStatus.COMPLETE:
            raise ScanNotComplete(f"Scan {scan_id} is {scan.status.value}; its SBOM is available once it is "
                                  "complete.")
        if not scan.sbom_key or not scan.sbom_sha256 or not scan.sbom_key.startswith(scan_prefix(tenant_id, scan_id)):
            raise NotFound(f"Scan {scan_id} produced no SBOM (see its container signal).", code="sbom-not-available")
        expires_at = self._clock() + timedelta(seconds=self.link_seconds)
        filename = report_filename(scan, "cdx.json")
        return ReportLink(self._objects.presign(scan.sbom_key, self.link_seconds, filename), expires_at,
                          scan.sbom_sha256)

    def read(self, tenant_id: str, scan_id: str, fmt: str) -> StoredReport:
        """The bytes of a complete scan's report, checked against the digest recorded when it was rendered.

        For APIs that answer the report itself rather than a link (a vendor dialect). Raises what
        `link` raises, NotFound `report-not-found` when the object is gone, and PerimeterError (500,
        `report-integrity-failed`) when its bytes no longer match the recorded digest.
        """
        scan, key, digest = self._stored(tenant_id, scan_id, fmt)
        try:
            body = self._objects.get(key)
        except ObjectMissing:
            raise NotFound(f"Scan {scan_id} has no {fmt} report.", code="report-not-found") from None
        if sha256_hex(body) != digest:
            log.error("report %s of scan %s does not match its recorded digest", fmt, scan_id)
            raise PerimeterError("The stored report failed its integrity check; it has been logged.",
                                 code="report-integrity-failed")
        return StoredReport(body, CONTENT_TYPES[fmt], report_filename(scan, fmt), digest)
