"""The deliveries log keeps a bounded, text-only excerpt of what a receiver answered, whatever it sends."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.api.webhook_views import delivery_view
from chalicelib.core.addresses import IPNetwork
from chalicelib.net.ports import Resolver
from chalicelib.webhooks.excerpt import EXCERPT_CHARS, NON_TEXT_NOTE, response_excerpt
from chalicelib.webhooks.models import Attempt, Delivery
from chalicelib.webhooks.sender import DeliveryOutcome
from tests.support.fakes import ManualClock
from tests.unit.webhooks.harness import HOST, build

CONTENT_TYPES = st.one_of(st.none(), st.sampled_from([
    "text/plain", "text/html; charset=utf-8", "application/json", "application/xml", "image/png",
    "application/octet-stream", "text/plain; charset=latin-1", "text/plain; charset=nope", "", "TEXT/PLAIN",
]), st.text(max_size=40))


def _clean(text: str) -> bool:
    return all(unicodedata.category(c) not in {"Cc", "Cf", "Cs", "Co", "Cn"} for c in text)


@settings(max_examples=400, deadline=None)
@given(CONTENT_TYPES, st.binary(max_size=4096))
def test_never_more_than_the_bound_and_never_a_control_character(content_type: str | None, raw: bytes) -> None:
    excerpt = response_excerpt(content_type, raw)
    assert len(excerpt) <= EXCERPT_CHARS
    assert _clean(excerpt)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=2000))
def test_any_text_is_kept_up_to_the_bound(text: str) -> None:
    excerpt = response_excerpt("text/plain; charset=utf-8", text.encode("utf-8", "surrogatepass"))
    assert len(excerpt) <= EXCERPT_CHARS and _clean(excerpt)


def test_examples() -> None:
    assert response_excerpt("text/plain", b"thanks") == "thanks"
    assert response_excerpt(None, b"thanks") == "thanks"  # no Content-Type: kept when it is valid UTF-8
    assert response_excerpt(None, b"\xff\xfe\xfd binary") == NON_TEXT_NOTE
    assert response_excerpt("image/png", b"\x89PNG\r\n") == NON_TEXT_NOTE
    assert response_excerpt("application/octet-stream", b"plain words") == NON_TEXT_NOTE
    assert response_excerpt("text/plain", b"abc\x00def") == NON_TEXT_NOTE
    assert response_excerpt("application/problem+json", b'{"title":"Bad"}') == '{"title":"Bad"}'
    assert response_excerpt("text/plain", b"a\x1b[31mb\r\n\r\nc\x07") == "a[31mb c"
    assert response_excerpt("text/plain", "\u202eevil".encode()) == "evil"
    assert response_excerpt("text/plain", b"x" * 10_000) == "x" * EXCERPT_CHARS
    assert response_excerpt("text/plain", b"") == ""


class _Answers:
    """A `deliver` stand-in answering with a fixed, hostile excerpt."""

    def __init__(self, excerpt: str) -> None:
        self.excerpt = excerpt

    def __call__(self, url: str, body: bytes, headers: Mapping[str, str], *, allowed: tuple[IPNetwork, ...],
                 resolver: Resolver, timeout: float = 10.0) -> DeliveryOutcome:
        return DeliveryOutcome(500, 1, None, None, self.excerpt, None, "127.0.0.1")


def test_the_consumer_records_a_bounded_clean_excerpt_whatever_the_sender_returns() -> None:
    h = build(clock=ManualClock(), deliver_fn=_Answers("\x1b[2J" + "<Bucket>secret</Bucket>\x00" * 500))
    endpoint, _ = h.register(f"http://{HOST}:8080/hook")
    [delivery_id] = h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    h.step()
    [attempt] = h.delivery("acme", endpoint.webhook_id, delivery_id).attempts
    assert len(attempt.response_excerpt) <= EXCERPT_CHARS and _clean(attempt.response_excerpt)


def test_the_deliveries_log_bounds_excerpts_stored_before_the_bound() -> None:
    now = datetime(2026, 12, 1, tzinfo=UTC)
    stored = Delivery(delivery_id="whd_1", webhook_id="wh_1", tenant_id="acme", event_id="evt_1", event="webhook.test",
                      body="{}", created_at=now, updated_at=now,
                      attempts=[Attempt(cycle=1, attempt=1, at=now, status_code=200, latency_ms=1,
                                        response_excerpt="\x07<ListAllMyBucketsResult>" + "y" * 4000)])
    [attempt] = delivery_view(stored).attempts
    assert len(attempt.response_excerpt) <= EXCERPT_CHARS and attempt.response_excerpt.startswith("<ListAll")
