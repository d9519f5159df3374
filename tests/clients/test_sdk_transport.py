"""The SDK's HTTP behaviour over a fake session: retries, backoff, Retry-After, Idempotency-Key, errors, paging."""

from __future__ import annotations

import email.utils
import uuid
from typing import Any

import pytest
import requests
from perimeter_client import (
    APIError,
    AuthenticationError,
    Client,
    ConfigurationError,
    NotFoundError,
    RateLimitError,
    RetryPolicy,
    ScanFailedError,
    ServerError,
    TransportError,
    ValidationError,
    WaitTimeoutError,
)
from perimeter_client._transport import parse_retry_after

from tests.clients.conftest import SDK_SRC
from tests.clients.fakes import FakeSession, finding_json, response, scan_json

KEY = "pk_test_0123456789abcdef"
CREATED = {"scan_token": "scn_1", "status": "pending", "status_url": "http://api/v1/scans/scn_1",
           "self_assessment_url": None, "estimated_seconds": 60, "created_at": "2026-12-07T10:00:00Z"}


def make(answers: list[Any], **policy: Any) -> tuple[Client, FakeSession, list[float]]:
    session = FakeSession(answers)
    slept: list[float] = []
    retry = RetryPolicy(sleep=slept.append, jitter=policy.pop("jitter", lambda d: d), **policy)
    return Client(KEY, "http://api.test/", session=session, retry=retry, env={}), session, slept


def problem(status: int, code: str, **extra: Any) -> dict[str, Any]:
    return {"type": f"urn:perimeter:problem:{code}", "title": code, "status": status, "detail": f"{code} detail",
            "code": code, "error": f"{code} detail", **extra}


def test_the_sdk_under_test_is_this_checkouts_source() -> None:
    import perimeter_client

    assert perimeter_client.__file__ is not None and SDK_SRC in __import__("pathlib").Path(
        perimeter_client.__file__).parents


def test_a_429_waits_what_retry_after_says_then_succeeds() -> None:
    client, session, slept = make([response(429, problem(429, "rate-limited"), {"Retry-After": "7"}),
                                   response(200, scan_json())])
    assert client.get_scan("scn_1").grade == "B"
    assert slept == [7.0] and len(session.calls) == 2


def test_5xx_backs_off_exponentially_through_the_jitter_and_the_cap() -> None:
    seen: list[float] = []

    def jitter(delay: float) -> float:
        seen.append(delay)
        return delay * 0.5

    answers = [response(503, problem(503, "service-unavailable")) for _ in range(4)] + [response(200, scan_json())]
    client, session, slept = make(answers, jitter=jitter, backoff_base=1.0, backoff_cap=5.0, max_retries=4)
    client.get_scan("scn_1")
    assert seen == [1.0, 2.0, 4.0, 5.0]  # base * 2**n, capped
    assert slept == [0.5, 1.0, 2.0, 2.5]  # what the jitter returned is what is slept
    assert len(session.calls) == 5


def test_retries_are_bounded_and_the_last_error_is_raised_with_its_code() -> None:
    answers = [response(502, raw=b"<html>bad gateway</html>") for _ in range(3)]
    client, session, slept = make(answers, max_retries=2)
    with pytest.raises(ServerError) as caught:
        client.get_scan("scn_1")
    assert (caught.value.status, caught.value.code) == (502, "http-502")
    assert len(session.calls) == 3 and len(slept) == 2


def test_a_retry_after_beyond_the_limit_is_raised_not_slept() -> None:
    client, session, slept = make([response(429, problem(429, "rate-limited"), {"Retry-After": "3600"})])
    with pytest.raises(RateLimitError) as caught:
        client.get_scan("scn_1")
    assert caught.value.retry_after == 3600.0 and slept == [] and len(session.calls) == 1


def test_retry_after_as_an_http_date() -> None:
    now = 1_800_000_000.0
    assert parse_retry_after(email.utils.formatdate(now + 30, usegmt=True), now=now) == pytest.approx(30.0)
    assert parse_retry_after("soon") is None and parse_retry_after(None) is None


