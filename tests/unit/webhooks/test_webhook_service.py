"""WebhookService on fakes: secrets shown once and stored wrapped, tenant isolation, validation, rotation, publish."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from chalicelib.bootstrap import Services
from chalicelib.core.errors import ConfigurationError, NotFound, QueueUnavailable, Unprocessable, WebhookLimitReached
from chalicelib.core.secretbox import SecretBox, SecretUnwrapError
from chalicelib.core.settings import Settings
from chalicelib.webhooks.models import DeliveryMessage, DeliveryStatus
from chalicelib.webhooks.service import CreateWebhook
from chalicelib.webhooks.signing import SECRET_PREFIX, secret_key, sign
from tests.conftest import PEPPER
from tests.support.fakes import FakeResolver, ManualClock
from tests.support.memory import MemoryQueue, MemoryStore
from tests.support.webhook_receiver import SignatureError, verify
from tests.unit.webhooks.harness import HOST, Harness, build

URL = f"http://{HOST}:8080/hook"


@pytest.fixture
def h() -> Harness:
    return build()


def _all_stored_text(h: Harness) -> str:
    assert isinstance(h.store, MemoryStore)
    return json.dumps([r.data for r in h.store._items.values()])


def test_create_returns_a_fresh_secret_once_and_stores_it_only_wrapped(h: Harness) -> None:
    endpoint, secret = h.register(URL, ["scan.completed"])
    assert secret.startswith(SECRET_PREFIX) and len(secret_key(secret)) == 32
    assert secret not in _all_stored_text(h) and secret[len(SECRET_PREFIX):] not in _all_stored_text(h)
    again = h.service.get("acme", endpoint.webhook_id)
    assert secret not in again.model_dump_json()
    listed, _ = h.service.list_webhooks("acme")
    assert secret not in json.dumps([e.model_dump(mode="json") for e in listed])
    assert h.service.signing_secrets(again, h.clock.now()) == [secret]  # recoverable to sign, by the service only
    _, other = h.register(URL)
    assert other != secret


def test_another_tenants_webhook_is_not_found_everywhere(h: Harness) -> None:
    endpoint, _ = h.register(URL, tenant="acme")
    [delivery_id] = h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    wid = endpoint.webhook_id
    for call in (lambda: h.service.get("rival", wid), lambda: h.service.delete("rival", wid),
                 lambda: h.service.rotate_secret("rival", wid), lambda: h.service.send_test("rival", wid),
                 lambda: h.service.list_deliveries("rival", wid),
                 lambda: h.service.redeliver("rival", wid, delivery_id)):
        with pytest.raises(NotFound):
            call()
    assert h.service.publish("rival", "scan.started", {"scan_token": "scn_1"}) == []
    assert h.service.get("acme", wid).webhook_id == wid


@pytest.mark.parametrize(("url", "code"), [
    ("http://example.com/hook", "webhook-url-not-allowed"),  # plain http outside the allowed ranges
    ("https://internal.example/hook", "webhook-url-not-allowed"),
    ("https://metadata.example/hook", "webhook-url-not-allowed"),
    ("https://169.254.169.254/latest", "webhook-url-not-allowed"),
    ("https://2852039166/", "webhook-url-not-allowed"),
    ("https://[::ffff:127.0.0.1]/", "webhook-url-not-allowed"),
    ("https://user:pw@example.com/", "webhook-url-not-allowed"),
    ("ftp://example.com/", "webhook-url-not-allowed"),
    ("https://nope.example/", "invalid-webhook-url"),
])
def test_registration_refuses_urls_the_guard_refuses(url: str, code: str) -> None:
    resolver = FakeResolver({"example.com": ["93.184.216.34"], "internal.example": ["10.0.0.5"],
                             "metadata.example": ["169.254.169.254"]})
    h = build(resolver=resolver, allowed=())
    with pytest.raises(Unprocessable) as info:
        h.register(url)
    assert info.value.code == code
    assert h.service.list_webhooks("acme") == ([], None)


@pytest.mark.parametrize("events", [[], ["scan.done"], ["SCAN.STARTED"], "scan.started", [""]])
def test_unknown_or_empty_event_lists_are_refused(events: Any) -> None:
    with pytest.raises(ValidationError):
        CreateWebhook.model_validate({"url": "https://example.com/", "events": events})


def test_events_are_deduplicated_and_a_wildcard_stands_alone() -> None:
    assert CreateWebhook.model_validate({"url": "u", "events": ["scan.failed", "scan.failed"]}).events == [
        "scan.failed"]
    assert CreateWebhook.model_validate({"url": "u", "events": ["scan.failed", "*"]}).events == ["*"]
    with pytest.raises(ValidationError):
        CreateWebhook.model_validate({"url": "u", "events": ["*"], "secret": "mine"})  # mass assignment


def test_a_tenant_has_a_bounded_number_of_endpoints() -> None:
    h = build()
    h.service._max_endpoints = 2
    h.register(URL)
    h.register(URL)
    with pytest.raises(WebhookLimitReached):
        h.register(URL)
    h.register(URL, tenant="rival")


def test_rotation_signs_with_both_secrets_for_24_hours_then_only_the_new_one() -> None:
    clock = ManualClock()
    h = build(clock=clock)
    endpoint, old = h.register(URL)
    rotated, new = h.service.rotate_secret("acme", endpoint.webhook_id)
    assert new != old and rotated.previous_secret_expires_at(clock.now()) == clock.now() + timedelta(hours=24)
    body = b'{"id":"evt_1"}'
    for hours, expected in ((0, [new, old]), (23.9, [new, old]), (24.1, [new])):
        at = clock.now() + timedelta(hours=hours)
        secrets = h.service.signing_secrets(h.service.get("acme", endpoint.webhook_id), at)
        assert secrets == expected
        headers = sign(secrets, "evt_1", int(at.timestamp()), body)
        verify([new], headers, body, now=int(at.timestamp()))
        if old in expected:
            verify([old], headers, body, now=int(at.timestamp()))
        else:
            with pytest.raises(SignatureError):
                verify([old], headers, body, now=int(at.timestamp()))


def test_rotating_twice_keeps_every_secret_inside_its_overlap() -> None:
    clock = ManualClock()
    h = build(clock=clock)
    endpoint, first = h.register(URL)
    _, second = h.service.rotate_secret("acme", endpoint.webhook_id)
    clock.advance(3600)
    _, third = h.service.rotate_secret("acme", endpoint.webhook_id)
    current = h.service.get("acme", endpoint.webhook_id)
    assert h.service.signing_secrets(current, clock.now()) == [third, second, first]
    assert h.service.signing_secrets(current, clock.now() + timedelta(hours=23, minutes=30)) == [third, second]


def test_publish_reaches_active_subscribed_endpoints_with_one_event_id(h: Harness) -> None:
    completed, _ = h.register(URL, ["scan.completed"])
    everything, _ = h.register(URL, ["*"])
    h.register(URL, ["scan.failed"])
    ids = h.service.publish("acme", "scan.completed", {"scan_token": "scn_1", "status": "complete", "score": 88,
                                                         "grade": "B", "report_url": "https://x/report"})
    assert len(ids) == 2
    assert isinstance(h.queue, MemoryQueue)
    messages = [DeliveryMessage.decode(b) for b in h.queue.bodies()]
    assert {m.webhook_id for m in messages} == {completed.webhook_id, everything.webhook_id}
    assert {m.attempt for m in messages} == {1}
    deliveries = [h.delivery("acme", m.webhook_id, m.delivery_id) for m in messages]
    assert len({d.event_id for d in deliveries}) == 1 and deliveries[0].body == deliveries[1].body
    body = json.loads(deliveries[0].body)
    assert list(body)[:3] == ["id", "event", "created_at"] and body["event"] == "scan.completed"
    assert (body["scan_token"], body["status"], body["score"], body["grade"], body["report_url"]) == (
        "scn_1", "complete", 88, "B", "https://x/report")
    assert body["created_at"].endswith("Z")


def test_a_keyed_publish_sends_once_however_often_it_is_repeated(h: Harness) -> None:
    first, _ = h.register(URL, ["scan.completed"])
    ids = h.service.publish("acme", "scan.completed", {"scan_token": "scn_1"}, key="scn_1")
    h.clock.advance(5)
    second, _ = h.register(URL, ["*"])  # subscribed after the event: a replay does not send it there
    assert h.service.publish("acme", "scan.completed", {"scan_token": "scn_1"}, key="scn_1") == ids
    assert h.service.publish("acme", "scan.completed", {"scan_token": "scn_2"}, key="scn_2") != ids
    assert h.service.publish("acme", "scan.failed", {"scan_token": "scn_1"}, key="scn_1") != ids
    assert h.service.publish("rival", "scan.completed", {"scan_token": "scn_1"}, key="scn_1") == []
    assert isinstance(h.queue, MemoryQueue)
    messages = [DeliveryMessage.decode(b) for b in h.queue.bodies()]
    scn_1 = [m for m in messages if json.loads(h.delivery("acme", m.webhook_id, m.delivery_id).body)["scan_token"]
             == "scn_1" and h.delivery("acme", m.webhook_id, m.delivery_id).event == "scan.completed"]
    assert [(m.webhook_id, m.delivery_id) for m in scn_1] == [(first.webhook_id, ids[0])]
    assert second.webhook_id not in {m.webhook_id for m in scn_1}


def test_a_keyed_publish_interrupted_after_its_claim_is_finished_by_the_replay(h: Harness) -> None:
    endpoint, _ = h.register(URL, ["scan.completed"])
    h.repo.add_delivery = _dies  # type: ignore[method-assign]  # the Lambda died after claiming the key
    with pytest.raises(RuntimeError):
        h.service.publish("acme", "scan.completed", {"scan_token": "scn_1"}, key="scn_1")
    del h.repo.add_delivery
    [delivery_id] = h.service.publish("acme", "scan.completed", {"scan_token": "scn_1"}, key="scn_1")
    assert h.delivery("acme", endpoint.webhook_id, delivery_id).event == "scan.completed"
    assert isinstance(h.queue, MemoryQueue) and len(h.queue.bodies()) == 1


def _dies(*_: Any) -> None:
    raise RuntimeError("the process died")


def test_publish_refuses_unknown_events_and_reserved_fields(h: Harness) -> None:
    h.register(URL)
    with pytest.raises(ValueError, match="unknown"):
        h.service.publish("acme", "scan.exploded", {})
    with pytest.raises(ValueError, match="cannot set"):
        h.service.publish("acme", "scan.started", {"id": "spoofed"})
    assert h.service.publish("nobody", "scan.started", {}) == []


def test_redeliver_keeps_the_event_id_and_body_with_a_new_delivery(h: Harness) -> None:
    endpoint, _ = h.register(URL)
    [original_id] = h.service.publish("acme", "critical.finding", {"scan_token": "scn_1"})
    again = h.service.redeliver("acme", endpoint.webhook_id, original_id)
    original = h.delivery("acme", endpoint.webhook_id, original_id)
    assert again.delivery_id != original_id and again.redelivery_of == original_id
    assert (again.event_id, again.body, again.event) == (original.event_id, original.body, original.event)
    with pytest.raises(NotFound):
        h.service.redeliver("acme", endpoint.webhook_id, "whd_missing")


def test_test_event_goes_to_that_endpoint_only(h: Harness) -> None:
    target, _ = h.register(URL, ["scan.failed"])
    h.register(URL, ["*"])
    delivery = h.service.send_test("acme", target.webhook_id)
    assert delivery.event == "webhook.test" and json.loads(delivery.body)["webhook_id"] == target.webhook_id
    assert isinstance(h.queue, MemoryQueue)
    [message] = [DeliveryMessage.decode(b) for b in h.queue.bodies()]
    assert message.webhook_id == target.webhook_id


def test_a_queue_failure_leaves_the_new_delivery_pending_in_the_outbox() -> None:
    class Down(MemoryQueue):
        def send(self, body: str, *, delay_seconds: int = 0) -> str:
            raise QueueUnavailable("down")

    h = build(queue=Down())
    endpoint, _ = h.register(URL)
    h.service.send_test("acme", endpoint.webhook_id)  # the event is recorded: the outbox queues it later
    [delivery], _ = h.service.list_deliveries("acme", endpoint.webhook_id)
    assert (delivery.status, delivery.failure_reason) == (DeliveryStatus.PENDING, None)
    [entry] = h.repo.due_outbox(h.clock.now(), limit=10)
    assert entry.delivery_id == delivery.delivery_id and entry.unsent


def test_deliveries_page_newest_first_with_a_cursor(h: Harness) -> None:
    endpoint, _ = h.register(URL)
    ids = [h.service.publish("acme", "scan.started", {"n": i})[0] for i in range(5)]
    first, cursor = h.service.list_deliveries("acme", endpoint.webhook_id, limit=3)
    second, end = h.service.list_deliveries("acme", endpoint.webhook_id, limit=3, cursor=cursor)
    assert [d.delivery_id for d in first + second] == list(reversed(ids)) and end is None


def test_secret_box_binds_key_and_context() -> None:
    box = SecretBox(b"k" * 32)
    wrapped = box.wrap("whsec_abc", "t/w/s")
    assert "whsec_abc" not in wrapped and box.unwrap(wrapped, "t/w/s") == "whsec_abc"
    assert box.wrap("whsec_abc", "t/w/s") != wrapped  # fresh nonce each time
    with pytest.raises(SecretUnwrapError):
        box.unwrap(wrapped, "other/w/s")
    with pytest.raises(SecretUnwrapError):
        SecretBox(b"z" * 32).unwrap(wrapped, "t/w/s")
    tampered = wrapped[:-2] + ("A" if wrapped[-2] != "A" else "B") + wrapped[-1]
    with pytest.raises(SecretUnwrapError):
        box.unwrap(tampered, "t/w/s")


def test_the_wrapping_key_is_required_outside_the_local_stage() -> None:
    prod = Services(Settings.from_env({}, key_pepper=PEPPER, stage="prod"), store=MemoryStore())
    with pytest.raises(ConfigurationError):
        _ = prod.webhooks
    configured = Services(Settings.from_env({"PERIMETER_WEBHOOK_SECRET_KEY": "x" * 40}, key_pepper=PEPPER,
                                            stage="prod"), store=MemoryStore())
    configured.webhook_queue = MemoryQueue()
    assert configured.events is configured.webhooks
    local = Services(Settings.from_env({}, key_pepper=PEPPER), store=MemoryStore())
    assert local.settings.webhook_secret_master() == PEPPER.encode()
