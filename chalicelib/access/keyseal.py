"""A new API key on its way through the Idempotency-Key record: sealed there, revealed in the response.

The plaintext of a key is shown once and never stored; but a POST with an Idempotency-Key stores
its response for replays. The key-creating operation therefore answers the key sealed with
AES-256-GCM under a key derived (HKDF) from the key pepper, bound to the tenant and the key id;
the response step reveals it just before it leaves. A replay within 24 h shows the same key again.
"""

from __future__ import annotations

import base64
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

SEALED_PREFIX = "sealed:"
_INFO = b"perimeter/api-key-response/v1"
_NONCE = 12


class KeySeal:
    """Seals and reveals plaintext keys for one deployment (its pepper)."""

    def __init__(self, pepper: bytes) -> None:
        self._aead = AESGCM(HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(pepper))

    def seal(self, plaintext: str, context: str) -> str:
        """`sealed:` + base64url(nonce || ciphertext), bound to `context` (tenant and key id)."""
        nonce = os.urandom(_NONCE)
        box = self._aead.encrypt(nonce, plaintext.encode(), context.encode())
        return SEALED_PREFIX + base64.urlsafe_b64encode(nonce + box).decode().rstrip("=")

    def reveal(self, sealed: str, context: str) -> str:
        """The plaintext `seal` sealed under the same context; raises ValueError for anything else."""
        if not sealed.startswith(SEALED_PREFIX):
            raise ValueError("not a sealed key")
        text = sealed[len(SEALED_PREFIX):]
        try:
            data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
            return self._aead.decrypt(data[:_NONCE], data[_NONCE:], context.encode()).decode()
        except (InvalidTag, ValueError) as exc:
            raise ValueError("the sealed key does not open") from exc
