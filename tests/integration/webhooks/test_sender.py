"""The sender against real receivers on 127.0.0.1 (allowed through PERIMETER_ALLOW_PRIVATE_TARGETS)."""

from __future__ import annotations

import inspect
import ipaddress
import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from dnslib import AAAA, QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer
from standardwebhooks.webhooks import Webhook

from chalicelib.core.addresses import IPNetwork
from chalicelib.core.settings import DnsServer
from chalicelib.net.dns import DnsResolver, build_resolver
from chalicelib.webhooks.excerpt import EXCERPT_CHARS, NON_TEXT_NOTE
from chalicelib.webhooks.policy import DEFAULT_TIMEOUT, Action, RetryPolicy, Verdict, classify
from chalicelib.webhooks.sender import MAX_EXCERPT_BYTES, USER_AGENT, ErrorKind, deliver
from chalicelib.webhooks.signing import new_secret, sign
from chalicelib.webhooks.url_guard import check_webhook_url
from tests.integration.webhooks.conftest import DripServer, Listener, Receiver
from tests.support.fakes import FakeResolver

LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"),)
HOST = "hooks.perimeter.test"  # not resolvable by the system: success proves the pinned address is used
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


class _Half:
    def random(self) -> float:
        return 0.5


POLICY = RetryPolicy(rng=_Half())


def pinned(*addresses: str) -> FakeResolver:
    return FakeResolver({HOST: list(addresses or ["127.0.0.1"])})


def test_success_with_signed_headers_that_the_receiver_can_verify(receiver: Receiver) -> None:
    secret, body = new_secret(), json.dumps({"id": "evt_1", "event": "webhook.test"}).encode()
    headers = {**sign([secret], "msg_int_1", int(time.time()), body), "X-Perimeter-Event": "webhook.test",
               "Host": "evil.example", "Transfer-Encoding": "chunked", "User-Agent": "spoof"}
    resolver = pinned()
    outcome = deliver(receiver.url("/ok?x=1", HOST), body, headers, allowed=LOOPBACK, resolver=resolver)

    assert (outcome.status_code, outcome.error, outcome.response_excerpt) == (200, None, "thanks")
    assert outcome.ok and outcome.address == "127.0.0.1" and 0 <= outcome.latency_ms < 2000
    assert classify(outcome.status_code) is Verdict.SUCCESS
    assert resolver.calls == [HOST]  # resolved once
    [seen] = receiver.requests
    assert (seen.method, seen.path, seen.body) == ("POST", "/ok?x=1", body)
    assert seen.headers["Host"] == f"{HOST}:{receiver.port}"
    assert seen.headers["User-Agent"] == USER_AGENT
    assert seen.headers["Content-Type"] == "application/json"
    assert seen.headers["X-Perimeter-Event"] == "webhook.test"
    assert "Transfer-Encoding" not in seen.headers
    Webhook(secret).verify(seen.body, seen.headers)


def test_redirects_are_failures_and_never_followed(receiver: Receiver, second_receiver: Receiver) -> None:
    receiver.redirect_to = second_receiver.url("/target")
    outcome = deliver(receiver.url("/redirect", HOST), b"{}", {}, allowed=LOOPBACK, resolver=pinned())
    assert outcome.status_code == 302 and not outcome.ok
    assert classify(outcome.status_code) is Verdict.RETRY
    assert POLICY.decide(1, outcome.status_code, outcome.retry_after, NOW).action is Action.RETRY
    assert len(receiver.requests) == 1
    assert second_receiver.requests == []


def test_410_disables_the_endpoint(receiver: Receiver) -> None:
    outcome = deliver(receiver.url("/gone", HOST), b"{}", {}, allowed=LOOPBACK, resolver=pinned())
    assert (outcome.status_code, outcome.response_excerpt) == (410, "endpoint removed")
    assert classify(outcome.status_code) is Verdict.DISABLE
    assert POLICY.decide(3, outcome.status_code, outcome.retry_after, NOW).action is Action.DISABLE


def test_retry_after_seconds_and_dates_are_honoured(receiver: Receiver) -> None:
    throttled = deliver(receiver.url("/throttle", HOST), b"{}", {}, allowed=LOOPBACK, resolver=pinned())
    assert (throttled.status_code, throttled.retry_after) == (429, "120")
    decision = POLICY.decide(1, throttled.status_code, throttled.retry_after, NOW)
    assert (decision.verdict, decision.action, decision.delay) == (Verdict.THROTTLE, Action.RETRY,
                                                                   timedelta(seconds=120))

    unavailable = deliver(receiver.url("/unavailable", HOST), b"{}", {}, allowed=LOOPBACK, resolver=pinned())
    assert unavailable.status_code == 503 and unavailable.retry_after is not None
    delay = POLICY.decide(1, 503, unavailable.retry_after, datetime.now(UTC)).delay
    assert delay is not None and timedelta(minutes=59) <= delay <= timedelta(hours=1)


