"""ReportService and BrandingService on the in-memory fakes: render_and_store, link, branding."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from chalicelib.bootstrap import Services
from chalicelib.core.errors import (
    InvalidBranding,
    InvalidLogo,
    InvalidReportFormat,
    NotFound,
    ReportNotRenderable,
    ScanNotComplete,
)
from chalicelib.reports.images import MAX_LOGO_BYTES
from chalicelib.reports.integrity import sha256_hex
from chalicelib.reports.model import ReportData
from chalicelib.reports.service import MAX_LINK_SECONDS, BrandingUpdate, ReportService, decode_logo, report_filename
from chalicelib.scans.keys import report_key, scan_prefix
from chalicelib.scans.models import Scan, ScanStatus
from tests.support.memory import MemoryObjectStore
from tests.unit.reports.factories import make_findings, make_scan, png_bytes

TENANT = "acme"
NOW = datetime(2026, 11, 21, 9, 0, tzinfo=UTC)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _jpeg() -> bytes:
    image = pytest.importorskip("PIL.Image")
    out = io.BytesIO()
    image.new("RGB", (160, 64), (20, 90, 160)).save(out, format="JPEG", quality=85)
    return out.getvalue()


def stored_scan(services: Services, tenant: str = TENANT, **kwargs: Any) -> Scan:
    """A scored scan (status scoring, 40 findings) stored for `tenant`."""
    scan = make_scan(**kwargs).model_copy(update={"tenant_id": tenant, "completed_at": None})
    services.scans.repo.add(scan)
    return scan


def objects_of(services: Services) -> MemoryObjectStore:
    store = services.objects
    assert isinstance(store, MemoryObjectStore)
    return store


@pytest.fixture
def reports(services: Services) -> ReportService:
    """The report service on the fakes with a fixed clock."""
    return ReportService(services.store, services.objects, services.scans, b"k" * 32, 600, clock=lambda: NOW)


# -- render_and_store ---------------------------------------------------------------------------


def test_render_and_store_writes_both_reports_under_the_tenant_prefix(services: Services) -> None:
    scan = stored_scan(services)
    result = services.reports.render_and_store(TENANT, scan.scan_id)
    prefix = scan_prefix(TENANT, scan.scan_id)
    assert set(result["report_keys"]) == {"pdf", "json"}
    assert all(key.startswith(prefix) for key in result["report_keys"].values())
    assert result["report_keys"]["pdf"] == report_key(TENANT, scan.scan_id, "pdf")
    store = objects_of(services)
    pdf, pdf_type = store.objects[result["report_keys"]["pdf"]]
    body, json_type = store.objects[result["report_keys"]["json"]]
    assert pdf.startswith(b"%PDF-") and pdf_type == "application/pdf" and json_type == "application/json"
    assert ReportData.model_validate_json(body).scan_token == scan.scan_id
    assert all(key.startswith(f"tenants/{TENANT}/") for key in store.objects)
    assert result["report_bytes"] == {"pdf": len(pdf), "json": len(body)}
    json.dumps(result)  # the state machine gets plain JSON


def test_pipeline_progress_is_recorded_in_the_same_write(services: Services) -> None:
    scan = stored_scan(services)
    services.scans.update(TENANT, scan.scan_id, lambda s: {"progress": 75})  # as Score leaves it
    services.reports.render_and_store(TENANT, scan.scan_id, progress=90)
    recorded = services.scans.get(TENANT, scan.scan_id)
    assert recorded.progress == 90 and recorded.report_keys


def test_recorded_digests_match_the_stored_bytes(services: Services) -> None:
    scan = stored_scan(services)
    result = services.reports.render_and_store(TENANT, scan.scan_id)
    recorded = services.scans.get(TENANT, scan.scan_id)
    store = objects_of(services)
    assert recorded.report_keys == result["report_keys"]
    for fmt, key in recorded.report_keys.items():
        assert recorded.report_sha256[fmt] == hashlib.sha256(store.objects[key][0]).hexdigest()
    assert recorded.status is ScanStatus.SCORING  # Finalize completes it, not the render step


def test_render_and_store_is_idempotent(services: Services) -> None:
    scan = stored_scan(services)
    first = services.reports.render_and_store(TENANT, scan.scan_id)
    keys_after_first = set(objects_of(services).objects)
    second = services.reports.render_and_store(TENANT, scan.scan_id)
    assert second["report_keys"] == first["report_keys"]
    assert set(objects_of(services).objects) == keys_after_first
    recorded = services.scans.get(TENANT, scan.scan_id)
    for fmt, key in recorded.report_keys.items():
        assert recorded.report_sha256[fmt] == sha256_hex(objects_of(services).objects[key][0])


def test_the_manifest_seals_each_report_with_the_signing_key(services: Services, reports: ReportService) -> None:
    scan = stored_scan(services)
    result = reports.render_and_store(TENANT, scan.scan_id)
    store = objects_of(services)
    manifest = json.loads(store.objects[result["manifest_key"]][0])
    assert result["manifest_key"].startswith(scan_prefix(TENANT, scan.scan_id))
    for fmt, entry in manifest["reports"].items():
        body = store.objects[entry["key"]][0]
        assert entry["sha256"] == sha256_hex(body)
        assert entry["signature"] == "sha256=" + hmac.new(b"k" * 32, body, hashlib.sha256).hexdigest(), fmt


def test_the_report_presents_the_scan_as_complete(services: Services) -> None:
    scan = stored_scan(services)
    result = services.reports.render_and_store(TENANT, scan.scan_id)
    data = ReportData.model_validate_json(objects_of(services).objects[result["report_keys"]["json"]][0])
    assert data.status is ScanStatus.COMPLETE and data.completed_at is not None
    assert data.score == scan.score and len(data.findings) == 40


def test_the_tenants_branding_and_logo_reach_the_report(services: Services) -> None:
    services.reports.branding.put(TENANT, BrandingUpdate(display_name="Harbour Cyber", logo=_b64(png_bytes())))
    scan = stored_scan(services)
    result = services.reports.render_and_store(TENANT, scan.scan_id)
    data = ReportData.model_validate_json(objects_of(services).objects[result["report_keys"]["json"]][0])
    assert data.branding is not None and data.branding.partner_name == "Harbour Cyber"
    assert b"/Subtype /Image" in objects_of(services).objects[result["report_keys"]["pdf"]][0]


def test_a_missing_logo_object_renders_without_the_logo(services: Services) -> None:
    stored = services.reports.branding.put(TENANT, BrandingUpdate(display_name="Harbour", logo=_b64(png_bytes())))
    assert stored.logo is not None
    del objects_of(services).objects[stored.logo.key]
    scan = stored_scan(services)
    result = services.reports.render_and_store(TENANT, scan.scan_id)
    assert b"/Subtype /Image" not in objects_of(services).objects[result["report_keys"]["pdf"]][0]


@pytest.mark.parametrize("status", [ScanStatus.CANCELLED, ScanStatus.FAILED, ScanStatus.SCANNING])
def test_render_refuses_scans_that_cannot_have_a_report(services: Services, status: ScanStatus) -> None:
    scan = make_scan().model_copy(update={"tenant_id": TENANT, "status": status})
    services.scans.repo.add(scan)
    with pytest.raises(ReportNotRenderable) as caught:
        services.reports.render_and_store(TENANT, scan.scan_id)
    assert caught.value.code == "report-not-renderable" and caught.value.status == 409
    assert objects_of(services).objects == {}


def test_render_refuses_a_scan_the_score_step_has_not_run_on(services: Services) -> None:
    scan = make_scan().model_copy(update={"tenant_id": TENANT, "score": None, "scoring_version": None})
    services.scans.repo.add(scan)
    with pytest.raises(ReportNotRenderable):
        services.reports.render_and_store(TENANT, scan.scan_id)


def test_render_of_another_tenants_scan_is_not_found(services: Services) -> None:
    scan = stored_scan(services)
    with pytest.raises(NotFound):
        services.reports.render_and_store("rival", scan.scan_id)
    assert objects_of(services).objects == {}


# -- link ---------------------------------------------------------------------------------------


def _complete(services: Services, reports: ReportService, **kwargs: Any) -> Scan:
    scan = stored_scan(services, **kwargs)
    reports.render_and_store(TENANT, scan.scan_id)
    return services.scans.transition(TENANT, scan.scan_id, ScanStatus.COMPLETE)


def test_link_is_409_before_completion(services: Services, reports: ReportService) -> None:
    scan = stored_scan(services)
    reports.render_and_store(TENANT, scan.scan_id)
    with pytest.raises(ScanNotComplete) as caught:
        reports.link(TENANT, scan.scan_id, "pdf")
    assert (caught.value.status, caught.value.code) == (409, "scan-not-complete")


def test_link_expires_within_15_minutes_and_carries_the_digest(services: Services, reports: ReportService) -> None:
    scan = _complete(services, reports)
    url, expires_at, digest = reports.link(TENANT, scan.scan_id, "pdf")
    assert expires_at == NOW + timedelta(seconds=600)
    assert expires_at - NOW <= timedelta(minutes=15)
    query = parse_qs(urlsplit(url).query)
    assert int(query["expires_in"][0]) == 600 <= MAX_LINK_SECONDS
    assert query["filename"] == [f"perimeter-example.com-{scan.scan_id}.pdf"]
    assert digest == services.scans.get(TENANT, scan.scan_id).report_sha256["pdf"]
    assert reports.link(TENANT, scan.scan_id, "json").sha256 == scan.report_sha256["json"]


@pytest.mark.parametrize("seconds", [0, 901, 3600])
def test_link_lifetimes_beyond_15_minutes_are_refused(services: Services, seconds: int) -> None:
    with pytest.raises(ValueError, match="900"):
        ReportService(services.store, services.objects, services.scans, b"k" * 32, seconds)


def test_link_to_another_tenants_scan_is_404(services: Services, reports: ReportService) -> None:
    scan = _complete(services, reports)
    with pytest.raises(NotFound) as caught:
        reports.link("rival", scan.scan_id, "pdf")
    assert caught.value.code == "scan-not-found"


def test_link_with_an_unknown_format_is_422(services: Services, reports: ReportService) -> None:
    scan = _complete(services, reports)
    with pytest.raises(InvalidReportFormat) as caught:
        reports.link(TENANT, scan.scan_id, "docx")
    assert (caught.value.status, caught.value.code) == (422, "invalid-report-format")


def test_link_of_a_complete_scan_without_reports_is_404(services: Services, reports: ReportService) -> None:
    scan = stored_scan(services)
    services.scans.transition(TENANT, scan.scan_id, ScanStatus.COMPLETE)
    with pytest.raises(NotFound) as caught:
        reports.link(TENANT, scan.scan_id, "pdf")
    assert caught.value.code == "report-not-found"


def test_report_filenames_are_safe_for_unicode_and_ip_targets() -> None:
    unicode_scan = make_scan(target="xn--bcher-kva.example")
    assert report_filename(unicode_scan, "pdf") == f"perimeter-xn--bcher-kva.example-{unicode_scan.scan_id}.pdf"
    v6 = make_scan().model_copy(update={"target": "2001:db8::1"})
    assert report_filename(v6, "json") == f"perimeter-2001-db8-1-{v6.scan_id}.json"


# -- branding -----------------------------------------------------------------------------------


def test_good_png_and_jpeg_logos_are_stored_content_addressed(services: Services) -> None:
    for raw, kind, ext in ((png_bytes(240, 80), "image/png", "png"), (_jpeg(), "image/jpeg", "jpg")):
        stored = services.reports.branding.put(TENANT, BrandingUpdate(display_name="Harbour", logo=_b64(raw)))
        assert stored.logo is not None
        assert stored.logo.key == f"branding/{TENANT}/logo-{sha256_hex(raw)}.{ext}"
        assert objects_of(services).objects[stored.logo.key] == (raw, kind)
        assert stored.logo.content_type == kind and stored.logo.size == len(raw)
    assert services.reports.branding.get(TENANT).logo is not None


def test_a_data_url_logo_is_accepted(services: Services) -> None:
    raw = png_bytes(32, 32)
    stored = services.reports.branding.put(
        TENANT, BrandingUpdate(display_name="Harbour", logo="data:image/png;base64," + _b64(raw)))
    assert stored.logo is not None and (stored.logo.width, stored.logo.height) == (32, 32)


@pytest.mark.parametrize(("logo", "code"), [
    (_b64(png_bytes(600, 400, noise=True)), "logo-too-large"),
    (_b64(b"GIF89a\x01\x00\x01\x00\x80\x00\x00" + b"\x00" * 20), "logo-unsupported-type"),
    (_b64(b"<svg xmlns='http://www.w3.org/2000/svg'/>"), "logo-unsupported-type"),
    (_b64(png_bytes()[:-20]), "invalid-logo"),
    (_b64(png_bytes() + b"trailing"), "invalid-logo"),
    ("not base64 at all!", "logo-not-base64"),
])
def test_bad_logos_are_422_with_a_clear_code(services: Services, logo: str, code: str) -> None:
    with pytest.raises(InvalidLogo) as caught:
        services.reports.branding.put(TENANT, BrandingUpdate(display_name="Harbour", logo=logo))
    assert (caught.value.status, caught.value.code) == (422, code)
    assert services.reports.branding.find(TENANT) is None and objects_of(services).objects == {}


def test_oversized_image_is_refused_before_inspection() -> None:
    assert len(png_bytes(600, 400, noise=True)) > MAX_LOGO_BYTES
    with pytest.raises(InvalidLogo, match="512 KiB"):
        decode_logo(_b64(b"\x89PNG\r\n\x1a\n" + b"\x00" * MAX_LOGO_BYTES))


def test_huge_dimensions_are_refused() -> None:
    with pytest.raises(InvalidLogo) as caught:
        decode_logo(_b64(png_bytes(4097, 1)))
    assert caught.value.code == "invalid-logo" and "pixels" in caught.value.detail


@pytest.mark.parametrize("colour", ["red", "#12345", "#1234567", "123456", "#GGGGGG"])
def test_bad_colours_are_refused(colour: str) -> None:
    with pytest.raises(ValueError, match="primary_color"):
        BrandingUpdate.model_validate({"display_name": "Harbour", "primary_color": colour})


def test_control_characters_in_the_name_are_422(services: Services) -> None:
    with pytest.raises(InvalidBranding) as caught:
        services.reports.branding.put(TENANT, BrandingUpdate(display_name="Harbour\x07Bell"))
    assert caught.value.status == 422 and caught.value.detail.startswith("display_name")


def test_omitting_the_logo_keeps_it_and_null_removes_it(services: Services) -> None:
    branding = services.reports.branding
    first = branding.put(TENANT, BrandingUpdate(display_name="Harbour", logo=_b64(png_bytes())))
    kept = branding.put(TENANT, BrandingUpdate.model_validate({"display_name": "Harbour 2", "accent_color": "#aabbcc"}))
    assert kept.logo == first.logo and kept.accent_color == "#AABBCC"
    removed = branding.put(TENANT, BrandingUpdate.model_validate({"display_name": "Harbour 3", "logo": None}))
    assert removed.logo is None


def test_branding_is_per_tenant(services: Services) -> None:
    services.reports.branding.put(TENANT, BrandingUpdate(display_name="Harbour"))
    with pytest.raises(NotFound) as caught:
        services.reports.branding.get("rival")
    assert caught.value.code == "branding-not-set"


def test_logo_links_expire_within_the_report_link_lifetime(services: Services, reports: ReportService) -> None:
    stored = reports.branding.put(TENANT, BrandingUpdate(display_name="Harbour", logo=_b64(png_bytes())))
    link = reports.branding.logo_link(stored)
    assert link is not None and link.expires_at == NOW + timedelta(seconds=600)


def test_the_signing_key_defaults_to_a_subkey_of_the_pepper(services: Services) -> None:
    settings = services.settings
    assert settings.report_signing_key is None
    derived = settings.report_signing_secret()
    pepper = settings.key_pepper.get_secret_value().encode()
    assert derived == hmac.new(pepper, b"perimeter/report-signing/v1", hashlib.sha256).digest() != pepper
    explicit = settings.model_copy(update={"report_signing_key": settings.key_pepper})
    assert explicit.report_signing_secret() == pepper


def test_many_findings_scan_renders(services: Services) -> None:
    scan = stored_scan(services, findings=make_findings(5))
    assert services.reports.render_and_store(TENANT, scan.scan_id)["report_bytes"]["pdf"] > 0
