"""CyperSecurity's documented flow against the embedded stack, by a client that only changed its base URL and key.

Create an nmap scan of the lab's bad.test, poll in CyperSecurity's statuses until completed, read
services and vulnerabilities, generate the report and download the PDF (requests follows the 302 as
it does by default), and receive `scan.completed` on two loopback endpoints: one in the Python
signature style, checked with the Python snippet's logic, one in the Node style, checked by running
our own equivalent of the Node snippet with `node -e`. Both also carry valid Standard Webhooks headers.
The organization and team endpoints run on a stack of their own: update the organization, invite a
member, read the invitation from the local outbox, accept it on /v1, and the new member's key reads
but cannot change the organization.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from chalicelib.local.stack import free_port
from tests.contract.clients import wire
from tests.contract.clients.cypersecurity import (
    CyperSecurityClient,
    CyperSecurityError,
    verify_webhook,
    verify_webhook_node,
)
from tests.e2e.conftest import E2E_PORTS
from tests.support.httpserver import LocalHTTPServer
from tests.support.httpserver import Response as Canned
from tests.support.lab import Lab
from tests.support.stack import BOOTSTRAP_KEY, RunningStack, start_stack
from tests.support.webhook_receiver import verify

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
SECRET = "cyper-e2e-secret-0001"
TOKEN = re.compile(r"pmi_[A-Za-z0-9_-]{43}")


requests_transport = wire.requests_transport(follow_redirects=True)  # as `requests` does by default


class Hooks:
    """A loopback receiver keeping every request's path, headers and raw body."""

    def __init__(self) -> None:
        self.port = free_port()
        self.got: list[tuple[str, dict[str, str], bytes]] = []
        got = self.got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                got.append((self.path, dict(self.headers.items()),
                            self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def wait_for(self, path: str, event: str, scan_id: str, timeout: float) -> tuple[dict[str, str], bytes]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for got_path, headers, body in list(self.got):
                payload = json.loads(body)
                if got_path == path and payload["event"] == event and payload["data"].get("scan_id") == scan_id:
                    return headers, body
            time.sleep(0.2)
        raise AssertionError(f"no {event} for {scan_id} at {path}: {[(p, b[:200]) for p, _, b in self.got]}")


@pytest.fixture
def vulnerable(lab: Lab) -> Iterator[int]:
    """An Apache httpd 2.4.49 (CVE-2021-41773) on a free port of bad.test inside the scanned range, for this test."""
    for port in range(600, 700):
        server = LocalHTTPServer(lab.bad, port=port, default=Canned(200, [("Server", "Apache/2.4.49 (Unix)")], b"ok"))
        try:
            server.start()
        except OSError:
            continue
        yield port
        server.stop()
        return
    pytest.skip("no free port for the vulnerable web server")


@pytest.fixture
def hooks() -> Iterator[Hooks]:
    receiver = Hooks()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


def test_the_documented_flow_end_to_end(stack: RunningStack, hooks: Hooks, vulnerable: int) -> None:
    cyper = CyperSecurityClient(f"{stack.base_url}/compat/cypersecurity/v1", stack.api_key, requests_transport)
    endpoints = {style: cyper.create_webhook(hooks.url(f"/{style}"), ["scan.completed", "critical.finding"], SECRET,
                                             signature_style=style) for style in ("python", "node")}

    scan = cyper.create_scan("bad.test", "nmap", {"ports": E2E_PORTS, "service_detection": False})
    seen = {scan["status"]}
    deadline = time.monotonic() + 90
    while scan["status"] not in ("completed", "failed") and time.monotonic() < deadline:
        time.sleep(0.2)
        scan = cyper.get_scan(scan["id"])
        seen.add(scan["status"])
    assert scan["status"] == "completed", (scan, stack.output[-30:])
    assert seen <= {"pending", "running", "completed"} and scan["type"] == "nmap"
    services = {s["port"]: s for s in scan["results"]["services"]}
    assert {80, 443} <= set(services) and services[80]["service"] == "http" and services[80]["protocol"] == "tcp"
    assert services[80]["version"] and "Apache" in services[80]["version"], services[80]
    assert services[vulnerable]["version"] == "Apache httpd 2.4.49", services[vulnerable]
    vulnerabilities = scan["results"]["vulnerabilities"]
    assert "CVE-2021-41773" in {v["cve_id"] for v in vulnerabilities}, vulnerabilities
    assert all(v["cve_id"].startswith("CVE-") and v["title"] and v["severity"] for v in vulnerabilities)
    assert all(v["cvss_score"] is None or 0 <= v["cvss_score"] <= 10 for v in vulnerabilities)
    assert scan["findings_count"] >= len(vulnerabilities)

    listed = cyper.list_scans(status="completed", limit=100)
    assert scan["id"] in {s["id"] for s in listed["scans"]} and listed["total"] >= 1

    report = cyper.generate_report(scan["id"])
    assert report["status"] == "completed" and report["download_url"].startswith(stack.base_url)
    pdf = cyper.download_report(report["report_id"])
    assert pdf.status == 200 and pdf.headers["Content-Type"] == "application/pdf" and pdf.body.startswith(b"%PDF-")

    for style in ("python", "node"):
        headers, body = hooks.wait_for(f"/{style}", "scan.completed", scan["id"], timeout=30)
        signature = headers["X-Webhook-Signature"]
        accepted = (verify_webhook(json.loads(body), signature, SECRET) if style == "python"
                    else verify_webhook_node(body, signature, SECRET))
        assert accepted, style
        payload = json.loads(body)
        assert payload["data"] == {"scan_id": scan["id"], "target": "bad.test",
                                   "findings_count": scan["findings_count"], "critical_count": scan["critical_count"]}
        verify([endpoints[style]["standard_webhooks_secret"]], headers, body)
        assert "X-Perimeter-Signature" not in headers


def test_zap_and_sqlmap_on_a_host_nobody_verified_are_refused(stack: RunningStack) -> None:
    cyper = CyperSecurityClient(f"{stack.base_url}/compat/cypersecurity/v1", stack.api_key, requests_transport)
    for kind in ("zap", "sqlmap"):
        with pytest.raises(CyperSecurityError) as refused:
            cyper.create_scan("good.test", kind)
        error = refused.value
        assert (error.status, error.code, error.details["field"], error.details["value"]) == (
            403, "invalid_request", "target", "good.test")
        assert error.details["verify_url"].endswith("/v1/targets") and "proven" in error.message


@pytest.fixture(scope="module")
def account_stack() -> Iterator[RunningStack]:
    """A stack of its own (no lab: nothing here scans), so the session stack's organization stays as it was."""
    running = start_stack({"PERIMETER_RATE_LIMIT": "100000"}, timeout=60)
    yield running
    assert running.stop() == 0, "\n".join(running.output[-40:])


def test_organization_and_team_through_the_dialect(account_stack: RunningStack) -> None:
    base = f"{account_stack.base_url}/compat/cypersecurity/v1"
    cyper = CyperSecurityClient(base, BOOTSTRAP_KEY, requests_transport)
    updated = cyper.update_organization("Local Security", "technology")
    assert (updated["id"], updated["name"], updated["industry"]) == ("local", "Local Security", "technology")
    assert cyper.get_organization() == updated

    invited = cyper.invite_member("ann@example.com", "member")
    assert invited["status"] == "invited" and cyper.list_team_members()["total"] == 1
    [message_file] = list((account_stack.data_dir / "outbox").glob("*.json"))
    message = json.loads(message_file.read_text())
    found = TOKEN.search(message["text"])
    assert message["to"] == "ann@example.com" and found is not None and found.group(0) not in json.dumps(invited)

    accepted = requests.post(f"{account_stack.base_url}/v1/team/invitations/accept",
                             json={"token": found.group(0), "name": "Ann"}, timeout=15)
    assert accepted.status_code == 200, accepted.text
    [member] = cyper.list_team_members()["members"]
    assert (member["id"], member["status"], member["name"]) == (invited["id"], "active", "Ann")

    ann = CyperSecurityClient(base, accepted.json()["api_key"], requests_transport)
    assert ann.get_organization()["name"] == "Local Security"
    with pytest.raises(CyperSecurityError) as refused:
        ann.update_organization("Ann's", "crime")
    assert (refused.value.status, refused.value.code, refused.value.details) == (
        403, "invalid_request", {"required_role": "owner"})
