"""The object-store port (the reports bucket) and its one failure."""

from __future__ import annotations

from typing import Protocol


class ObjectStore(Protocol):
    """The reports bucket: encrypted objects under tenant prefixes, and short-lived download links."""

    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store `body` at `key` (server-side encrypted)."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; raises ObjectMissing."""
        ...

    def presign(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """A GET URL for `key` valid for `expires_in` seconds, as an attachment named `filename` when given."""
        ...


class ObjectMissing(Exception):
    """No object under that key."""
