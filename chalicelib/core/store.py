"""The storage port: a small key-value table that DynamoDB and an in-memory fake both implement."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol


class ConditionFailed(Exception):
    """A conditional write found the item in another state than expected."""


@dataclass(frozen=True)
class Record:
    """One stored item: a JSON document, an optimistic-lock version, optional expiry and counters."""

    pk: str
    sk: str
    data: dict[str, Any]
    version: int
    expires_at: int | None = None
    counters: dict[str, int] = field(default_factory=dict)


class KeyValueStore(Protocol):
    """Items addressed by (pk, sk), ordered by sk within a pk."""

    def get(self, pk: str, sk: str) -> Record | None:
        """The item, or None when absent."""
        ...

    def put(
        self,
        pk: str,
        sk: str,
        data: dict[str, Any],
        *,
        expect_version: int | None = None,
        expires_at: int | None = None,
        replace_expired_before: int | None = None,
    ) -> Record:
        """Write an item and return it.

        `expect_version=0` requires the item to be absent (or, with `replace_expired_before`, expired
        before that epoch second); `expect_version=n` requires the stored version to be n.
        Raises ConditionFailed when the condition does not hold.
        """
        ...

    def delete(self, pk: str, sk: str, *, expect_version: int | None = None) -> None:
        """Remove an item (absent is fine); raises ConditionFailed on a version mismatch."""
        ...

    def query(
        self, pk: str, prefix: str, *, forward: bool = True, after: str | None = None,
        until: str | None = None, limit: int = 100,
    ) -> list[Record]:
        """Items of `pk` whose sk starts with `prefix`, in sk order, strictly after `after`.

        `until` (inclusive) bounds the range on the other side. At most `limit` items.
        """
        ...

    def increment(self, pk: str, sk: str, counters: dict[str, int], *, expires_at: int | None = None) -> Record:
        """Atomically add to named counters (creating the item) and return the new values."""
        ...
