"""Sliding-window rate limits and Idempotency-Key semantics, with an injectable clock."""

from __future__ import annotations

import pytest

from chalicelib.access.idempotency import TTL_SECONDS, IdempotencyService, StoredResponse
from chalicelib.access.ratelimit import RateLimiter
from chalicelib.core.errors import BadRequest, Conflict, IdempotencyKeyReused, RateLimited
from tests.support.memory import MemoryStore


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_rate_limit_refuses_the_request_over_the_limit_with_retry_after() -> None:
    clock = Clock(6000.0)
    limiter = RateLimiter(MemoryStore(), clock)
    decisions = [limiter.check("k1", 5) for _ in range(5)]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0]
    with pytest.raises(RateLimited) as info:
        limiter.enforce("k1", 5)
    headers = info.value.headers
    assert int(headers["Retry-After"]) >= 1 and headers["X-RateLimit-Remaining"] == "0"
    assert headers["RateLimit-Policy"] == '"per-key";q=5;w=60'


def test_rate_limit_is_per_key() -> None:
    limiter = RateLimiter(MemoryStore(), Clock(6000.0))
    for _ in range(3):
        limiter.check("a", 3)
    assert not limiter.check("a", 3).allowed
    assert limiter.check("b", 3).allowed


def test_sliding_window_weighs_the_previous_window() -> None:
    clock = Clock(6000.0)  # start of a window
    limiter = RateLimiter(MemoryStore(), clock)
    for _ in range(10):
        assert limiter.check("k", 10).allowed
    clock.now = 6060.0 + 6  # 10 % into the next window: the estimate is 9 + current
    assert limiter.check("k", 10).allowed  # 9 + 1
    assert not limiter.check("k", 10).allowed  # 9 + 2 > 10
    clock.now = 6060.0 + 57  # 95 % in: previous weighs 0.5
    assert limiter.check("k", 10).allowed


def ok(body: dict[str, object]) -> StoredResponse:
    return StoredResponse(202, body, {})


def test_same_key_same_request_replays_the_first_response() -> None:
    service = IdempotencyService(MemoryStore(), Clock(1000.0))
    calls: list[int] = []

    def produce() -> StoredResponse:
        calls.append(1)
        return ok({"n": len(calls)})

    first, replayed1 = service.run("t", "key-1", "fp", produce)
    second, replayed2 = service.run("t", "key-1", "fp", produce)
    assert (first.body, replayed1) == ({"n": 1}, False)
    assert (second.body, replayed2) == ({"n": 1}, True)
    assert len(calls) == 1


def test_same_key_other_request_is_422() -> None:
    service = IdempotencyService(MemoryStore(), Clock(1000.0))
    service.run("t", "key-1", "fp-a", lambda: ok({}))
    with pytest.raises(IdempotencyKeyReused):
        service.run("t", "key-1", "fp-b", lambda: ok({}))


def test_same_key_while_running_is_409() -> None:
    store = MemoryStore()
    service = IdempotencyService(store, Clock(1000.0))
    seen: list[str] = []

    def produce() -> StoredResponse:
        with pytest.raises(Conflict) as info:
            service.run("t", "key-1", "fp", lambda: ok({}))
        seen.append(info.value.code)
        return ok({})

    service.run("t", "key-1", "fp", produce)
    assert seen == ["idempotency-key-in-progress"]


def test_keys_are_scoped_to_the_tenant() -> None:
    service = IdempotencyService(MemoryStore(), Clock(1000.0))
    a, _ = service.run("tenant-a", "k", "fp-a", lambda: ok({"t": "a"}))
    b, replayed = service.run("tenant-b", "k", "fp-b", lambda: ok({"t": "b"}))
    assert (a.body, b.body, replayed) == ({"t": "a"}, {"t": "b"}, False)


def test_keys_expire_after_24_hours() -> None:
    clock = Clock(1000.0)
    service = IdempotencyService(MemoryStore(), clock)
    service.run("t", "k", "fp-a", lambda: ok({"v": 1}))
    clock.now += TTL_SECONDS + 1
    again, replayed = service.run("t", "k", "fp-b", lambda: ok({"v": 2}))
    assert (again.body, replayed) == ({"v": 2}, False)


def test_a_crash_releases_the_key_for_a_retry() -> None:
    service = IdempotencyService(MemoryStore(), Clock(1000.0))

    def boom() -> StoredResponse:
        raise RuntimeError("downstream failed")

    with pytest.raises(RuntimeError):
        service.run("t", "k", "fp", boom)
    retried, replayed = service.run("t", "k", "fp", lambda: ok({"second": True}))
    assert (retried.body, replayed) == ({"second": True}, False)


@pytest.mark.parametrize("key", ["", "x" * 256, "has space", "tab\there", "é"])
def test_malformed_idempotency_keys_are_400(key: str) -> None:
    with pytest.raises(BadRequest):
        IdempotencyService(MemoryStore()).run("t", key, "fp", lambda: ok({}))