def test_other_errors_are_retried_on_the_schedule(receiver: Receiver) -> None:
    outcome = deliver(receiver.url("/error", HOST), b"{}", {}, allowed=LOOPBACK, resolver=pinned())
    assert (outcome.status_code, outcome.response_excerpt) == (500, "boom")
    decision = POLICY.decide(2, outcome.status_code, outcome.retry_after, NOW)
    assert (decision.action, decision.delay) == (Action.RETRY, timedelta(minutes=5))


def test_a_receiver_that_sleeps_60_s_fails_at_the_timeout(receiver: Receiver) -> None:
    started = time.monotonic()
    outcome = deliver(receiver.url("/sleep", HOST), b"{}", {}, allowed=LOOPBACK, resolver=pinned(), timeout=1.0)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.8, elapsed
    assert (outcome.status_code, outcome.error_kind) == (None, ErrorKind.TIMEOUT)
    assert outcome.error == "no complete response within 1 s"
    assert classify(outcome.status_code) is Verdict.RETRY
    assert len(receiver.requests) == 1  # it was sent; only the answer was late


def test_the_default_timeout_is_ten_seconds() -> None:
    assert DEFAULT_TIMEOUT == 10.0
    assert inspect.signature(deliver).parameters["timeout"].default == DEFAULT_TIMEOUT


def test_dripped_headers_cannot_stretch_the_wall_clock_deadline(drip_server: DripServer) -> None:
    """One byte every 50 ms never trips a per-read timeout; only the overall deadline stops it."""
    started = time.monotonic()
    outcome = deliver(f"http://{HOST}:{drip_server.port}/", b"{}", {}, allowed=LOOPBACK, resolver=pinned(),
                      timeout=1.5)
    elapsed = time.monotonic() - started
    assert 1.4 <= elapsed < 2.2, elapsed
    assert (outcome.status_code, outcome.error_kind) == (None, ErrorKind.TIMEOUT)
    assert drip_server.bytes_sent >= 15  # bytes kept arriving until the deadline


def test_a_dripped_body_is_cut_at_the_deadline_keeping_the_status(drip_server: DripServer) -> None:
    drip_server.mode = "body"
    started = time.monotonic()
    outcome = deliver(f"http://{HOST}:{drip_server.port}/", b"{}", {}, allowed=LOOPBACK, resolver=pinned(),
                      timeout=1.0)
    elapsed = time.monotonic() - started
    assert 0.9 <= elapsed < 1.7, elapsed
    assert outcome.status_code == 200
    assert outcome.error == "response body not complete within 1 s"
    assert 0 < len(outcome.response_excerpt) < 40 and set(outcome.response_excerpt) == {"d"}  # what arrived


def test_at_most_a_kilobyte_of_the_body_is_read_and_256_characters_kept(receiver: Receiver) -> None:
    outcome = deliver(receiver.url("/big", HOST), b"{}", {}, allowed=LOOPBACK, resolver=pinned())
    assert MAX_EXCERPT_BYTES <= 1024
    assert outcome.status_code == 200 and outcome.response_excerpt == "x" * EXCERPT_CHARS


@pytest.mark.parametrize(("path", "status", "excerpt"), [
    ("/png", 200, NON_TEXT_NOTE),  # binary is never logged
    ("/escapes", 500, "[2J]0;pwned error: disk full"),  # control and bidi characters removed, cut character dropped
    ("/latin1", 400, "déjà vu"),  # the declared charset is honoured
])
def test_the_response_excerpt_is_text_only(receiver: Receiver, path: str, status: int, excerpt: str) -> None:
    outcome = deliver(receiver.url(path, HOST), b"{}", {}, allowed=LOOPBACK, resolver=pinned())
    assert (outcome.status_code, outcome.response_excerpt) == (status, excerpt)


def test_a_cloud_api_listing_is_cut_at_the_bound(receiver: Receiver) -> None:
    outcome = deliver(receiver.url("/aws", HOST), b"{}", {}, allowed=LOOPBACK, resolver=pinned())
    assert outcome.status_code == 200 and len(outcome.response_excerpt) == EXCERPT_CHARS
    assert outcome.response_excerpt.startswith("<?xml") and "tenant-data-010" not in outcome.response_excerpt


