"""Retry policy of DESIGN.md section 7: the schedule, Retry-After, outcome classes, SQS delay steps.

Pure: the clock (`now`) and the random source are passed in. Attempts are numbered from 1;
`RETRY_SCHEDULE[n]` is the pause after failed attempt n before attempt n + 1 (index 0 is the
first, immediate attempt).
"""

from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Protocol

DEFAULT_TIMEOUT = 10.0  # seconds one delivery attempt may take, connect to last byte (DESIGN.md section 7)

RETRY_SCHEDULE: tuple[timedelta, ...] = (
    timedelta(0),
    timedelta(seconds=5),
    timedelta(minutes=5),
    timedelta(minutes=30),
    timedelta(hours=2),
    timedelta(hours=5),
    timedelta(hours=10),
    timedelta(hours=14),
    timedelta(hours=20),
    timedelta(hours=24),
)
MAX_ATTEMPTS = len(RETRY_SCHEDULE)
JITTER = 0.1  # each pause is scaled by a uniform factor in [1 - JITTER, 1 + JITTER]
MAX_RETRY_AFTER = timedelta(hours=24)  # a receiver cannot push an attempt further than the longest pause

THROTTLE_STATUSES = frozenset({429, 502, 503, 504})
DISABLE_STATUSES = frozenset({410})

# SQS: DelaySeconds <= 15 min; a received message stays invisible at most 12 h in total, counted from
# the receive, so every hop of a longer wait is one receive. The margin covers the time between the
# receive and the ChangeMessageVisibility call (batching window, handler run time).
SQS_MAX_DELAY_SECONDS = 900
SQS_MAX_VISIBILITY_SECONDS = 43_200
SQS_VISIBILITY_MARGIN_SECONDS = 900
MAX_VISIBILITY_STEP = SQS_MAX_VISIBILITY_SECONDS - SQS_VISIBILITY_MARGIN_SECONDS

_DELAY_SECONDS = re.compile(r"^[0-9]{1,10}$")


class RandomSource(Protocol):
    """Anything with `random() -> float` in [0, 1), such as `random.Random(seed)`."""

    def random(self) -> float:
        """A float in [0, 1)."""
        ...


class Verdict(StrEnum):
    """What one HTTP outcome means for the delivery."""

    SUCCESS = "success"  # 2xx
    RETRY = "retry"  # 3xx (never followed), other 4xx/5xx, timeouts, connection and TLS errors
    THROTTLE = "throttle"  # 429/502/503/504: retry, honouring Retry-After
    DISABLE = "disable"  # 410: the receiver asks us to stop; disable the endpoint


class Action(StrEnum):
    """What the consumer does next."""

    DELIVERED = "delivered"
    RETRY = "retry"
    DEAD_LETTER = "dead-letter"  # the last attempt failed: DLQ, failed delivery in the log
    DISABLE = "disable"


@dataclass(frozen=True, slots=True)
class Decision:
    """The consumer's next step after attempt `attempt`."""

    attempt: int
    verdict: Verdict
    action: Action
    delay: timedelta | None = None  # pause before `next_attempt`, when action is RETRY
    next_attempt: int | None = None


def classify(status_code: int | None) -> Verdict:
    """Classify an HTTP status; None (timeout, connection, TLS or guard failure) is RETRY."""
    if status_code is None:
        return Verdict.RETRY
    if 200 <= status_code < 300:
        return Verdict.SUCCESS
    if status_code in DISABLE_STATUSES:
        return Verdict.DISABLE
    if status_code in THROTTLE_STATUSES:
        return Verdict.THROTTLE
    return Verdict.RETRY


