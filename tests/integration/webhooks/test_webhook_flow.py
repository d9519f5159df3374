"""The webhook flow end to end: DynamoDB and SQS under moto, real receivers on 127.0.0.1, the real sender."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

import pytest
from standardwebhooks.webhooks import Webhook

from chalicelib.admin import run
from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.aws.sqs import SqsQueue
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.settings import Settings
from chalicelib.local.poller import start_webhook_poller
from chalicelib.local.provision import Resources
from chalicelib.webhooks import queue_config
from chalicelib.webhooks.models import DeliveryMessage, DeliveryStatus, DisabledReason, EndpointStatus
from chalicelib.webhooks.sender import DEFAULT_TIMEOUT, ErrorKind
from tests.conftest import PEPPER
from tests.integration.webhooks.conftest import (
    Listener,
    Receiver,
    ScriptedReceiver,
    moto_next_visible,
    moto_queue_counts,
)
from tests.support.fakes import FakeResolver, ManualClock
from tests.unit.webhooks.harness import HOST, Harness, build


@pytest.fixture
def wired(aws: dict[str, Any], webhook_resources: Resources, moto_clock: ManualClock) -> Harness:
    """The webhook system on moto DynamoDB + SQS (as provisioned), a 1 s send timeout and the moto clock."""
    return build(clock=moto_clock, store=DynamoDBStore(webhook_resources.table, aws["dynamodb"]),
                 queue=SqsQueue(webhook_resources.queue_url, aws["sqs"]),
                 dlq=SqsQueue(webhook_resources.dlq_url, aws["sqs"]), timeout=1.0)


def drain(h: Harness, webhook_resources: Resources) -> int:
    return h.drain(next_visible=moto_next_visible(webhook_resources.queue_url))


def _url(port: int, path: str) -> str:
    return f"http://{HOST}:{port}{path}"


def test_provisioned_queues_carry_the_queue_config(aws: dict[str, Any], webhook_resources: Resources) -> None:
    sqs = aws["sqs"]
    attributes = sqs.get_queue_attributes(QueueUrl=webhook_resources.queue_url, AttributeNames=["All"])["Attributes"]
    dlq = aws["sqs"].get_queue_attributes(QueueUrl=webhook_resources.dlq_url, AttributeNames=["All"])["Attributes"]
    assert int(attributes["VisibilityTimeout"]) == queue_config.VISIBILITY_TIMEOUT_SECONDS
    assert int(attributes["MessageRetentionPeriod"]) == queue_config.MESSAGE_RETENTION_SECONDS
    assert json.loads(attributes["RedrivePolicy"]) == {"deadLetterTargetArn": dlq["QueueArn"],
                                                       "maxReceiveCount": queue_config.MAX_RECEIVE_COUNT}
    assert int(dlq["MessageRetentionPeriod"]) == queue_config.DLQ_RETENTION_SECONDS


def test_signatures_verify_with_standardwebhooks_and_a_plain_hmac(wired: Harness, webhook_resources: Resources,
                                                                   scripted_receiver: ScriptedReceiver) -> None:
    wired.clock.advance_to(time.time())  # standardwebhooks checks the timestamp against the real clock
    endpoint, secret = wired.register(_url(scripted_receiver.port, "/hook"), ["scan.completed"])
    [delivery_id] = wired.service.publish("acme", "scan.completed", {
        "scan_token": "scn_1", "status": "complete", "score": 93, "grade": "A", "report_url": "https://r/1"})
    drain(wired, webhook_resources)
    [seen] = scripted_receiver.requests
    payload = Webhook(secret).verify(seen.body, seen.headers)  # raises on any mismatch
    assert payload["scan_token"] == "scn_1" and payload["id"] == seen.headers["webhook-id"]
    expected = "sha256=" + hmac.new(secret.encode(), seen.body, hashlib.sha256).hexdigest()  # a plain receiver
    assert hmac.compare_digest(expected, seen.headers["X-Perimeter-Signature"])
    assert seen.headers["X-Perimeter-Event"] == "scan.completed"
    delivery = wired.delivery("acme", endpoint.webhook_id, delivery_id)
    assert delivery.status is DeliveryStatus.DELIVERED and delivery.attempts[0].status_code == 200
    assert moto_queue_counts(aws_sqs(wired), webhook_resources.queue_url) == (0, 0, 0)


def aws_sqs(h: Harness) -> Any:
    assert isinstance(h.queue, SqsQueue)
    return h.queue.client


def test_during_a_rotation_both_secrets_verify_the_same_delivery(wired: Harness, webhook_resources: Resources,
                                                                 scripted_receiver: ScriptedReceiver) -> None:
    wired.clock.advance_to(time.time())
    endpoint, old = wired.register(_url(scripted_receiver.port, "/hook"))
    _, new = wired.service.rotate_secret("acme", endpoint.webhook_id)
    wired.service.send_test("acme", endpoint.webhook_id)
    drain(wired, webhook_resources)
    [seen] = scripted_receiver.requests
    assert Webhook(old).verify(seen.body, seen.headers)["event"] == "webhook.test"
    assert Webhook(new).verify(seen.body, seen.headers)["event"] == "webhook.test"
    assert len(seen.headers["webhook-signature"].split(" ")) == 2
    offered = seen.headers["X-Perimeter-Signature"].split(",")
    assert offered == ["sha256=" + hmac.new(s.encode(), seen.body, hashlib.sha256).hexdigest() for s in (new, old)]


def test_a_redirect_is_a_failed_attempt_and_is_never_followed(wired: Harness, webhook_resources: Resources,
                                                              receiver: Receiver, second_receiver: Receiver) -> None:
    receiver.redirect_to = second_receiver.url("/ok")
    endpoint, _ = wired.register(_url(receiver.port, "/redirect"))
    [delivery_id] = wired.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    wired.step()
    delivery = wired.delivery("acme", endpoint.webhook_id, delivery_id)
    assert [a.status_code for a in delivery.attempts] == [302] and delivery.attempts[0].error == "HTTP 302"
    assert delivery.status is DeliveryStatus.PENDING and delivery.next_attempt == 2
    assert len(receiver.requests) == 1 and second_receiver.requests == []


def test_410_disables_the_endpoint(wired: Harness, webhook_resources: Resources, receiver: Receiver) -> None:
    endpoint, _ = wired.register(_url(receiver.port, "/gone"))
    [delivery_id] = wired.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    drain(wired, webhook_resources)
    current = wired.service.get("acme", endpoint.webhook_id)
    assert (current.status, current.disabled_reason) == (EndpointStatus.DISABLED, DisabledReason.GONE)
    assert wired.delivery("acme", endpoint.webhook_id, delivery_id).status is DeliveryStatus.FAILED
    assert len(receiver.requests) == 1
    assert moto_queue_counts(aws_sqs(wired), webhook_resources.dlq_url) == (0, 0, 0)


def test_retry_after_is_respected(wired: Harness, webhook_resources: Resources, receiver: Receiver) -> None:
    wired.register(_url(receiver.port, "/throttle"))  # 429 with Retry-After: 120
    wired.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    wired.step()
    assert moto_queue_counts(aws_sqs(wired), webhook_resources.queue_url) == (0, 0, 1)  # attempt 2 is delayed
    wired.clock.advance(119)
    assert wired.step() == 0 and len(receiver.requests) == 1  # the scheduled 5 s would have fired by now
    wired.clock.advance(2)
    assert wired.step() == 1 and len(receiver.requests) == 2


def test_a_slow_receiver_fails_at_the_send_timeout(wired: Harness, webhook_resources: Resources,
                                                   receiver: Receiver) -> None:
    endpoint, _ = wired.register(_url(receiver.port, "/sleep"))
    [delivery_id] = wired.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    started = time.monotonic()
    wired.step()
    assert 0.9 <= time.monotonic() - started < 3
    [attempt] = wired.delivery("acme", endpoint.webhook_id, delivery_id).attempts
    assert attempt.status_code is None and attempt.error_kind == ErrorKind.TIMEOUT and 900 <= attempt.latency_ms < 2500


@pytest.mark.slow
def test_production_consumer_gives_up_on_a_slow_receiver_at_10_seconds(
        aws: dict[str, Any], webhook_resources: Resources, receiver: Receiver) -> None:
    settings = Settings.from_env(webhook_resources.env(), key_pepper=PEPPER, allow_private_targets=["127.0.0.0/8"])
    services = Services(settings, store=DynamoDBStore(webhook_resources.table, aws["dynamodb"]),
                        resolver=FakeResolver({HOST: ["127.0.0.1"]}))
    services.webhook_sqs_client = aws["sqs"]
    endpoint, _ = services.webhooks.create("acme", _create(_url(receiver.port, "/sleep")))
    [delivery_id] = services.events.publish("acme", "scan.started", {"scan_token": "scn_1"})
    messages = services.webhook_queue.receive(10)
    from chalicelib.core.queue import lambda_event

    started = time.monotonic()
    assert services.webhook_consumer.handle(lambda_event(messages)) == {"batchItemFailures": []}
    elapsed = time.monotonic() - started
    assert DEFAULT_TIMEOUT - 0.5 <= elapsed < DEFAULT_TIMEOUT + 3
    [attempt] = services.webhooks.get_delivery("acme", endpoint.webhook_id, delivery_id).attempts
    assert attempt.error_kind == ErrorKind.TIMEOUT and attempt.error == "no complete response within 10 s"


def _create(url: str) -> Any:
    from chalicelib.webhooks.service import CreateWebhook

    return CreateWebhook(url=url, events=["*"])


def test_a_poison_message_retries_alone_and_its_batch_mates_are_acked(
        wired: Harness, webhook_resources: Resources, scripted_receiver: ScriptedReceiver) -> None:
    wired.register(_url(scripted_receiver.port, "/hook"))
    for i in range(4):
        wired.service.publish("acme", "scan.started", {"scan_token": f"scn_{i}"})
    wired.queue.send('{"not": "a delivery"}')
    received = wired.step()
    assert received == 5 and len(scripted_receiver.requests) == 4
    sqs = aws_sqs(wired)
    assert moto_queue_counts(sqs, webhook_resources.queue_url) == (0, 1, 0)  # only the poison one is still there
    for _ in range(queue_config.MAX_RECEIVE_COUNT + 1):
        wired.clock.advance(queue_config.VISIBILITY_TIMEOUT_SECONDS + 1)
        wired.step()
    assert moto_queue_counts(sqs, webhook_resources.queue_url) == (0, 0, 0)
    [dead] = sqs.receive_message(QueueUrl=webhook_resources.dlq_url, MessageSystemAttributeNames=["All"])["Messages"]
    assert dead["Body"] == '{"not": "a delivery"}'
    assert int(dead["Attributes"]["ApproximateReceiveCount"]) >= 1
    assert len(scripted_receiver.requests) == 4  # the good ones were never sent twice


def test_exhaustion_reaches_the_dlq_and_redrive_delivers_it(
        wired: Harness, webhook_resources: Resources, scripted_receiver: ScriptedReceiver) -> None:
    healthy = {"up": False}
    scripted_receiver.respond = lambda request: (200, {}) if healthy["up"] else (500, {})
    endpoint, _ = wired.register(_url(scripted_receiver.port, "/hook"))
    [delivery_id] = wired.service.publish("acme", "scan.completed", {"scan_token": "scn_1"})
    drain(wired, webhook_resources)  # ten attempts over ~3.2 days of the manual clock, hops included
    assert len(scripted_receiver.requests) == 10
    failed = wired.delivery("acme", endpoint.webhook_id, delivery_id)
    assert (failed.status, failed.failure_reason) == (DeliveryStatus.FAILED, "retries-exhausted")
    sqs = aws_sqs(wired)
    assert moto_queue_counts(sqs, webhook_resources.queue_url) == (0, 0, 0)
    assert moto_queue_counts(sqs, webhook_resources.dlq_url) == (1, 0, 0)
    counts = [int(r["attributes"]["ApproximateReceiveCount"]) for r in wired.handled]
    assert max(counts) <= queue_config.RECEIVES_BY_DESIGN  # moto's 12 h-from-send rule never bit
    healthy["up"] = True
    services = _services_over(wired, webhook_resources)
    assert run(["redrive-webhooks"], services)["moved"] == 1
    drain(wired, webhook_resources)
    delivered = wired.delivery("acme", endpoint.webhook_id, delivery_id)
    assert delivered.status is DeliveryStatus.DELIVERED and delivered.cycle == 2
    assert len({r.headers["webhook-id"] for r in scripted_receiver.requests}) == 1
    assert moto_queue_counts(sqs, webhook_resources.dlq_url) == (0, 0, 0)


class _ShortPoll:
    """A queue whose receives never long-poll (moto's wait loop would spin on the manual clock)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner

    def receive(self, max_messages: int = 10, *, wait_seconds: int = 0) -> Any:
        return self.inner.receive(max_messages, wait_seconds=0)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def _services_over(h: Harness, webhook_resources: Resources) -> Services:
    """Services whose webhook parts are the harness's (for the admin CLI)."""
    services = Services(Settings.from_env(webhook_resources.env(), key_pepper=PEPPER), store=h.store)
    services.webhook_queue, services.webhook_dlq = h.queue, _ShortPoll(h.dlq)
    services.webhook_repository = h.repo
    return services


def test_ssrf_addresses_are_refused_at_registration(aws: dict[str, Any], webhook_resources: Resources) -> None:
    resolver = FakeResolver({"internal.example": ["10.0.0.5"], "meta.example": ["169.254.169.254"],
                             "mixed.example": ["93.184.216.34", "127.0.0.1"]})
    h = build(store=DynamoDBStore(webhook_resources.table, aws["dynamodb"]), resolver=resolver, allowed=())
    for url in ("https://internal.example/", "https://meta.example/", "https://mixed.example/",
                "https://127.1/", "https://0251.0376.0251.0376/", "https://[fd00:ec2::254]/"):
        with pytest.raises(Exception) as info:
            h.register(url)
        assert getattr(info.value, "code", None) == "webhook-url-not-allowed", url
    assert h.service.list_webhooks("acme") == ([], None)


def test_dns_that_changes_after_registration_is_refused_at_send_time(
        wired: Harness, webhook_resources: Resources, listener: Listener) -> None:
    rebinding = FakeResolver({"rebind.example": [["93.184.216.34"], ["127.0.0.1"]]})
    h = build(clock=wired.clock, store=wired.store, queue=wired.queue, dlq=wired.dlq, resolver=rebinding, allowed=())
    endpoint, _ = h.register(f"https://rebind.example:{listener.port}/hook")  # public at registration
    [delivery_id] = h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    h.step()
    [attempt] = h.delivery("acme", endpoint.webhook_id, delivery_id).attempts
    assert attempt.error_kind == ErrorKind.ADDRESS_NOT_ALLOWED and attempt.status_code is None
    assert "127.0.0.1" in (attempt.error or "")
    assert listener.connections == 0 and rebinding.calls == ["rebind.example", "rebind.example"]


def test_the_local_poller_delivers_from_moto_sqs(aws: dict[str, Any], webhook_resources: Resources,
                                                 scripted_receiver: ScriptedReceiver) -> None:
    settings = Settings.from_env(webhook_resources.env(), key_pepper=PEPPER, allow_private_targets=["127.0.0.0/8"])
    services = Services(settings, store=DynamoDBStore(webhook_resources.table, aws["dynamodb"]),
                        resolver=FakeResolver({HOST: ["127.0.0.1"]}))
    services.webhook_sqs_client = aws["sqs"]
    set_services(services)
    try:
        endpoint, secret = services.webhooks.create("acme", _create(_url(scripted_receiver.port, "/hook")))
        poller = start_webhook_poller(services)
        try:
            ids = [services.events.publish("acme", "scan.completed", {"scan_token": f"scn_{i}"})[0]
                   for i in range(3)]
            deadline = time.monotonic() + 10
            while len(scripted_receiver.requests) < 3 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            poller.stop()
        assert not poller.running and len(scripted_receiver.requests) == 3
        for seen in scripted_receiver.requests:
            Webhook(secret).verify(seen.body, seen.headers)
        assert all(services.webhooks.get_delivery("acme", endpoint.webhook_id, i).status is DeliveryStatus.DELIVERED
                   for i in ids)
        assert moto_queue_counts(aws["sqs"], webhook_resources.queue_url) == (0, 0, 0)
    finally:
        set_services(None)


def test_a_message_body_names_ids_only(wired: Harness, webhook_resources: Resources) -> None:
    wired.register(_url(1, "/hook"))
    wired.service.publish("acme", "scan.completed", {"scan_token": "scn_1", "secret_field": "s3cr3t"})
    [message] = aws_sqs(wired).receive_message(QueueUrl=webhook_resources.queue_url)["Messages"]
    decoded = DeliveryMessage.decode(message["Body"])
    assert decoded.attempt == 1 and "s3cr3t" not in message["Body"]
