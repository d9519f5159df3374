"""The receiver's side of webhook signing, for tests: check Standard Webhooks and X-Perimeter-Signature headers.

Perimeter only signs (chalicelib.webhooks.signing); receivers verify with their own library. These
checks are the test suite's receiver.
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Mapping, Sequence

from chalicelib.webhooks.signing import (
    HEADER_ID,
    HEADER_SIGNATURE,
    HEADER_TIMESTAMP,
    PERIMETER_SIGNATURE_SEPARATOR,
    _check_message,
    _standard_signature,
    body_signature,
    secret_key,
)

TOLERANCE_SECONDS = 300  # receivers reject timestamps more than 5 minutes off either way
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")

class SignatureError(ValueError):
    """A webhook signature, timestamp or header failed verification."""


def _header(headers: Mapping[str, str], name: str) -> str:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    raise SignatureError(f"missing header {name}")


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "surrogatepass"))


def verify(
    secrets: Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: int | None = None,
    tolerance: int = TOLERANCE_SECONDS,
) -> None:
    """Check Standard Webhooks headers against `body`; any secret's `v1` signature may match.

    Comparison is constant-time on the canonical base64 text. `now` (Unix seconds) defaults to
    the clock. Raises SignatureError on a missing header, a timestamp outside `tolerance`, or no match;
    ValueError for a malformed secret.
    """
    msg_id = _header(headers, HEADER_ID)
    stamp = _header(headers, HEADER_TIMESTAMP)
    offered = _header(headers, HEADER_SIGNATURE).split(" ")
    if not _TIMESTAMP.match(stamp):
        raise SignatureError("webhook-timestamp is not Unix seconds")
    timestamp = int(stamp)
    current = int(time.time()) if now is None else now
    if abs(current - timestamp) > tolerance:
        raise SignatureError("webhook-timestamp is outside the tolerance")
    try:
        _check_message(msg_id, timestamp)
    except ValueError as exc:
        raise SignatureError(str(exc)) from None
    for secret in secrets:
        expected = _standard_signature(secret_key(secret), msg_id, timestamp, body)
        if any(_same(expected, candidate) for candidate in offered):
            return
    raise SignatureError("no matching webhook-signature")


def verify_perimeter_signature(secrets: Sequence[str], header_value: str, body: bytes) -> None:
    """Check `X-Perimeter-Signature` (comma-separated `sha256=<hex>`) over the raw body; any value may match.

    Raises SignatureError when none matches; ValueError for a malformed secret.
    """
    offered = [v.strip() for v in header_value.split(PERIMETER_SIGNATURE_SEPARATOR)]
    for secret in secrets:
        secret_key(secret)  # the same format rule as signing
        expected = body_signature(secret, body)
        if any(_same(expected, candidate) for candidate in offered):
            return
    raise SignatureError("no matching X-Perimeter-Signature")
