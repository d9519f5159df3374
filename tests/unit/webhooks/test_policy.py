"""Retry schedule, jitter, Retry-After, outcome classes and SQS delay steps (injected clock and randomness)."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from chalicelib.webhooks.policy import (
    MAX_ATTEMPTS,
    MAX_VISIBILITY_STEP,
    RETRY_SCHEDULE,
    SQS_MAX_DELAY_SECONDS,
    SQS_MAX_VISIBILITY_SECONDS,
    Action,
    RetryPolicy,
    Verdict,
    classify,
    decide,
    next_delay,
    parse_retry_after,
    send_delay_seconds,
    sqs_steps,
    visibility_for,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
DESIGN_SCHEDULE = [0, 5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]  # DESIGN.md section 7
PROVISIONED_MAX_RECEIVE_COUNT = 10  # chalicelib/local/provision.py redrive policy


class FixedRandom:
    """A random source that always returns the same value."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


def no_jitter() -> RetryPolicy:
    return RetryPolicy(rng=FixedRandom(0.5))


def test_schedule_is_the_design_one() -> None:
    assert [d.total_seconds() for d in RETRY_SCHEDULE] == DESIGN_SCHEDULE
    assert MAX_ATTEMPTS == 10


def test_next_delay_follows_the_schedule_and_stops_after_the_last_attempt() -> None:
    policy = no_jitter()
    delays = [policy.next_delay(attempt, None, NOW) for attempt in range(1, MAX_ATTEMPTS + 1)]
    assert [d.total_seconds() if d is not None else None for d in delays] == [*DESIGN_SCHEDULE[1:], None]
    assert policy.next_delay(25, None, NOW) is None
    with pytest.raises(ValueError):
        policy.next_delay(0, None, NOW)


@pytest.mark.parametrize(("draw", "factor"), [(0.0, 0.9), (0.5, 1.0), (0.999999, 1.1)])
def test_jitter_is_ten_percent_either_way(draw: float, factor: float) -> None:
    delay = RetryPolicy(rng=FixedRandom(draw)).next_delay(4, None, NOW)
    assert delay is not None
    assert delay.total_seconds() == pytest.approx(7200 * factor, rel=1e-5)


def test_seeded_jitter_is_reproducible_and_bounded() -> None:
    def run(seed: int) -> list[float]:
        policy = RetryPolicy(rng=random.Random(seed))
        return [d.total_seconds() for a in range(1, MAX_ATTEMPTS) if (d := policy.next_delay(a, None, NOW))]

    first, again, other = run(7), run(7), run(8)
    assert first == again != other
    for observed, base in zip(first, DESIGN_SCHEDULE[1:], strict=True):
        assert 0.9 * base <= observed <= 1.1 * base


def test_module_next_delay_uses_the_default_policy() -> None:
    delay = next_delay(1, None, NOW)
    assert delay is not None and 4.5 <= delay.total_seconds() <= 5.5
    assert next_delay(MAX_ATTEMPTS, None, NOW) is None


def test_retry_after_seconds_wins_when_longer_than_the_schedule() -> None:
    policy = no_jitter()
    assert policy.next_delay(1, "120", NOW) == timedelta(seconds=120)
    assert policy.next_delay(3, "1", NOW) == timedelta(minutes=30)  # the schedule is longer
    assert policy.next_delay(1, " 60 ", NOW) == timedelta(seconds=60)


def test_retry_after_http_date_is_measured_from_the_injected_clock() -> None:
    policy = no_jitter()
    in_an_hour = format_datetime(NOW + timedelta(hours=1), usegmt=True)
    assert policy.next_delay(1, in_an_hour, NOW) == timedelta(hours=1)
    later = NOW + timedelta(minutes=30)
    assert policy.next_delay(1, in_an_hour, later) == timedelta(minutes=30)
    assert parse_retry_after("Sun, 01 Mar 2026 11:00:00 GMT", NOW) == timedelta(0)  # in the past


def test_retry_after_is_capped_and_garbage_ignored() -> None:
    policy = no_jitter()
    assert policy.next_delay(1, "999999999", NOW) == timedelta(hours=24)
    far = format_datetime(NOW + timedelta(days=30), usegmt=True)
    assert parse_retry_after(far, NOW) == timedelta(hours=24)
    for garbage in ("soon", "-5", "1.5", "", "0x10", "Mon, 99 Foo 2026"):
        assert parse_retry_after(garbage, NOW) is None
        assert policy.next_delay(1, garbage, NOW) == timedelta(seconds=5)
    assert policy.next_delay(MAX_ATTEMPTS, "60", NOW) is None  # Retry-After cannot add attempts


def test_naive_clock_is_refused() -> None:
    with pytest.raises(ValueError):
        no_jitter().next_delay(1, None, datetime(2026, 3, 1))


