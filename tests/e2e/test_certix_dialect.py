"""Cert-IX's documented flow on the embedded stack: webhook, nmap scan, poll, results, report, signed delivery.

The client is tests/contract/clients/certix.py (written from Cert-IX's documentation) over real HTTP.
Each of Cert-IX's verification snippets is reimplemented here (our own code): the Python one and the
Go one in Python (same computation, Go's byte comparison), the Node/Express one run with `node -e`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.local.stack import free_port
from tests.contract.clients.certix import CertixClient, requests_transport
from tests.support.lab import Lab
from tests.support.stack import RunningStack
from tests.support.webhook_receiver import verify

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
BASE = "/scan-api/api/v1"
OWN_SECRET = "certix-secret-the-partner-already-has"

# The Express handler's logic, our own code: raw body, x-webhook-signature, HMAC hex, timingSafeEqual
# (which throws on a length mismatch: a refusal), then JSON.parse and the fields it logs.
NODE_VERIFIER = r"""
const { createHmac, timingSafeEqual } = require("node:crypto");
const fs = require("fs");
const body = fs.readFileSync(process.argv[1]);
const header = process.env.SIGNATURE || "";
let ok = false;
if (header.startsWith("sha256=")) {
  const expected = createHmac("sha256", process.env.SECRET).update(body).digest("hex");
  try { ok = timingSafeEqual(Buffer.from(header.slice(7)), Buffer.from(expected)); } catch (e) { ok = false; }
}
if (!ok) { console.log(JSON.stringify({status: 401})); process.exit(0); }
const payload = JSON.parse(body);
console.log(JSON.stringify({status: 200, event: payload.event, scanId: payload.data.scanId,
                            resultCount: payload.data.resultCount, error: payload.data.error}));
"""


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A loopback webhook receiver that keeps each delivery's raw body and headers."""

    port: int = field(default_factory=free_port)
    got: list[Received] = field(default_factory=list)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def serve(self) -> ThreadingHTTPServer:
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                got.append(Received(self.path, dict(self.headers.items()), body))
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return server

    def wait_for(self, path: str, event: str, scan_id: str, timeout: float = 30) -> Received:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.got:
                payload = json.loads(item.body)
                if item.path == path and payload["event"] == event and payload["data"].get("scanId") == scan_id:
                    return item
            time.sleep(0.1)
        raise AssertionError(f"no {event} for {scan_id} at {path}: {[r.path for r in self.got]}")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    server = made.serve()
    yield made
    server.shutdown()
    server.server_close()


def go_snippet_accepts(body: bytes, header: str, secret: str) -> bool:
    """The Go snippet's logic: HasPrefix, header[7:], hex of the HMAC, hmac.Equal on the bytes."""
    if not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest().encode()
    return hmac.compare_digest(header[7:].encode(), expected)


def node_snippet(tmp_path: Path, body: bytes, header: str, secret: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node, "node is needed to run the Express handler's logic"
    raw = tmp_path / "delivery.json"
    raw.write_bytes(body)
    done = subprocess.run([node, "-e", NODE_VERIFIER, str(raw)], capture_output=True, text=True, timeout=30,
                          env={"SIGNATURE": header, "SECRET": secret}, check=True)
    return dict(json.loads(done.stdout))


def test_cert_ix_documented_flow_end_to_end(stack: RunningStack, lab: Lab, receiver: Receiver,
                                            tmp_path: Path) -> None:
    client = CertixClient(stack.api_key, stack.base_url + BASE, requests_transport,
                              sleep=lambda s: time.sleep(min(s, 0.5)))
    kept = client.create_webhook("Scan notifications", receiver.url("/webhooks/certix"),
                                 ["scan.completed", "scan.failed"], secret=OWN_SECRET)
    fresh = client.create_webhook("New receiver", receiver.url("/webhooks/fresh"), ["scan.completed"])
    whsec = fresh["secret"]
    assert kept["format"] == fresh["format"] == "certix" and whsec.startswith("whsec_")

    scan = client.create_scan("good.test", "nmap", name="Network audit",
                              options={"ports": "80,443", "timing": "T4", "serviceDetection": True})
    assert scan["status"] == "queued" and scan["scanType"] == "nmap"
    final = client.poll(scan["id"], "nmap", limit=120, every=0.5)
    assert final["status"] == "completed", final
    assert final["progress"] == 100 and final["durationMs"] is not None and final["durationMs"] >= 0

    results = client.results(scan["id"], "nmap")
    assert {80, 443} <= {s["port"] for s in results["services"]}, results["services"]
    assert results["summary"]["total"] == len(results["findings"]) == final["resultCount"]
    assert sum(v for k, v in results["summary"].items() if k != "total") == results["summary"]["total"]

    link = client.raw("GET", f"/scans/{scan['id']}/report", params={"scanType": "nmap"},
                      headers={"Accept": "application/json"}).json()["data"]
    pdf = requests.get(link["url"], timeout=15).content
    assert pdf.startswith(b"%PDF-") and hashlib.sha256(pdf).hexdigest() == link["sha256"]
    redirect = client.raw("GET", f"/scans/{scan['id']}/report", params={"scanType": "nmap"})
    assert redirect.status == 302 and requests.get(str(redirect.header("Location")), timeout=15).content == pdf

    for path, secret, standard in (("/webhooks/certix", OWN_SECRET, kept["secret"]), ("/webhooks/fresh", whsec, whsec)):
        delivery = receiver.wait_for(path, "scan.completed", scan["id"])
        signature = delivery.headers["X-Webhook-Signature"]
        assert CertixClient.signature_ok(delivery.body, signature, secret)  # the Python snippet
        assert go_snippet_accepts(delivery.body, signature, secret)
        assert node_snippet(tmp_path, delivery.body, signature, secret) == {
            "status": 200, "event": "scan.completed", "scanId": scan["id"], "resultCount": final["resultCount"],
            "error": None}
        assert node_snippet(tmp_path, delivery.body, signature, "not-the-secret")["status"] == 401
        assert not go_snippet_accepts(delivery.body + b"\n", signature, secret)
        verify([standard], delivery.headers, delivery.body)  # Standard Webhooks: the whsec_ secret shown


def test_cert_ix_trivy_and_zap_on_the_stack(stack: RunningStack, lab: Lab) -> None:
    """zap on a host nobody verified is 403 TARGET_NOT_VERIFIED; a trivy scan of an image its registry cannot
    serve (the lab's good.test is no registry) runs through the pipeline and reads failed, so the CI step fails."""
    client = CertixClient(stack.api_key, stack.base_url + BASE, requests_transport,
                          sleep=lambda s: time.sleep(min(s, 0.5)))
    refused = client.raw("POST", "/scans", json_body={"target": "https://good.test/", "scanType": "zap"})
    error = refused.json()
    assert (refused.status, error["code"], error["field"], error["value"]) == (
        403, "TARGET_NOT_VERIFIED", "target", "good.test"), error
    assert error["verifyUrl"].endswith("/v1/targets") and "good.test" in error["error"]

    options = {"scanners": ["vuln", "misconfig", "secret"], "severity": ["CRITICAL", "HIGH"], "ignoreUnfixed": True}
    scan = client.create_scan("good.test/acme/app:1.0", "trivy", priority="high", options=options)
    assert (scan["scanType"], scan["status"], scan["options"]) == ("trivy", "queued", options)
    final = client.poll(scan["id"], "trivy", limit=120, every=0.5)
    assert final["status"] == "failed" and final["error"] and final["errorCode"], (final, stack.output[-30:])
