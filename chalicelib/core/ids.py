"""Opaque, time-ordered identifiers (ULID layout: 48-bit milliseconds + 80 random bits).

Monotonic within a process: ids made in the same millisecond increment the random part, so
newest-first listings keep creation order.
"""

from __future__ import annotations

import secrets
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last = (0, 0)


def ulid(now_ms: int | None = None) -> str:
    """A 26-character Crockford base32 ULID; lexical order follows creation order."""
    global _last
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    with _lock:
        last_ms, last_rand = _last
        if ms <= last_ms and last_rand < (1 << 80) - 1:
            ms, rand = last_ms, last_rand + 1
        else:
            rand = secrets.randbits(80)
        _last = (ms, rand)
    value = (ms << 80) | rand
    chars = []
    for _ in range(26):
        chars.append(_CROCKFORD[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """`prefix_` + a ULID, e.g. `scn_01J...`."""
    return f"{prefix}_{ulid()}"