@pytest.mark.parametrize(("status", "verdict"), [
    (200, Verdict.SUCCESS), (201, Verdict.SUCCESS), (204, Verdict.SUCCESS), (299, Verdict.SUCCESS),
    (301, Verdict.RETRY), (302, Verdict.RETRY), (307, Verdict.RETRY), (308, Verdict.RETRY),
    (400, Verdict.RETRY), (401, Verdict.RETRY), (404, Verdict.RETRY), (500, Verdict.RETRY),
    (410, Verdict.DISABLE),
    (429, Verdict.THROTTLE), (502, Verdict.THROTTLE), (503, Verdict.THROTTLE), (504, Verdict.THROTTLE),
    (None, Verdict.RETRY),
])
def test_classify(status: int | None, verdict: Verdict) -> None:
    assert classify(status) is verdict


def test_decide_honours_retry_after_on_throttling_only() -> None:
    policy = no_jitter()
    throttled = policy.decide(1, 503, "600", NOW)
    assert (throttled.action, throttled.delay, throttled.next_attempt) == (Action.RETRY, timedelta(seconds=600), 2)
    plain = policy.decide(1, 500, "600", NOW)
    assert (plain.action, plain.delay) == (Action.RETRY, timedelta(seconds=5))
    assert policy.decide(4, 200, None, NOW).action is Action.DELIVERED
    assert policy.decide(4, 410, "60", NOW).action is Action.DISABLE
    assert policy.decide(2, 302, None, NOW).action is Action.RETRY
    assert policy.decide(2, None, None, NOW).action is Action.RETRY
    last = decide(MAX_ATTEMPTS, 503, "60", NOW)
    assert (last.action, last.delay, last.next_attempt) == (Action.DEAD_LETTER, None, None)


def test_a_receiver_that_always_fails_gets_ten_attempts_over_about_three_days() -> None:
    policy = RetryPolicy(rng=random.Random(1))
    clock, attempt, attempts_at = NOW, 1, [NOW]
    while True:
        decision = policy.decide(attempt, 500, None, clock)
        if decision.action is not Action.RETRY:
            break
        assert decision.delay is not None and decision.next_attempt == attempt + 1
        clock += decision.delay
        attempt = decision.next_attempt
        attempts_at.append(clock)
    assert decision.action is Action.DEAD_LETTER and len(attempts_at) == 10
    total = (attempts_at[-1] - NOW).total_seconds()
    assert 0.9 * sum(DESIGN_SCHEDULE) <= total <= 1.1 * sum(DESIGN_SCHEDULE)  # ~75.6 h


def test_sqs_steps_respect_the_twelve_hour_limit() -> None:
    assert sqs_steps(timedelta(0)) == []
    assert sqs_steps(timedelta(seconds=5)) == [5]
    assert sqs_steps(timedelta(seconds=4.2)) == [5]
    assert sqs_steps(timedelta(seconds=MAX_VISIBILITY_STEP)) == [MAX_VISIBILITY_STEP]
    assert sqs_steps(timedelta(hours=24)) == [MAX_VISIBILITY_STEP, MAX_VISIBILITY_STEP, 86400 - 2 * MAX_VISIBILITY_STEP]
    assert sqs_steps(timedelta(hours=24), max_step=SQS_MAX_VISIBILITY_SECONDS) == [43200, 43200]
    for hours in (2, 5, 10, 14, 20, 24, 26.4, 100):
        steps = sqs_steps(timedelta(hours=hours))
        assert sum(steps) == math.ceil(hours * 3600)
        assert all(0 < s <= SQS_MAX_VISIBILITY_SECONDS for s in steps)
    with pytest.raises(ValueError):
        sqs_steps(timedelta(seconds=-1))
    with pytest.raises(ValueError):
        sqs_steps(timedelta(hours=1), max_step=43201)


def test_send_delay_and_per_receive_visibility() -> None:
    assert send_delay_seconds(timedelta(seconds=5)) == 5
    assert send_delay_seconds(timedelta(hours=2)) == SQS_MAX_DELAY_SECONDS
    not_before = NOW + timedelta(hours=20)
    assert visibility_for(not_before, NOW) == MAX_VISIBILITY_STEP
    assert visibility_for(not_before, not_before - timedelta(seconds=100)) == 100
    assert visibility_for(not_before, not_before - timedelta(seconds=0.5)) is None
    assert visibility_for(not_before, not_before + timedelta(hours=1)) is None
    with pytest.raises(ValueError):
        visibility_for(datetime(2026, 3, 1), NOW)


def test_a_message_per_attempt_stays_under_the_queue_receive_limit() -> None:
    """Send with DelaySeconds, then hop with visibility changes: receives per message for the longest pause."""
    longest = RetryPolicy(rng=FixedRandom(0.999999)).next_delay(MAX_ATTEMPTS - 1, None, NOW)
    assert longest is not None
    clock = NOW + timedelta(seconds=send_delay_seconds(longest))
    not_before, receives = NOW + longest, 0
    while True:
        receives += 1
        hop = visibility_for(not_before, clock)
        if hop is None:
            break
        assert hop <= SQS_MAX_VISIBILITY_SECONDS
        clock += timedelta(seconds=hop)
    assert receives == 4  # 26.4 h: 15 min delay, then 11.75 h + 11.75 h + the rest
    assert receives < PROVISIONED_MAX_RECEIVE_COUNT
