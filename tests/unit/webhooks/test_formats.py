"""Webhook formats: per-endpoint payloads, event names, headers and signatures, with Standard Webhooks always."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.webhooks import formats
from chalicelib.webhooks.service import CreateWebhook
from tests.support.fakes import ManualClock
from tests.support.webhook_receiver import verify
from tests.unit.webhooks.harness import HOST, ScriptedSender, build

URL = f"http://{HOST}:8080/hook"
PLAIN_URL = f"http://{HOST}:8080/plain"
OWN_SECRET = "partner-chosen-secret-0001"


class VendorFormat:
    """A format as a vendor dialect writes one: its own event names, payload and signature header."""

    name = "test-vendor"
    NAMES = {"scan.completed": "job.done", "webhook.test": "ping"}

    def event_name(self, event: str) -> str | None:
        return self.NAMES.get(event)

    def body(self, event_id: str, event: str, created_at: datetime, data: Mapping[str, Any]) -> str:
        return json.dumps({"type": self.NAMES[event], "payload": {"token": data.get("scan_token")}}, sort_keys=True)

    def headers(self, *, event_id: str, event: str, delivery_id: str, body: bytes, secrets: Sequence[str],
                timestamp: int) -> dict[str, str]:
        return {"X-Vendor-Signature": hmac.new(secrets[0].encode(), body, hashlib.sha256).hexdigest(),
                "X-Vendor-Event": self.NAMES[event]}


@pytest.fixture
def vendor() -> Iterator[VendorFormat]:
    fmt = VendorFormat()
    formats.FORMATS[fmt.name] = fmt
    yield fmt
    del formats.FORMATS[fmt.name]


def test_an_unknown_format_is_refused_naming_the_known_ones() -> None:
    with pytest.raises(ValidationError, match=r"unknown format 'acme'.*perimeter"):
        CreateWebhook.model_validate({"url": URL, "events": ["*"], "format": "acme"})


def test_a_secret_of_ones_own_must_be_16_visible_characters() -> None:
    with pytest.raises(ValidationError, match="16 to 256 visible ASCII"):
        CreateWebhook.model_validate({"url": URL, "events": ["*"], "secret": "too short"})


def test_a_vendor_endpoint_gets_the_vendor_payload_headers_and_signature_plus_standard_webhooks(
        vendor: VendorFormat) -> None:
    clock = ManualClock()
    sender = ScriptedSender(clock)
    h = build(clock=clock, deliver_fn=sender)
    endpoint, whsec = h.service.create("acme", CreateWebhook.model_validate(
        {"url": URL, "events": ["*"], "format": vendor.name, "secret": OWN_SECRET}))
    h.register(PLAIN_URL, ["scan.completed"])
    h.service.publish("acme", "scan.completed", {"scan_token": "scn_1", "score": 91})
    h.drain()
    calls = {c.url: c for c in sender.calls}
    sent = calls[URL]
    assert json.loads(sent.body) == {"payload": {"token": "scn_1"}, "type": "job.done"}
    assert sent.headers["X-Vendor-Event"] == "job.done"
    # The vendor header is keyed with the partner's own secret, exactly as the vendor's snippet computes it ...
    assert sent.headers["X-Vendor-Signature"] == hmac.new(OWN_SECRET.encode(), sent.body, hashlib.sha256).hexdigest()
    # ... and the Standard Webhooks headers with the whsec_ secret shown at creation.
    verify([whsec], sent.headers, sent.body, now=int(h.clock.time()))
    assert "X-Perimeter-Signature" not in sent.headers
    assert json.loads(calls[PLAIN_URL].body)["event"] == "scan.completed"
    assert endpoint.partner_secret is not None and OWN_SECRET not in endpoint.model_dump_json()


def test_an_event_the_format_has_no_name_for_is_not_delivered_to_it(vendor: VendorFormat) -> None:
    h = build()
    h.service.create("acme", CreateWebhook.model_validate({"url": URL, "events": ["*"], "format": vendor.name}))
    assert h.service.publish("acme", "scan.failed", {"scan_token": "scn_1"}) == []
    assert len(h.service.publish("acme", "scan.completed", {"scan_token": "scn_1"})) == 1


def test_without_a_secret_of_its_own_the_format_signs_with_the_whsec_secret(vendor: VendorFormat) -> None:
    clock = ManualClock()
    sender = ScriptedSender(clock)
    h = build(clock=clock, deliver_fn=sender)
    endpoint, whsec = h.service.create("acme", CreateWebhook.model_validate(
        {"url": URL, "events": ["*"], "format": vendor.name}))
    h.service.send_test("acme", endpoint.webhook_id)
    h.drain()
    [sent] = sender.calls
    assert json.loads(sent.body)["type"] == "ping"
    assert sent.headers["X-Vendor-Signature"] == hmac.new(whsec.encode(), sent.body, hashlib.sha256).hexdigest()
