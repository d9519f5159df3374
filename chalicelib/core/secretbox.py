"""Webhook signing secrets at rest: AES-256-GCM under a key derived from a server-side setting.

A signing secret must be recoverable to sign, so it cannot only be hashed. It is wrapped with a
key derived by HKDF-SHA256 from PERIMETER_WEBHOOK_SECRET_KEY (on the local stage, from the key
pepper when that is unset), and the wrapping binds a context string (tenant, webhook, secret id)
as associated data, so a wrapped value copied to another record or tenant does not decrypt.
Format: `v1.<key id>.<base64url(nonce || ciphertext+tag)>`; the key id names the wrapping key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1"
_INFO = b"perimeter/webhook-secrets/v1"
_NONCE_BYTES = 12
MIN_MASTER_BYTES = 16


class SecretUnwrapError(ValueError):
    """A wrapped secret could not be opened: other key, other context, or tampered."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SecretBox:
    """Wraps and unwraps short secrets; thread-safe (AESGCM objects are stateless)."""

    def __init__(self, master_key: bytes) -> None:
        if len(master_key) < MIN_MASTER_BYTES:
            raise ValueError(f"the webhook secret key needs at least {MIN_MASTER_BYTES} bytes")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(master_key)
        self._aead = AESGCM(key)
        self.key_id = hmac.new(key, b"key-id", hashlib.sha256).hexdigest()[:12]

    def wrap(self, secret: str, context: str) -> str:
        """Encrypt `secret`, bound to `context`."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode("utf-8"), context.encode("utf-8"))
        return f"{VERSION}.{self.key_id}.{_b64(nonce + sealed)}"

    def unwrap(self, wrapped: str, context: str) -> str:
        """Decrypt a value made by `wrap` with the same key and context; raises SecretUnwrapError."""
        version, _, rest = wrapped.partition(".")
        key_id, _, payload = rest.partition(".")
        if version != VERSION or not payload:
            raise SecretUnwrapError("not a wrapped secret")
        if not hmac.compare_digest(key_id.encode(), self.key_id.encode()):
            raise SecretUnwrapError("wrapped with another key (was the wrapping key changed?)")
        try:
            raw = _unb64(payload)
            plain = self._aead.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context.encode("utf-8"))
        except (InvalidTag, ValueError, binascii.Error):
            raise SecretUnwrapError("the wrapped secret does not open with this key and context") from None
        return plain.decode("utf-8")
