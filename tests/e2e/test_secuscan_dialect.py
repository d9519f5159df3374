"""SecuScan's documented flow on the embedded stack: launch a scope, poll, read findings, download signed
reports, and receive `secuscan` webhooks that SecuScan's verification logic accepts.

The webhook check is SecuScan's JavaScript snippet's logic reimplemented twice: in Python
(`verify_webhook` of the contract client) and as our own equivalent Node code run with `node -e`
(HMAC-SHA256 of the raw body, `'sha256=' + hex`, `crypto.timingSafeEqual` of the two buffers).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from chalicelib.local.stack import free_port
from tests.contract.clients.secuscan import Answer, SecuScan, verify_webhook
from tests.support.stack import RunningStack
from tests.support.webhook_receiver import verify

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

OWN_SECRET = "broker-chosen-secret-2026"
# Our own Node equivalent of SecuScan's snippet: exit 0 when verify(signature, body, secret) holds.
NODE_VERIFY = """
const crypto = require('node:crypto');
const body = Buffer.from(process.env.BODY_B64, 'base64');
const expected = 'sha256=' + crypto.createHmac('sha256', process.env.SECRET).update(body).digest('hex');
const given = Buffer.from(process.env.SIGNATURE);
const wanted = Buffer.from(expected);
process.exit(given.length === wanted.length && crypto.timingSafeEqual(given, wanted) ? 0 : 1);
"""


class Receiver:
    """Records every delivery: its headers and raw body."""

    def __init__(self) -> None:
        self.port = free_port()
        self.deliveries: list[tuple[dict[str, str], bytes, str]] = []
        got = self.deliveries

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                got.append(({k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(int(self.headers["Content-Length"])), self.path))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def events(self, path: str) -> list[tuple[dict[str, str], bytes, dict[str, Any]]]:
        return [(h, b, json.loads(b)) for h, b, p in list(self.deliveries) if p == path]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    yield running
    running.server.shutdown()
    running.server.server_close()


def _transport(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Answer:
    response = requests.request(method, url, headers=dict(headers), data=body or None, timeout=15,
                                allow_redirects=False)
    return Answer(response.status_code, {k.lower(): v for k, v in response.headers.items()}, response.content)


def node_accepts(signature: str, body: bytes, secret: str) -> bool:
    node = shutil.which("node")
    assert node, "node is needed to run the JavaScript verification"
    env = {**os.environ, "BODY_B64": base64.b64encode(body).decode(), "SECRET": secret, "SIGNATURE": signature}
    return subprocess.run([node, "-e", NODE_VERIFY], env=env, timeout=30, check=False).returncode == 0


def wait_for(receiver: Receiver, path: str, event: str, scan_id: str,
             timeout: float = 60) -> tuple[dict[str, str], bytes, dict[str, Any]]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for delivery in receiver.events(path):
            if delivery[2]["event"] == event and delivery[2]["data"].get("scan_id") == scan_id:
                return delivery
        time.sleep(0.2)
    raise AssertionError(f"no {event} for {scan_id} at {path}: {[d[2]['event'] for d in receiver.events(path)]}")


def test_secuscan_flow_end_to_end(stack: RunningStack, receiver: Receiver) -> None:
    client = SecuScan(f"{stack.base_url}/v1/secuscan", stack.api_key, _transport)
    own = client.register_webhook(receiver.url("/own"), ["scan.completed", "finding.created", "target.changed"],
                                  secret=OWN_SECRET)
    generated = client.register_webhook(receiver.url("/whsec"), ["scan.completed"])
    assert own["secret"] is None and generated["secret"].startswith("whsec_")

    created = client.launch_scan(["good.test", "bad.test"], scan_type="easm", priority="high")
    assert created["status"] == "queued" and created["eta_seconds"] > 0
    scan = client.wait(created["scan_id"], timeout=180)
    assert scan["status"] == "completed", scan
    by_target = {t["target"]: t for t in scan["targets"]}
    assert by_target["good.test"]["grade"] == "A" and by_target["bad.test"]["grade"] == "F"
    assert scan["grade"] == "F" and scan["score"] == by_target["bad.test"]["score"]

    critical = list(client.findings(scan["scan_id"], target="bad.test", severity="critical", per_page=5))
    assert critical and all(f["target"] == "bad.test" and f["severity"] == "critical" for f in critical)
    assert all(f["status"] in ("open", "resolved") for f in client.findings(scan["scan_id"]))
    assert not list(client.findings(scan["scan_id"], target="good.test", severity="critical"))

    html = client.report(scan["scan_id"], "html")  # the client checks X-Secuscan-Signature on every report
    assert b"bad.test" in html.body and b"good.test" in html.body and b"<script" not in html.body.lower()
    assert json.loads(client.report(scan["scan_id"], "json").body)["scan_id"] == scan["scan_id"]
    pdf = client.report(by_target["bad.test"]["report_id"], "pdf")
    assert pdf.body.startswith(b"%PDF") and pdf.headers["content-type"] == "application/pdf"

    headers, body, payload = wait_for(receiver, "/own", "scan.completed", scan["scan_id"])
    assert payload["data"]["status"] == "completed" and payload["data"]["scope"] == ["good.test", "bad.test"]
    assert headers["x-secuscan-event"] == "scan.completed"
    assert abs(int(headers["x-secuscan-timestamp"]) - time.time()) < 300
    finding_headers, finding_body, finding = wait_for(receiver, "/own", "finding.created", scan["scan_id"])
    assert finding["data"]["target"] == "bad.test" and finding["data"]["finding"]["severity"] in ("critical", "high")
    assert finding_headers["x-secuscan-event"] == "finding.created"
    for delivery_headers, raw in ((headers, body), (finding_headers, finding_body)):
        signature = delivery_headers["x-secuscan-signature"]
        assert verify_webhook(signature, raw, OWN_SECRET) and node_accepts(signature, raw, OWN_SECRET)
        assert not verify_webhook(signature, raw + b" ", OWN_SECRET) and not node_accepts(signature, raw, "other")
        assert {"webhook-id", "webhook-timestamp", "webhook-signature"} <= set(delivery_headers)

    w_headers, w_body, _ = wait_for(receiver, "/whsec", "scan.completed", scan["scan_id"])
    signature = w_headers["x-secuscan-signature"]
    assert verify_webhook(signature, w_body, generated["secret"]) and node_accepts(signature, w_body,
                                                                                   generated["secret"])
    verify([generated["secret"]], w_headers, w_body)  # Standard Webhooks, with the same secret
