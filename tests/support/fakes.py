"""Test doubles shared by the tests and benches: the one Resolver fake, a manual clock, a fixed random."""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

from chalicelib.core.addresses import IPAddress
from chalicelib.net.ports import DomainNotFound, ResolverUnavailable


class FakeResolver:
    """The Resolver port from a table; a host may list successive answers (DNS rebinding).

    `answers[host]` is either a list of addresses (the same every time) or a list of such lists,
    used in turn (the last one repeats). Unknown hosts raise DomainNotFound; with `unavailable`
    (the error text) every call raises ResolverUnavailable. Every call is recorded in `calls`.
    """

    def __init__(self, answers: Mapping[str, Sequence[str] | Sequence[Sequence[str]]] | None = None, *,
                 unavailable: str | None = None) -> None:
        self.answers = dict(answers or {})
        self.unavailable = unavailable
        self.calls: list[str] = []

    def resolve(self, host: str) -> list[IPAddress]:
        """Addresses of `host`; raises DomainNotFound or ResolverUnavailable."""
        turn = sum(1 for h in self.calls if h == host)
        self.calls.append(host)
        if self.unavailable is not None:
            raise ResolverUnavailable(self.unavailable)
        if host not in self.answers:
            raise DomainNotFound(host)
        table = self.answers[host]
        if table and not isinstance(table[0], str):
            rounds = [list(r) for r in table]
            current = rounds[min(turn, len(rounds) - 1)]
        else:
            current = [str(a) for a in table]
        return [ipaddress.ip_address(a) for a in current]


class ManualClock:
    """An injectable clock for the webhook consumer, the service and MemoryQueue: moves only when told.

    `now()` is a timezone-aware datetime (the consumer's clock), `time()` epoch seconds (the queue's).
    """

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime.now(UTC).replace(microsecond=0)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def time(self) -> float:
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        with self._lock:
            self._now += timedelta(seconds=seconds)

    def advance_to(self, epoch: float) -> None:
        """Move forward to `epoch` (never backwards)."""
        with self._lock:
            target = datetime.fromtimestamp(epoch, UTC)
            if target > self._now:
                self._now = target


class FixedRandom:
    """`random()` always 0.5: the policy's jitter factor is exactly 1."""

    def random(self) -> float:
        return 0.5