def test_every_post_carries_one_idempotency_key_kept_across_its_retries() -> None:
    client, session, _ = make([response(503, problem(503, "service-unavailable")), response(202, CREATED),
                               response(202, CREATED)])
    client.create_scan("example.com", tags=["ci"])
    client.create_scan("example.com")
    keys = [c["headers"].get("Idempotency-Key") for c in session.calls]
    assert keys[0] == keys[1] and keys[1] != keys[2]
    assert all(uuid.UUID(k) for k in keys)
    assert session.calls[0]["json"] == {"domain": "example.com", "tags": ["ci"]}


def test_an_explicit_idempotency_key_is_sent_and_gets_are_not_keyed() -> None:
    client, session, _ = make([response(202, CREATED), response(200, scan_json())])
    client.create_scan("example.com", idempotency_key="ci-run-42")
    client.get_scan("scn_1")
    assert session.calls[0]["headers"]["Idempotency-Key"] == "ci-run-42"
    assert "Idempotency-Key" not in session.calls[1]["headers"]


def test_without_idempotency_a_post_is_not_replayed_after_a_5xx_but_is_after_a_429() -> None:
    session = FakeSession([response(500, problem(500, "internal-error"))])
    client = Client(KEY, "http://api.test", session=session, idempotency=False, env={},
                    retry=RetryPolicy(sleep=lambda _: None))
    with pytest.raises(ServerError):
        client.create_scan("example.com")
    assert len(session.calls) == 1 and "Idempotency-Key" not in session.calls[0]["headers"]
    session.answers = [response(429, problem(429, "rate-limited"), {"Retry-After": "1"}), response(202, CREATED)]
    assert client.create_scan("example.com").scan_token == "scn_1"


def test_a_keyed_post_still_running_is_retried() -> None:
    client, session, slept = make([response(409, problem(409, "idempotency-key-in-progress")),
                                   response(202, CREATED)])
    assert client.create_scan("example.com").status == "pending"
    assert len(slept) == 1 and len(session.calls) == 2


def test_connection_errors_are_retried_then_raised() -> None:
    client, session, slept = make([requests.ConnectionError("refused")] * 3, max_retries=2)
    with pytest.raises(TransportError):
        client.get_scan("scn_1")
    assert len(session.calls) == 3 and len(slept) == 2


@pytest.mark.parametrize(("status", "code", "cls"), [
    (401, "unauthorized", AuthenticationError), (404, "not-found", NotFoundError),
    (422, "invalid-domain", ValidationError),
])
def test_problems_become_exceptions_with_status_and_code(status: int, code: str, cls: type[APIError]) -> None:
    errors = [{"field": "domain", "message": "bad", "type": "value_error"}]
    client, _, slept = make([response(status, problem(status, code, errors=errors))])
    with pytest.raises(cls) as caught:
        client.get_scan("scn_1")
    assert (caught.value.status, caught.value.code, caught.value.detail) == (status, code, f"{code} detail")
    assert caught.value.errors == errors and slept == []


def test_the_key_goes_in_the_bearer_header_and_never_in_repr() -> None:
    client, session, _ = make([response(200, scan_json())])
    client.get_scan("scn/1")
    assert session.calls[0]["headers"]["Authorization"] == f"Bearer {KEY}"
    assert session.calls[0]["url"] == "http://api.test/v1/scans/scn%2F1"
    assert KEY not in repr(client) and KEY not in repr(client.transport)


def test_key_and_base_url_come_from_the_environment() -> None:
    client = Client(env={"PERIMETER_API_KEY": KEY, "PERIMETER_BASE_URL": "https://p.example/api/"})
    assert client.base_url == "https://p.example/api"
    assert Client(env={"PERIMETER_API_KEY": KEY}).base_url == "http://127.0.0.1:8000"
    assert Client("other", "https://x.example", env={"PERIMETER_API_KEY": KEY}).transport._api_key == "other"
    with pytest.raises(ConfigurationError):
        Client(env={})


