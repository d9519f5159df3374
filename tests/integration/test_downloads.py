"""Report downloads on the embedded stack: the API serves them through signed, expiring links, byte for byte.

The stack's services are wired from PERIMETER_DATA_DIR exactly as `make run` wires them (SQLite
table, file objects) and served by Chalice's local HTTP server, as the stack serves them.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from chalice.test import Client

from app import app
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.settings import Settings
from chalicelib.local.stack import free_port
from chalicelib.scans.models import ScanStatus
from chalicelib.storage.factory import download_link_key
from chalicelib.storage.files import FileObjectStore
from tests.conftest import PEPPER, PUBLIC_DOMAINS
from tests.support.fakes import FakeResolver
from tests.support.memory import RecordingWorkflow
from tests.unit.reports.factories import make_scan

TENANT = "acme"


@dataclass
class Embedded:
    services: Services
    base_url: str
    key: str
    rival_key: str
    objects_root: Path


def _serve(port: int) -> Any:
    """Chalice's local server, threaded, as chalicelib.local.stack serves the app."""
    from chalice.config import Config
    from chalice.local import CustomLocalChalice, LocalChalice, LocalDevServer

    if not isinstance(app, LocalChalice):  # what create_local_server does, once per process
        CustomLocalChalice.__bases__ = (LocalChalice, app.__class__)
        app.__class__ = CustomLocalChalice
    config = Config.create(chalice_stage="local", app_name="perimeter", chalice_app=app)
    server = LocalDevServer(app, config, "127.0.0.1", port)
    threading.Thread(target=server.serve_forever, name="test-api", daemon=True).start()
    return server


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Embedded]:
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    settings = Settings.from_env({}, key_pepper=PEPPER, data_dir=tmp_path / "data", public_base_url=base_url)
    services = Services(settings, workflow=RecordingWorkflow(), resolver=FakeResolver(PUBLIC_DOMAINS))
    services.auth.create_tenant(TENANT, "Acme")
    services.auth.create_tenant("rival", "Rival")
    _, key = services.auth.issue_key(TENANT, name="test")
    _, rival_key = services.auth.issue_key("rival", name="test")
    set_services(services)
    server = _serve(port)
    try:
        yield Embedded(services, base_url, key, rival_key, tmp_path / "data" / "objects")
    finally:
        server.shutdown()
        server.server.server_close()
        set_services(None)


def _complete_scan(services: Services) -> str:
    scan = make_scan().model_copy(update={"tenant_id": TENANT, "completed_at": None})
    services.scans.repo.add(scan)
    services.reports.render_and_store(TENANT, scan.scan_id)
    services.scans.transition(TENANT, scan.scan_id, ScanStatus.COMPLETE)
    return scan.scan_id


def _report_link(env: Embedded, scan_id: str, fmt: str = "pdf") -> str:
    response = requests.get(f"{env.base_url}/v1/scans/{scan_id}/report?format={fmt}", allow_redirects=False,
                            headers={"Authorization": f"Bearer {env.key}"}, timeout=10)
    assert response.status_code == 302, response.text
    return str(response.headers["Location"])


def test_the_report_redirect_downloads_the_recorded_bytes_through_the_api(embedded: Embedded) -> None:
    scan_id = _complete_scan(embedded.services)
    scan = embedded.services.scans.get(TENANT, scan_id)
    for fmt, content_type in (("pdf", "application/pdf"), ("json", "application/json")):
        link = _report_link(embedded, scan_id, fmt)
        assert link.startswith(f"{embedded.base_url}/v1/downloads/")
        downloaded = requests.get(link, timeout=10)  # no API key: the link is the credential
        assert downloaded.status_code == 200, downloaded.text
        stored = (embedded.objects_root / scan.report_keys[fmt]).read_bytes()
        assert downloaded.content == stored  # byte for byte, binary PDF included
        assert hashlib.sha256(downloaded.content).hexdigest() == scan.report_sha256[fmt]
        assert downloaded.headers["Content-Type"] == content_type
        disposition = f'attachment; filename="perimeter-example.com-{scan_id}.{fmt}"'
        assert downloaded.headers["Content-Disposition"] == disposition
        assert downloaded.headers["Cache-Control"] == "private, no-store"
    pdf = requests.get(_report_link(embedded, scan_id), timeout=10).content
    assert pdf.startswith(b"%PDF-") and any(byte >= 0x80 for byte in pdf)


def test_a_requests_session_following_the_redirect_gets_the_pdf(embedded: Embedded) -> None:
    scan_id = _complete_scan(embedded.services)
    response = requests.get(f"{embedded.base_url}/v1/scans/{scan_id}/report",
                            headers={"Authorization": f"Bearer {embedded.key}", "Accept": "*/*"}, timeout=10)
    assert response.status_code == 200 and response.content.startswith(b"%PDF-")
    digest = embedded.services.scans.get(TENANT, scan_id).report_sha256["pdf"]
    assert hashlib.sha256(response.content).hexdigest() == digest


def _problem(response: requests.Response, status: int, code: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_forged_and_altered_links_are_refused(embedded: Embedded) -> None:
    scan_id = _complete_scan(embedded.services)
    link = _report_link(embedded, scan_id)
    payload, signature = urlsplit(link).path.removeprefix("/v1/downloads/").split(".")
    forger = FileObjectStore(embedded.objects_root, embedded.base_url, b"a guessed key, not the stack's key")
    forged = forger.presign(embedded.services.scans.get(TENANT, scan_id).report_keys["pdf"], 600, "r.pdf")
    flipped = signature[:-2] + ("A" if signature[-2] != "A" else "B") + signature[-1]
    for bad in (forged, f"{embedded.base_url}/v1/downloads/{payload}.{flipped}",
                f"{embedded.base_url}/v1/downloads/{payload}", f"{embedded.base_url}/v1/downloads/x"):
        _problem(requests.get(bad, timeout=10), 403, "link-invalid")


def test_an_expired_link_is_refused(embedded: Embedded) -> None:
    scan_id = _complete_scan(embedded.services)
    key = embedded.services.scans.get(TENANT, scan_id).report_keys["pdf"]
    past = FileObjectStore(embedded.objects_root, embedded.base_url, download_link_key(embedded.services.settings),
                           clock=lambda: time.time() - 901)
    _problem(requests.get(past.presign(key, 900, "r.pdf"), timeout=10), 403, "link-expired")
    assert requests.get(_report_link(embedded, scan_id), timeout=10).status_code == 200


def test_a_link_to_a_removed_object_is_not_found(embedded: Embedded) -> None:
    scan_id = _complete_scan(embedded.services)
    link = _report_link(embedded, scan_id)
    key = embedded.services.scans.get(TENANT, scan_id).report_keys["pdf"]
    (embedded.objects_root / key).unlink()
    _problem(requests.get(link, timeout=10), 404, "not-found")


def test_another_tenant_cannot_get_a_link_to_the_report(embedded: Embedded) -> None:
    scan_id = _complete_scan(embedded.services)
    response = requests.get(f"{embedded.base_url}/v1/scans/{scan_id}/report", allow_redirects=False,
                            headers={"Authorization": f"Bearer {embedded.rival_key}"}, timeout=10)
    assert response.status_code == 404


def test_downloads_answer_404_where_objects_are_not_file_backed(services: Services) -> None:
    with Client(app) as client:
        response = client.http.get("/v1/downloads/eyJrIjoieCJ9.c2ln")
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
