"""Optimistic read-modify-write over the storage port's versions (`KeyValueStore.put(expect_version=...)`).

Read an item with its version, change it, write it on condition that the version is unchanged, and
start again from a fresh read when another writer won the race.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from chalicelib.core.store import ConditionFailed

T = TypeVar("T")


class TooManyConflicts(ConditionFailed):
    """Every attempt of a versioned update lost the race to another writer."""


def update_versioned(
    read: Callable[[], tuple[T, int] | None],
    change: Callable[[T], T | None],
    write: Callable[[T, int], object],
    *,
    attempts: int,
    what: str,
    first: tuple[T, int] | None = None,
) -> T | None:
    """Apply `change` to the item `read` returns and `write` it under the version read, retrying lost races.

    `write(item, version)` must raise ConditionFailed when the stored version is no longer `version`;
    that starts the next attempt from a fresh `read`. `first` stands in for the first read when the
    caller already holds the item. Returns the item written; the item as read when `change` returns
    None (nothing to write); None when `read` finds nothing. Raises TooManyConflicts ("<what>: too
    many concurrent updates") after `attempts` lost races, and whatever `read` or `change` raise.
    """
    for _ in range(attempts):
        loaded = first if first is not None else read()
        first = None
        if loaded is None:
            return None
        item, version = loaded
        changed = change(item)
        if changed is None:
            return item
        try:
            write(changed, version)
        except ConditionFailed:
            continue
        return changed
    raise TooManyConflicts(f"{what}: too many concurrent updates")
