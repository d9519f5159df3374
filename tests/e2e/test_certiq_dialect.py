"""CertIQ's documented flow on the embedded stack: a CertIQ client changes only its base URL and key.

Create a scan of the lab's good.test, poll in CertIQ's vocabulary, read the result, download the PDF
as `curl -o` does (no redirect followed), and receive `scan.completed` in CertIQ's format, accepted
by the logic of each of CertIQ's verification snippets (Ruby and Python reimplemented in Python,
Node run by `node -e`); the payload's report URL is fetched with the partner's key.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from chalicelib.local.stack import free_port
from tests.contract.clients.certiq import VERIFIERS, CertiqClient, requests_transport
from tests.support.stack import RunningStack

pytestmark = [pytest.mark.e2e, pytest.mark.slow,
              pytest.mark.skipif(shutil.which("node") is None, reason="node runs CertIQ's Node snippet's logic")]
SECRET = "certiq-e2e-partner-secret"


class RawReceiver:
    """A loopback webhook receiver keeping each delivery's raw body and headers."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/webhooks/certiq"
        self.got: list[tuple[dict[str, str], bytes]] = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers["Content-Length"]))
                got.append((dict(self.headers.items()), raw))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, token: str, timeout: float = 30.0) -> tuple[dict[str, str], bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for headers, raw in list(self.got):
                if json.loads(raw).get("scan_token") == token:
                    return headers, raw
            time.sleep(0.1)
        raise AssertionError(f"no delivery for {token}: {self.got}")

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[RawReceiver]:
    made = RawReceiver()
    yield made
    made.stop()


def test_a_certiq_integration_runs_unchanged_against_perimeter(stack: RunningStack, receiver: RawReceiver) -> None:
    key = stack.api_key
    hook = requests.post(f"{stack.base_url}/v1/webhooks", headers={"Authorization": f"Bearer {key}"}, timeout=10,
                         json={"url": receiver.url, "events": ["scan.completed"], "format": "certiq",
                               "secret": SECRET})
    assert hook.status_code == 201, hook.text
    client = CertiqClient(f"{stack.base_url}/api/v1", key, requests_transport(), poll_seconds=0.2)

    created = client.create_scan("https://good.test/quote/intake")
    assert created["status"] == "pending" and created["status_url"].endswith(f"/api/v1/scans/{created['scan_token']}")
    token = created["scan_token"]
    early = client.request("GET", f"scans/{token}/report")
    assert early.status == 409 and early.json() == {"error": "Scan is still running"}
    scan = client.wait(token, timeout=90)
    assert scan["domain"] == "good.test" and scan["grade"] == "A" and scan["combined_grade"] == "A"
    assert scan["certiq_ready"] is True and scan["sa_complete"] is False and scan["self_assessment"] == {}
    assert {"scan", "breach", "reputation", "mail", "layer"} <= set(scan["signals"])

    pdf = client.download_report(token)  # one GET, no redirect followed: the file is the PDF
    assert pdf.startswith(b"%PDF-") and len(pdf) > 1000
    link = requests.get(f"{stack.base_url}/v1/scans/{token}/report", timeout=10,
                        headers={"Authorization": f"Bearer {key}", "Accept": "application/json"}).json()
    assert hashlib.sha256(pdf).hexdigest() == link["sha256"]

    headers, raw = receiver.wait_for(token)
    assert headers["X-CertIQ-Event"] == "scan.completed" and headers["Content-Type"] == "application/json"
    assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= {h.lower() for h in headers}
    for verifier in VERIFIERS:
        payload = verifier(SECRET, headers, raw)
        assert (payload["event"], payload["scan_token"], payload["status"]) == ("scan.completed", token, "complete")
    assert payload["report_url"] == scan["report_url"] == f"{stack.base_url}/api/v1/scans/{token}/report"
    fetched = requests.get(payload["report_url"], headers={"Authorization": f"Bearer {key}"}, timeout=10,
                           allow_redirects=False)
    assert fetched.status_code == 200 and fetched.content == pdf


def test_refusals_of_the_embedded_server_speak_certiq_too(stack: RunningStack) -> None:
    """A body with an unknown key is refused before it is read, in CertIQ's shape under /api/v1."""
    answer = requests.post(f"{stack.base_url}/api/v1/scans", json={"domain": "good.test"}, timeout=10,
                           headers={"Authorization": "Bearer pk_live_unknown"})
    assert answer.status_code == 401 and answer.json() == {"error": "Unauthorised"}
    assert answer.headers["Content-Type"] == "application/json"
    document = requests.get(f"{stack.base_url}/api/v1/openapi.json", timeout=10).json()
    assert document["servers"] == [{"url": f"{stack.base_url}/api/v1"}] and "/scans/{token}/report" in document["paths"]
