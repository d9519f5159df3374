"""Per-key rate limiting: a sliding-window counter over DynamoDB (one atomic ADD per request).

The estimate is `previous_window * (1 - elapsed_fraction) + current_window`, as Cloudflare's
sliding window does. A finished window's count never changes, so it is cached in-process.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from chalicelib.core.errors import RateLimited
from chalicelib.core.store import KeyValueStore

WINDOW_SECONDS = 60


@dataclass(frozen=True)
class RateDecision:
    """The outcome of one request against the limit, with what the headers need."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int
    retry_after: int

    def headers(self) -> dict[str, str]:
        """RateLimit draft headers, the X-RateLimit trio, and Retry-After when refused."""
        headers = {
            "RateLimit-Policy": f'"per-key";q={self.limit};w={WINDOW_SECONDS}',
            "RateLimit": f'"per-key";r={self.remaining};t={self.reset_after}',
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(self.remaining),
            "X-RateLimit-Reset": str(self.reset_after),
        }
        if not self.allowed:
            headers["Retry-After"] = str(self.retry_after)
        return headers


class RateLimiter:
    """Counts requests per key in fixed windows and judges them on the sliding estimate."""

    def __init__(self, store: KeyValueStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock
        self._closed: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def _previous_count(self, key_id: str, window: int) -> int:
        with self._lock:
            if (key_id, window) in self._closed:
                return self._closed[(key_id, window)]
        record = self._store.get(f"RATE#{key_id}", f"W#{window}")
        count = record.counters.get("n", 0) if record else 0
        with self._lock:
            if len(self._closed) > 10_000:
                self._closed.clear()
            self._closed[(key_id, window)] = count
        return count

    def check(self, key_id: str, limit: int) -> RateDecision:
        """Count one request and decide; raises nothing (the caller raises RateLimited)."""
        now = self._clock()
        window = int(now // WINDOW_SECONDS) * WINDOW_SECONDS
        elapsed = (now - window) / WINDOW_SECONDS
        current = self._store.increment(
            f"RATE#{key_id}", f"W#{window}", {"n": 1}, expires_at=window + 3 * WINDOW_SECONDS
        ).counters["n"]
        previous = self._previous_count(key_id, window - WINDOW_SECONDS)
        estimate = previous * (1 - elapsed) + current
        reset_after = max(1, math.ceil(window + WINDOW_SECONDS - now))
        allowed = estimate <= limit
        retry_after = reset_after
        if not allowed and previous:
            # When does the previous window's weight decay enough for one more request?
            needed = (previous + current - limit) / previous
            retry_after = max(1, math.ceil((needed - elapsed) * WINDOW_SECONDS)) if needed < 1 else reset_after
        return RateDecision(allowed, limit, max(0, math.floor(limit - estimate)), reset_after, retry_after)

    def enforce(self, key_id: str, limit: int) -> RateDecision:
        """Like `check`, but raise RateLimited (with the rate headers) when over the limit."""
        decision = self.check(key_id, limit)
        if not decision.allowed:
            raise RateLimited(
                f"More than {limit} requests in {WINDOW_SECONDS} s for this key; retry after "
                f"{decision.retry_after} s.", headers=decision.headers(), retry_after=decision.retry_after,
            )
        return decision
