"""Idempotency-Key for POSTs (IETF draft semantics), scoped to the tenant, kept 24 hours.

Same key and same request: the first response again. Same key, other request: 422. First still
running: 409. Server errors release the key so the client can retry.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core.errors import BadRequest, Conflict, IdempotencyKeyReused
from chalicelib.core.store import ConditionFailed, KeyValueStore

TTL_SECONDS = 24 * 3600
_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


@dataclass
class StoredResponse:
    """An HTTP response as kept for replay."""

    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)


def fingerprint(method: str, path: str, body: bytes) -> str:
    """A digest of what makes two requests 'the same request'."""
    return hashlib.sha256(method.encode() + b" " + path.encode() + b"\n" + body).hexdigest()


class IdempotencyService:
    """Runs a request once per (tenant, key) and replays its response."""

    def __init__(self, store: KeyValueStore, clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._clock = clock

    def run(self, tenant_id: str, key: str, request_fingerprint: str,
            produce: Callable[[], StoredResponse]) -> tuple[StoredResponse, bool]:
        """Return (response, replayed). Raises BadRequest, IdempotencyKeyReused or Conflict."""
        if not _KEY.match(key):
            raise BadRequest("Idempotency-Key must be 1-255 visible ASCII characters.",
                             code="invalid-idempotency-key")
        pk, sk = f"TENANT#{tenant_id}", "IDEM#" + hashlib.sha256(key.encode()).hexdigest()
        now = int(self._clock())
        try:
            claim = self._store.put(pk, sk, {"fingerprint": request_fingerprint, "state": "running"},
                                    expect_version=0, expires_at=now + TTL_SECONDS, replace_expired_before=now)
        except ConditionFailed:
            return self._replay(pk, sk, request_fingerprint), True
        try:
            response = produce()
        except Exception:
            self._store.delete(pk, sk, expect_version=claim.version)
            raise
        if response.status >= 500:
            self._store.delete(pk, sk, expect_version=claim.version)
        else:
            self._store.put(pk, sk, {"fingerprint": request_fingerprint, "state": "done",
                                     "status": response.status, "body": response.body,
                                     "headers": response.headers},
                            expires_at=now + TTL_SECONDS)
        return response, False

    def _replay(self, pk: str, sk: str, request_fingerprint: str) -> StoredResponse:
        record = self._store.get(pk, sk)
        if record is None:
            raise Conflict("A request with this Idempotency-Key just failed; retry it.",
                           code="idempotency-key-in-progress")
        if record.data.get("fingerprint") != request_fingerprint:
            raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
        if record.data.get("state") != "done":
            raise Conflict("A request with this Idempotency-Key is still being processed.",
                           code="idempotency-key-in-progress")
        return StoredResponse(record.data["status"], record.data["body"], dict(record.data.get("headers", {})))
