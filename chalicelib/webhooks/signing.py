"""Webhook secrets and signatures: Standard Webhooks 1.0 headers plus `X-Perimeter-Signature`.

The two signatures are keyed differently, each as its receivers compute it:
- `webhook-signature` (Standard Webhooks): HMAC-SHA256 of `id.timestamp.body` keyed with the
  base64-decoded part after `whsec_`, as the `standardwebhooks` libraries do;
- `X-Perimeter-Signature: sha256=<hex>`: HMAC-SHA256 of the raw body keyed with the secret string
  exactly as shown to the partner (the whole `whsec_...` text as UTF-8), as a plain receiver does.
`secrets` lists are ordered newest first: `secrets[0]` is the current secret, later entries are
previous secrets still inside their rotation overlap. Every secret in the list signs both headers:
`webhook-signature` carries space-separated `v1,` values, `X-Perimeter-Signature` comma-separated
`sha256=` values (newest first; a single value outside a rotation).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from secrets import token_bytes

SECRET_PREFIX = "whsec_"  # noqa: S105 - a format prefix, not a secret
SECRET_BYTES = 32
MIN_SECRET_BYTES, MAX_SECRET_BYTES = 24, 64  # Standard Webhooks: 24 to 64 random bytes

HEADER_ID = "webhook-id"
HEADER_TIMESTAMP = "webhook-timestamp"
HEADER_SIGNATURE = "webhook-signature"
HEADER_PERIMETER_SIGNATURE = "X-Perimeter-Signature"
PERIMETER_SIGNATURE_SEPARATOR = ","  # between the values of X-Perimeter-Signature during a rotation

_MSG_ID = re.compile(r"^[\x21-\x7e]{1,256}$")  # visible ASCII: safe in a header and unambiguous


def new_secret() -> str:
    """A new signing secret: `whsec_` + base64 of 32 random bytes."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode("ascii")


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_` secret (its base64-decoded part); raises ValueError if malformed."""
    if not secret.startswith(SECRET_PREFIX):
        raise ValueError(f"webhook secrets start with {SECRET_PREFIX!r}")
    encoded = secret[len(SECRET_PREFIX):]
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except binascii.Error as exc:
        raise ValueError(f"webhook secret is not valid base64: {exc}") from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(f"webhook secret must hold {MIN_SECRET_BYTES} to {MAX_SECRET_BYTES} bytes, not {len(key)}")
    return key


def _check_message(msg_id: str, timestamp: int) -> None:
    if not _MSG_ID.match(msg_id):
        raise ValueError("msg_id must be 1 to 256 visible ASCII characters")
    if isinstance(timestamp, bool) or not isinstance(timestamp, int) or timestamp < 0:
        raise ValueError("timestamp must be a non-negative integer (Unix seconds)")


def _standard_signature(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(key, b"%s.%d.%s" % (msg_id.encode("ascii"), timestamp, body), hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def body_signature(secret: str, body: bytes) -> str:
    """`sha256=<hex>`: HMAC-SHA256 of the raw body keyed with the secret text as shown (UTF-8)."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def standard_headers(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The Standard Webhooks headers every delivery carries, whatever its format: `webhook-id`,
    `webhook-timestamp` and `webhook-signature` (one `v1,<base64>` per secret, space-separated).

    Raises ValueError for an empty secret list, a malformed secret, msg_id or timestamp.
    """
    if not secrets:
        raise ValueError("at least one secret is needed to sign")
    _check_message(msg_id, timestamp)
    keys = [secret_key(s) for s in secrets]
    return {
        HEADER_ID: msg_id,
        HEADER_TIMESTAMP: str(timestamp),
        HEADER_SIGNATURE: " ".join(_standard_signature(k, msg_id, timestamp, body) for k in keys),
    }


def sign(secrets: list[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Signature headers for one delivery attempt.

    Returns `webhook-id`, `webhook-timestamp`, `webhook-signature` (one `v1,<base64>` per secret,
    space-separated) and `X-Perimeter-Signature` (one `sha256=<hex>` over the raw body per secret,
    comma-separated, keyed with the secret text itself). Raises ValueError for an empty secret list,
    a malformed secret, msg_id or timestamp.
    """
    return {
        **standard_headers(secrets, msg_id, timestamp, body),
        HEADER_PERIMETER_SIGNATURE: PERIMETER_SIGNATURE_SEPARATOR.join(body_signature(s, body) for s in secrets),
    }