def test_connection_refused_is_a_retryable_failure(free_port: int) -> None:
    outcome = deliver(f"http://{HOST}:{free_port}/", b"{}", {}, allowed=LOOPBACK, resolver=pinned())
    assert (outcome.status_code, outcome.error_kind) == (None, ErrorKind.CONNECT)
    assert classify(outcome.status_code) is Verdict.RETRY


def test_falls_back_to_the_next_checked_address_when_one_refuses(receiver: Receiver) -> None:
    outcome = deliver(receiver.url("/ok", HOST), b"{}", {}, allowed=LOOPBACK,
                      resolver=pinned("127.0.0.2", "127.0.0.1"))
    assert outcome.status_code == 200 and outcome.address == "127.0.0.1"


def test_an_ip_literal_url_connects_to_that_address(receiver: Receiver) -> None:
    resolver = FakeResolver({})
    outcome = deliver(f"http://2130706433:{receiver.port}/created", b"{}", {}, allowed=LOOPBACK, resolver=resolver)
    assert outcome.status_code == 201 and resolver.calls == []
    assert receiver.requests[0].headers["Host"] == f"127.0.0.1:{receiver.port}"


def test_allowed_loopback_does_not_open_other_private_ranges(listener: Listener) -> None:
    resolver = pinned("127.0.0.1", "10.0.0.1")
    outcome = deliver(f"http://{HOST}:{listener.port}/", b"{}", {}, allowed=LOOPBACK, resolver=resolver)
    assert outcome.error_kind == ErrorKind.ADDRESS_NOT_ALLOWED and listener.connections == 0


# --- DNS rebinding: public at registration, 127.0.0.1 at send time -----------------------------------

def test_rebinding_fake_resolver_is_refused_at_send_time(listener: Listener) -> None:
    url = f"https://rebind.example.com:{listener.port}/hook"
    resolver = FakeResolver({"rebind.example.com": [["93.184.216.34"], ["127.0.0.1"]]})
    registered = check_webhook_url(url, (), resolver)
    assert [str(a) for a in registered.addresses] == ["93.184.216.34"]

    outcome = deliver(url, b"{}", {}, allowed=(), resolver=resolver)
    assert (outcome.status_code, outcome.error_kind) == (None, ErrorKind.ADDRESS_NOT_ALLOWED)
    assert outcome.error is not None and "127.0.0.1" in outcome.error
    assert resolver.calls == ["rebind.example.com", "rebind.example.com"]
    time.sleep(0.1)
    assert listener.connections == 0


class _RebindingZone(BaseResolver):  # type: ignore[misc]
    """Answers rebind.perimeter.test with a public A record once, then with 127.0.0.1."""

    name = "rebind.perimeter.test."

    def __init__(self) -> None:
        self.a_queries = 0
        self.lock = threading.Lock()

    def resolve(self, request: Any, handler: Any) -> Any:
        reply = request.reply()
        qname, qtype = request.q.qname, request.q.qtype
        if str(qname).lower() != self.name:
            reply.header.rcode = RCODE.NXDOMAIN
        elif qtype == QTYPE.A:
            with self.lock:
                self.a_queries += 1
                address = "93.184.216.34" if self.a_queries == 1 else "127.0.0.1"
            reply.add_answer(RR(qname, QTYPE.A, rdata=A(address), ttl=0))
        elif qtype == QTYPE.AAAA and self.a_queries > 1:
            reply.add_answer(RR(qname, QTYPE.AAAA, rdata=AAAA("::1"), ttl=0))
        return reply


@pytest.fixture
def rebinding_dns() -> Iterator[DnsResolver]:
    zone = _RebindingZone()
    server = DNSServer(zone, address="127.0.0.1", port=0, logger=DNSLogger(logf=lambda _: None))
    server.start_thread()
    port = server.server.server_address[1]
    try:
        yield DnsResolver(build_resolver([DnsServer(host="127.0.0.1", port=port)], 2.0))
    finally:
        server.stop()
        server.server.server_close()


def test_rebinding_real_dns_server_is_refused_at_send_time(rebinding_dns: DnsResolver, listener: Listener) -> None:
    url = f"https://rebind.perimeter.test:{listener.port}/hook"
    registered = check_webhook_url(url, (), rebinding_dns)
    assert [str(a) for a in registered.addresses] == ["93.184.216.34"]

    outcome = deliver(url, b"{}", {}, allowed=(), resolver=rebinding_dns)
    assert outcome.error_kind == ErrorKind.ADDRESS_NOT_ALLOWED
    assert outcome.error is not None and "127.0.0.1" in outcome.error and "::1" in outcome.error
    time.sleep(0.1)
    assert listener.connections == 0