def test_iterators_follow_cursors_until_the_last_page() -> None:
    pages = [response(200, {"items": [scan_json("a"), scan_json("b")], "next_cursor": "c1"}),
             response(200, {"items": [scan_json("c")], "next_cursor": "c2"}),
             response(200, {"items": [], "next_cursor": None})]
    client, session, _ = make(pages)
    assert [s.scan_token for s in client.iter_scans(status="complete", page_size=2)] == ["a", "b", "c"]
    assert [c["params"] for c in session.calls] == [
        {"status": "complete", "limit": 2}, {"status": "complete", "limit": 2, "cursor": "c1"},
        {"status": "complete", "limit": 2, "cursor": "c2"}]


def test_findings_pages_carry_the_total() -> None:
    body = {"scan_token": "scn_1", "scan_status": "complete", "items": [finding_json("x", "high")], "total": 3,
            "next_cursor": "n"}
    client, session, _ = make([response(200, body)])
    page = client.list_findings("scn_1", severity="high", limit=1)
    assert page.total == 3 and page.next_cursor == "n" and page.items[0].severity == "high"
    assert session.calls[0]["params"] == {"severity": "high", "limit": 1}


def test_wait_polls_adaptively_and_reports_progress() -> None:
    answers = [response(200, scan_json(status=s, progress=p, grade=None, score=None))
               for s, p in [("pending", 0), ("scanning", 0), ("scanning", 0), ("scanning", 50)]]
    client, _, _ = make([*answers, response(200, scan_json())])
    slept: list[float] = []
    client._sleep = slept.append
    seen: list[int] = []
    scan = client.wait("scn_1", on_progress=lambda s: seen.append(s.progress), min_interval=1, max_interval=2)
    assert scan.status == "complete" and seen == [0, 0, 0, 50, 100]
    assert slept == [1, 1.5, 2, 1]  # same progress: 1.5x up to the maximum; progress moved: back to the minimum


def test_wait_times_out_and_fails_loudly() -> None:
    client, _, _ = make([response(200, scan_json(status="scanning", progress=10, grade=None, score=None))] * 3)
    ticks = iter([0.0, 5.0, 11.0])
    client._clock, client._sleep = (lambda: next(ticks)), (lambda _: None)
    with pytest.raises(WaitTimeoutError) as caught:
        client.wait("scn_1", timeout=10)
    assert caught.value.scan.status == "scanning"
    failed = scan_json(status="failed", grade=None, score=None, error={"code": "scan-timeout", "message": "slow"})
    client2, _, _ = make([response(200, failed)])
    with pytest.raises(ScanFailedError, match="scan-timeout"):
        client2.wait("scn_1")


def test_download_follows_the_redirect_without_the_api_key() -> None:
    link = "http://files.test/v1/downloads/tok?sig=1"
    client, session, _ = make([response(302, headers={"Location": link}), response(200, raw=b"%PDF-1.7 ...")])
    assert client.download_report("scn_1") == b"%PDF-1.7 ..."
    first, second = session.calls
    assert first["allow_redirects"] is False and first["params"] == {"format": "pdf"}
    assert second["url"] == link and "Authorization" not in second["headers"]


def test_the_sdk_parses_as_python_3_9() -> None:
    import ast

    for path in SDK_SRC.rglob("*.py"):
        ast.parse(path.read_text(), filename=str(path), feature_version=(3, 9))


def test_a_webhook_in_a_vendor_format_with_a_secret_of_ones_own_sends_both_and_reads_them_back() -> None:
    answer = {"webhook_id": "wh_1", "url": "https://hooks.example.net/x", "events": ["*"], "description": "",
              "status": "active", "disabled_reason": None, "disabled_at": None, "failing_since": None,
              "previous_secret_expires_at": None, "format": "certiq", "own_secret": True,
              "created_at": "2026-12-07T10:00:00Z", "updated_at": "2026-12-07T10:00:00Z", "secret": "whsec_x"}
    client, session, _ = make([response(201, answer)])
    hook = client.create_webhook("https://hooks.example.net/x", format="certiq", secret="my-own-secret-0123456")
    assert session.calls[0]["json"]["format"] == "certiq" and session.calls[0]["json"]["secret"].startswith("my-own")
    assert (hook.format, hook.own_secret, hook.secret) == ("certiq", True, "whsec_x")
