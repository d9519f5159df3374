"""Report integrity: a SHA-256 digest to store, and an HMAC-SHA256 signature partners can verify."""

from __future__ import annotations

import hashlib
import hmac

MIN_KEY_BYTES = 16


def sha256_hex(body: bytes) -> str:
    """Lower-case hex SHA-256 of a report's bytes."""
    return hashlib.sha256(body).hexdigest()


def sign_report(body: bytes, key: bytes) -> str:
    """Lower-case hex HMAC-SHA256 of a report's bytes under `key` (at least 16 bytes)."""
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"signing keys must be at least {MIN_KEY_BYTES} bytes")
    return hmac.new(key, body, hashlib.sha256).hexdigest()