def _aware(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return now


def parse_retry_after(value: str | None, now: datetime, *, cap: timedelta = MAX_RETRY_AFTER) -> timedelta | None:
    """A Retry-After header (delay-seconds or HTTP-date) as a pause from `now`, capped at `cap`.

    A date in the past is a zero pause; a missing or unparsable value is None. Raises ValueError
    for a naive `now`.
    """
    _aware(now)
    if value is None or not value.strip():
        return None
    text = value.strip()
    if _DELAY_SECONDS.match(text):
        return min(timedelta(seconds=int(text)), cap)
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return min(max(when - now, timedelta(0)), cap)


@dataclass(frozen=True)
class RetryPolicy:
    """The schedule, its jitter and the Retry-After cap; `rng` makes jitter reproducible in tests."""

    schedule: tuple[timedelta, ...] = RETRY_SCHEDULE
    jitter: float = JITTER
    retry_after_cap: timedelta = MAX_RETRY_AFTER
    rng: RandomSource = field(default_factory=random.Random)

    @property
    def max_attempts(self) -> int:
        """Attempts in total, the first one included."""
        return len(self.schedule)

    def scheduled_delay(self, attempt: int) -> timedelta | None:
        """The jittered pause after failed attempt `attempt`; None after the last. Raises ValueError if < 1."""
        if attempt < 1:
            raise ValueError("attempts are numbered from 1")
        if attempt >= self.max_attempts:
            return None
        base = self.schedule[attempt]
        factor = 1.0 + self.jitter * (2.0 * self.rng.random() - 1.0)
        return base * factor

    def next_delay(self, attempt: int, retry_after_header: str | None, now: datetime) -> timedelta | None:
        """Pause before attempt `attempt + 1`: the jittered schedule, or Retry-After when that is longer.

        None once `attempt` was the last. Raises ValueError for attempt < 1 or a naive `now`.
        """
        _aware(now)
        delay = self.scheduled_delay(attempt)
        if delay is None:
            return None
        asked = parse_retry_after(retry_after_header, now, cap=self.retry_after_cap)
        return delay if asked is None else max(delay, asked)

    def decide(self, attempt: int, status_code: int | None, retry_after_header: str | None,
               now: datetime) -> Decision:
        """The consumer's next step after attempt `attempt` ended with `status_code` (None: no response).

        Retry-After is honoured on throttling statuses only. Raises ValueError like `next_delay`.
        """
        verdict = classify(status_code)
        if verdict is Verdict.SUCCESS:
            return Decision(attempt, verdict, Action.DELIVERED)
        if verdict is Verdict.DISABLE:
            return Decision(attempt, verdict, Action.DISABLE)
        header = retry_after_header if verdict is Verdict.THROTTLE else None
        delay = self.next_delay(attempt, header, now)
        if delay is None:
            return Decision(attempt, verdict, Action.DEAD_LETTER)
        return Decision(attempt, verdict, Action.RETRY, delay, attempt + 1)


DEFAULT_POLICY = RetryPolicy()


def next_delay(attempt: int, retry_after_header: str | None, now: datetime,
               *, policy: RetryPolicy = DEFAULT_POLICY) -> timedelta | None:
    """`policy.next_delay`: the pause before attempt `attempt + 1`, or None after the last attempt."""
    return policy.next_delay(attempt, retry_after_header, now)


def decide(attempt: int, status_code: int | None, retry_after_header: str | None, now: datetime,
           *, policy: RetryPolicy = DEFAULT_POLICY) -> Decision:
    """`policy.decide`: deliver, retry (with its pause), dead-letter or disable."""
    return policy.decide(attempt, status_code, retry_after_header, now)


def sqs_steps(delay: timedelta, *, max_step: int = MAX_VISIBILITY_STEP) -> list[int]:
    """Split a pause into whole-second visibility timeouts, each at most `max_step` (one per receive).

    [] for a zero pause. Raises ValueError for a negative pause or a `max_step` outside 1..43200.
    """
    if not 1 <= max_step <= SQS_MAX_VISIBILITY_SECONDS:
        raise ValueError(f"max_step must be within 1..{SQS_MAX_VISIBILITY_SECONDS}")
    total = math.ceil(delay.total_seconds())
    if total < 0:
        raise ValueError("a pause cannot be negative")
    full, rest = divmod(total, max_step)
    return [max_step] * full + ([rest] if rest else [])


def send_delay_seconds(delay: timedelta) -> int:
    """The DelaySeconds for SendMessage of the next attempt: the pause, at most 15 minutes."""
    return min(max(math.ceil(delay.total_seconds()), 0), SQS_MAX_DELAY_SECONDS)


def visibility_for(not_before: datetime, now: datetime, *, max_step: int = MAX_VISIBILITY_STEP) -> int | None:
    """At a receive: None when the attempt is due (within 1 s), else the ChangeMessageVisibility timeout.

    Raises ValueError for naive datetimes.
    """
    remaining = (_aware(not_before) - _aware(now)).total_seconds()
    if remaining < 1.0:
        return None
    return min(math.ceil(remaining), max_step)
