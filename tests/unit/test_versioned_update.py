"""The optimistic read-modify-write helper over the in-memory store (the store's version conditions are real)."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.core.store import ConditionFailed
from chalicelib.core.versioned import TooManyConflicts, update_versioned
from tests.support.memory import MemoryStore

PK, SK = "TENANT#acme", "ITEM#1"


class _Item:
    """Reads and writes one counter item, optionally letting a rival writer in before each write."""

    def __init__(self, store: MemoryStore, rival_writes: int = 0) -> None:
        self.store = store
        self.rival_writes = rival_writes
        self.reads = 0
        self.writes = 0

    def read(self) -> tuple[dict[str, Any], int] | None:
        self.reads += 1
        record = self.store.get(PK, SK)
        return None if record is None else (record.data, record.version)

    def write(self, data: dict[str, Any], version: int) -> None:
        self.writes += 1
        if self.rival_writes:
            self.rival_writes -= 1
            current = self.store.get(PK, SK)
            assert current is not None
            self.store.put(PK, SK, {"n": current.data["n"] + 100})  # another writer wins the race
        self.store.put(PK, SK, data, expect_version=version)


def increment(data: dict[str, Any]) -> dict[str, Any]:
    return {"n": data["n"] + 1}


@pytest.fixture
def store() -> MemoryStore:
    store = MemoryStore()
    store.put(PK, SK, {"n": 0})
    return store


def test_a_lost_race_is_retried_from_a_fresh_read(store: MemoryStore) -> None:
    item = _Item(store, rival_writes=2)
    written = update_versioned(item.read, increment, item.write, attempts=5, what="item 1")
    # The rivals' +100 twice are kept: the change was applied to what they wrote, not lost over it.
    assert written == {"n": 201}
    assert (item.reads, item.writes) == (3, 3)
    record = store.get(PK, SK)
    assert record is not None and record.data == {"n": 201}


def test_gives_up_after_the_attempts_with_a_clear_error(store: MemoryStore) -> None:
    item = _Item(store, rival_writes=10)
    with pytest.raises(TooManyConflicts, match=r"^item 1: too many concurrent updates$") as info:
        update_versioned(item.read, increment, item.write, attempts=3, what="item 1")
    assert isinstance(info.value, ConditionFailed)  # callers catching the port's error still do
    assert (item.reads, item.writes) == (3, 3)


def test_nothing_is_written_when_the_change_returns_none(store: MemoryStore) -> None:
    item = _Item(store)
    read = update_versioned(item.read, lambda data: None, item.write, attempts=3, what="item 1")
    assert read == {"n": 0} and item.writes == 0


def test_an_absent_item_gives_none() -> None:
    item = _Item(MemoryStore())
    assert update_versioned(item.read, increment, item.write, attempts=3, what="item 1") is None
    assert item.writes == 0


def test_the_callers_first_read_saves_a_read_and_a_stale_one_is_retried(store: MemoryStore) -> None:
    item = _Item(store)
    assert update_versioned(item.read, increment, item.write, attempts=3, what="item 1", first=({"n": 0}, 1)) == {
        "n": 1}
    assert item.reads == 0
    stale = update_versioned(item.read, increment, item.write, attempts=3, what="item 1", first=({"n": 0}, 1))
    assert stale == {"n": 2} and item.reads == 1  # version 1 was stale: re-read version 2 and applied to it


def test_errors_of_the_change_are_not_retried(store: MemoryStore) -> None:
    item = _Item(store)

    def refuse(data: dict[str, Any]) -> dict[str, Any]:
        raise ValueError("illegal")

    with pytest.raises(ValueError, match="illegal"):
        update_versioned(item.read, refuse, item.write, attempts=3, what="item 1")
    assert item.reads == 1 and item.writes == 0
