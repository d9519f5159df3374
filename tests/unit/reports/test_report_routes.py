"""`GET /v1/scans/{token}/report` and `/v1/branding` through Chalice's test client, on the fakes."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from chalice.test import Client

from app import app
from chalicelib.api.report_routes import wants_json
from chalicelib.bootstrap import Services
from chalicelib.core.ids import new_id
from chalicelib.scans.models import ScanStatus
from tests.unit.reports.factories import make_scan, png_bytes


class Api:
    """Authenticated calls with one tenant's key."""

    def __init__(self, client: Client, keys: dict[str, str]) -> None:
        self.client = client
        self.keys = keys

    def call(self, method: str, path: str, body: Any = None, *, tenant: str = "acme",
             headers: dict[str, str] | None = None) -> Any:
        all_headers = {"Authorization": f"Bearer {self.keys[tenant]}", "Content-Type": "application/json",
                       **(headers or {})}
        data = json.dumps(body).encode() if body is not None else b""
        return getattr(self.client.http, method.lower())(path, headers=all_headers, body=data)


@pytest.fixture
def api(services: Services) -> Iterator[Api]:
    keys = {}
    for tenant in ("acme", "rival"):
        services.auth.create_tenant(tenant, tenant.title())
        keys[tenant] = services.auth.issue_key(tenant)[1]
    with Client(app) as client:
        yield Api(client, keys)


def _scan(services: Services, *, complete: bool = True, render: bool = True) -> str:
    scan = make_scan().model_copy(update={"tenant_id": "acme", "completed_at": None, "scan_id": new_id("scn")})
    services.scans.repo.add(scan)
    if render:
        services.reports.render_and_store("acme", scan.scan_id)
    if complete:
        services.scans.transition("acme", scan.scan_id, ScanStatus.COMPLETE)
    return scan.scan_id


