"""The `certiq` webhook format: CertIQ's payload, event names and headers, accepted by each of its snippets' logic.

Ruby and Python snippets are reimplemented in Python; the Node snippet's logic runs under `node -e`
(tests/contract/clients/certiq.py). Deliveries go through the real webhook service and consumer.
"""

from __future__ import annotations

import json
import shutil
from typing import Any

import pytest

from chalicelib.scans.models import GradeCap, ScanStatus
from chalicelib.scans.service import publish_scan_event
from chalicelib.webhooks.service import CreateWebhook
from tests.contract.clients.certiq import VERIFIERS, verify_like_python
from tests.support.fakes import ManualClock
from tests.support.webhook_receiver import verify
from tests.unit.reports.factories import make_scan
from tests.unit.webhooks.harness import HOST, Harness, ScriptedSender, build

URL = f"http://{HOST}:8080/certiq"
SECRET = "certiq-partner-secret-0001"
BASE = "https://perimeter.example"
# CertIQ's documented scan.completed payload, in its order.
PAYLOAD_KEYS = ["event", "scan_token", "status", "score", "combined_score", "sa_complete", "grade", "report_url",
                "completed_at"]

needs_node = pytest.mark.skipif(shutil.which("node") is None, reason="node is not installed")


def harness() -> tuple[Harness, ScriptedSender, str]:
    clock = ManualClock()
    sender = ScriptedSender(clock)
    h = build(clock=clock, deliver_fn=sender)
    _, whsec = h.service.create("acme", CreateWebhook.model_validate(
        {"url": URL, "events": ["*"], "format": "certiq", "secret": SECRET}))
    return h, sender, whsec


def completed_scan() -> Any:
    return make_scan().model_copy(update={
        "tenant_id": "acme", "status": ScanStatus.COMPLETE, "grade": "C", "report_keys": {"pdf": "k"},
        "caps": [GradeCap(code="kev", max_grade="C", reason="A known-exploited product")]})


@needs_node
def test_scan_completed_is_certiqs_payload_signed_as_every_snippet_verifies() -> None:
    h, sender, whsec = harness()
    scan = completed_scan()
    publish_scan_event(h.service, scan, "scan.completed", BASE)
    h.drain()
    [sent] = sender.calls
    payload = json.loads(sent.body)
    assert list(payload) == PAYLOAD_KEYS
    assert payload["event"] == "scan.completed" and sent.headers["X-CertIQ-Event"] == "scan.completed"
    assert (payload["scan_token"], payload["status"], payload["score"], payload["grade"]) == (
        scan.scan_id, "complete", scan.score, "C")
    assert (payload["combined_score"], payload["sa_complete"]) == (None, False)
    assert payload["report_url"] == f"{BASE}/api/v1/scans/{scan.scan_id}/report"
    assert payload["completed_at"].endswith("Z") and len(payload["completed_at"]) == 20
    assert sent.headers["X-CertIQ-Signature"].startswith("sha256=")
    for verifier in VERIFIERS:
        assert verifier(SECRET, sent.headers, sent.body)["scan_token"] == scan.scan_id, verifier.__name__
    verify([whsec], sent.headers, sent.body, now=int(h.clock.time()))  # Standard Webhooks too
    assert "X-Perimeter-Signature" not in sent.headers


@needs_node
@pytest.mark.parametrize("tamper", ["body", "secret", "header"])
def test_every_snippet_refuses_a_forged_delivery(tamper: str) -> None:
    h, sender, _ = harness()
    publish_scan_event(h.service, completed_scan(), "scan.completed", BASE)
    h.drain()
    [sent] = sender.calls
    body, secret, headers = sent.body, SECRET, dict(sent.headers)
    if tamper == "body":
        body = body.replace(b'"grade":"C"', b'"grade":"A"')
    elif tamper == "secret":
        secret = "another-secret-entirely"
    else:
        del headers["X-CertIQ-Signature"]
    for verifier in VERIFIERS:
        with pytest.raises(ValueError, match="401"):
            verifier(secret, headers, body)


def test_events_certiq_does_not_have_are_not_sent_to_a_certiq_endpoint() -> None:
    h, sender, _ = harness()
    scan = completed_scan()
    for status, event in ((ScanStatus.FAILED, "scan.failed"), (ScanStatus.CANCELLED, "scan.cancelled"),
                          (ScanStatus.SCANNING, "scan.started")):
        publish_scan_event(h.service, scan.model_copy(update={"status": status}), event, BASE)
    h.drain()
    assert sender.calls == []


def test_the_test_event_is_webhook_test_and_verifies() -> None:
    h, sender, _ = harness()
    [endpoint] = [e for e, _ in h.repo.list_endpoints("acme", limit=10, forward=True)]
    h.service.send_test("acme", endpoint.webhook_id)
    h.drain()
    [sent] = sender.calls
    assert sent.headers["X-CertIQ-Event"] == "webhook.test"
    payload = verify_like_python(SECRET, sent.headers, sent.body)
    assert payload["event"] == "webhook.test" and payload["scan_token"] is None and payload["message"]


def test_without_a_secret_of_its_own_the_whsec_secret_signs_the_certiq_header() -> None:
    clock = ManualClock()
    sender = ScriptedSender(clock)
    h = build(clock=clock, deliver_fn=sender)
    _, whsec = h.service.create("acme", CreateWebhook.model_validate(
        {"url": URL, "events": ["scan.completed"], "format": "certiq"}))
    publish_scan_event(h.service, completed_scan(), "scan.completed", BASE)
    h.drain()
    [sent] = sender.calls
    assert verify_like_python(whsec, sent.headers, sent.body)["event"] == "scan.completed"
