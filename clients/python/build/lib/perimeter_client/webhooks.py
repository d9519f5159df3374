"""Verify a webhook delivery before trusting it: Standard Webhooks headers, or the legacy X-Perimeter-Signature.

- Standard Webhooks: `webhook-signature` holds space-separated `v1,<base64>` values, each the
  HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{raw body}` keyed with the base64-decoded part
  of the secret after `whsec_`; timestamps more than 5 minutes off are refused (replays).
- `X-Perimeter-Signature`: comma-separated `sha256=<hex>` HMAC-SHA256 of the raw body keyed with the
  whole secret string as UTF-8. It carries no timestamp, so it is used only when the Standard
  Webhooks headers are absent.
During a secret rotation a delivery carries one signature per live secret; pass both secrets.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any, Union

from perimeter_client.errors import WebhookVerificationError

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
TOLERANCE_SECONDS = 300
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")
Secrets = Union[str, Sequence[str]]


def _secrets(secrets: Secrets) -> list[str]:
    found = [secrets] if isinstance(secrets, str) else list(secrets)
    if not found:
        raise ValueError("at least one webhook secret is needed")
    return found


def _header(headers: Mapping[str, str], name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _same(expected: str, given: str) -> bool:
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8", "surrogatepass"))


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (its base64 part, decoded); raises ValueError when malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secrets start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX):]
    try:
        return base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error:
        raise ValueError("the webhook secret is not valid base64 after whsec_") from None


def standard_signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """`v1,<base64>` for one secret, as Perimeter (and any Standard Webhooks sender) signs."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(secret_key(secret), signed, hashlib.sha256).digest()).decode("ascii")


def perimeter_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>` for one secret, keyed with the secret text itself."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def verify_standard(secrets: Secrets, headers: Mapping[str, str], body: bytes, *, now: float | None = None,
                    tolerance: int = TOLERANCE_SECONDS) -> None:
    """Check `webhook-id`, `webhook-timestamp` and `webhook-signature`; raises WebhookVerificationError."""
    msg_id, stamp = _header(headers, "webhook-id"), _header(headers, "webhook-timestamp")
    offered = _header(headers, "webhook-signature")
    if not msg_id or not stamp or not offered:
        raise WebhookVerificationError("missing webhook-id, webhook-timestamp or webhook-signature")
    if not _TIMESTAMP.match(stamp.strip()):
        raise WebhookVerificationError("webhook-timestamp is not Unix seconds")
    timestamp = int(stamp.strip())
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance:
        raise WebhookVerificationError("webhook-timestamp is too far from now (a replay?)")
    candidates = [c for c in offered.split(" ") if c]
    for secret in _secrets(secrets):
        expected = standard_signature(secret, msg_id, timestamp, body)
        if any(_same(expected, c) for c in candidates):
            return
    raise WebhookVerificationError("no webhook-signature matches")


def verify_perimeter(secrets: Secrets, header_value: str, body: bytes) -> None:
    """Check an `X-Perimeter-Signature` value over the raw body; raises WebhookVerificationError."""
    candidates = [c.strip() for c in header_value.split(",") if c.strip()]
    for secret in _secrets(secrets):
        expected = perimeter_signature(secret, body)
        if any(_same(expected, c) for c in candidates):
            return
    raise WebhookVerificationError("no X-Perimeter-Signature matches")


def verify_webhook(secrets: Secrets, headers: Mapping[str, str], body: bytes, *, now: float | None = None,
                   tolerance: int = TOLERANCE_SECONDS) -> dict[str, Any]:
    """Verify a delivery and return its decoded JSON event; raises WebhookVerificationError.

    Standard Webhooks headers are checked when present (their failure is final); otherwise the
    `X-Perimeter-Signature` header. A malformed secret raises ValueError.
    """
    if _header(headers, "webhook-signature") is not None:
        verify_standard(secrets, headers, body, now=now, tolerance=tolerance)
    else:
        legacy = _header(headers, "X-Perimeter-Signature")
        if legacy is None:
            raise WebhookVerificationError("no webhook-signature or X-Perimeter-Signature header")
        verify_perimeter(secrets, legacy, body)
    try:
        event = json.loads(body)
    except ValueError:
        raise WebhookVerificationError("the signed body is not JSON") from None
    if not isinstance(event, dict):
        raise WebhookVerificationError("the signed body is not a JSON object")
    return event