def body(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


def test_report_redirects_to_a_presigned_url(api: Api, services: Services) -> None:
    token = _scan(services)
    response = api.call("GET", f"/v1/scans/{token}/report")
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith("memory://objects/tenants/acme/scans/") and "report.pdf" in location
    assert response.headers["Cache-Control"] == "no-store"
    assert int(parse_qs(urlsplit(location).query)["expires_in"][0]) <= 900


def test_report_format_json_redirects_to_the_json_report(api: Api, services: Services) -> None:
    token = _scan(services)
    response = api.call("GET", f"/v1/scans/{token}/report?format=json")
    assert response.status_code == 302 and "/report.json?" in response.headers["Location"]


def test_report_with_accept_json_answers_the_link(api: Api, services: Services) -> None:
    token = _scan(services)
    started = datetime.now().astimezone()
    response = api.call("GET", f"/v1/scans/{token}/report", headers={"Accept": "application/json"})
    link = body(response)
    assert response.status_code == 200 and set(link) == {"url", "expires_at", "sha256", "format"}
    assert link["format"] == "pdf" and link["sha256"] == services.scans.get("acme", token).report_sha256["pdf"]
    expires = datetime.fromisoformat(link["expires_at"])
    assert started < expires <= started + timedelta(minutes=15, seconds=5)
    assert response.headers["Cache-Control"] == "no-store"


def test_report_before_completion_is_409(api: Api, services: Services) -> None:
    token = _scan(services, complete=False)
    response = api.call("GET", f"/v1/scans/{token}/report")
    assert (response.status_code, body(response)["code"]) == (409, "scan-not-complete")
    assert response.headers["Content-Type"] == "application/problem+json"


def test_report_of_another_tenants_scan_is_404(api: Api, services: Services) -> None:
    token = _scan(services)
    response = api.call("GET", f"/v1/scans/{token}/report", tenant="rival")
    assert (response.status_code, body(response)["code"]) == (404, "scan-not-found")


def test_report_with_a_bad_format_is_422(api: Api, services: Services) -> None:
    token = _scan(services)
    response = api.call("GET", f"/v1/scans/{token}/report?format=docx")
    assert (response.status_code, body(response)["code"]) == (422, "invalid-report-format")


def test_scan_view_links_the_report_route_once_complete(api: Api, services: Services) -> None:
    pending = _scan(services, complete=False)
    assert body(api.call("GET", f"/v1/scans/{pending}"))["report_url"] is None
    done = _scan(services)
    url = body(api.call("GET", f"/v1/scans/{done}"))["report_url"]
    assert url == f"{services.settings.public_base_url}/v1/scans/{done}/report"
    unrendered = _scan(services, render=False)
    assert body(api.call("GET", f"/v1/scans/{unrendered}"))["report_url"] is None


def test_put_then_get_branding(api: Api, services: Services) -> None:
    payload = {"display_name": "Harbour Cyber", "primary_color": "#0b4f6c", "accent_color": "#F2A541",
               "contact": {"name": "Jordan Ellis", "email": "jordan@harbour.example"},
               "logo": base64.b64encode(png_bytes(120, 40)).decode()}
    put = api.call("PUT", "/v1/branding", payload)
    stored = body(put)
    assert put.status_code == 200 and stored["primary_color"] == "#0B4F6C"
    assert stored["logo"]["content_type"] == "image/png" and (stored["logo"]["width"], stored["logo"]["height"]) == (
        120, 40)
    got = body(api.call("GET", "/v1/branding"))
    assert got["display_name"] == "Harbour Cyber" and got["contact"]["name"] == "Jordan Ellis"
    assert got["logo"]["url"].startswith("memory://objects/branding/acme/logo-")
    assert api.call("GET", "/v1/branding", tenant="rival").status_code == 404


@pytest.mark.parametrize(("payload", "code"), [
    ({"display_name": "H", "logo": base64.b64encode(b"GIF89a" + b"\0" * 30).decode()}, "logo-unsupported-type"),
    ({"display_name": "H", "logo": "%%%"}, "logo-not-base64"),
    ({"display_name": "H", "logo": base64.b64encode(png_bytes()[:-4]).decode()}, "invalid-logo"),
    ({"display_name": "H", "primary_color": "blue"}, "validation-failed"),
    ({"display_name": ""}, "validation-failed"),
    ({"display_name": "H", "tenant_id": "rival"}, "validation-failed"),
])
def test_bad_branding_is_422(api: Api, payload: dict[str, Any], code: str) -> None:
    response = api.call("PUT", "/v1/branding", payload)
    assert (response.status_code, body(response)["code"]) == (422, code)
    assert api.call("GET", "/v1/branding").status_code == 404


def test_get_branding_before_any_is_404(api: Api) -> None:
    response = api.call("GET", "/v1/branding")
    assert (response.status_code, body(response)["code"]) == (404, "branding-not-set")


@pytest.mark.parametrize(("accept", "expected"), [
    (None, False), ("*/*", False), ("application/json", True), ("text/html, application/json;q=0.9", True),
    ("application/json;q=0", False), ("Application/JSON", True), ("application/jsonx", False),
])
def test_accept_negotiation(accept: str | None, expected: bool) -> None:
    assert wants_json(accept) is expected


def test_branding_accepts_a_logo_larger_than_the_default_body_bound(api: Api, services: Services) -> None:
    logo = png_bytes(200, 200, noise=True)  # ~120 KB of incompressible pixels, ~160 KB in base64
    assert len(logo) > services.settings.max_body_bytes
    put = api.call("PUT", "/v1/branding", {"display_name": "Big Logo Ltd", "logo": base64.b64encode(logo).decode()})
    assert put.status_code == 200, body(put)


def test_branding_body_beyond_the_logo_bound_is_413(api: Api) -> None:
    put = api.call("PUT", "/v1/branding", {"display_name": "x" * (2 * 1024 * 1024)})
    assert put.status_code == 413
