"""One contract, three adapters: the in-memory fake and SQLite must behave like DynamoDB under moto."""

from __future__ import annotations

import multiprocessing
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.core.store import ConditionFailed, KeyValueStore
from chalicelib.storage.sqlite import SqliteStore
from tests.support.memory import MemoryStore


@pytest.fixture(params=["memory", "dynamodb", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> KeyValueStore:
    if request.param == "memory":
        return MemoryStore()
    if request.param == "sqlite":
        return SqliteStore(tmp_path / "perimeter.sqlite3")
    result: DynamoDBStore = request.getfixturevalue("dynamo_store")
    return result


def test_put_with_version_zero_creates_once(store: KeyValueStore) -> None:
    first = store.put("P", "S", {"a": 1}, expect_version=0)
    assert first.version == 1
    with pytest.raises(ConditionFailed):
        store.put("P", "S", {"a": 2}, expect_version=0)
    got = store.get("P", "S")
    assert got is not None and got.data == {"a": 1}


def test_put_with_stale_version_is_refused(store: KeyValueStore) -> None:
    store.put("P", "S", {"n": 1}, expect_version=0)
    store.put("P", "S", {"n": 2}, expect_version=1)
    with pytest.raises(ConditionFailed):
        store.put("P", "S", {"n": 3}, expect_version=1)
    got = store.get("P", "S")
    assert got is not None and got.data == {"n": 2} and got.version == 2


def test_expired_item_can_be_claimed_again(store: KeyValueStore) -> None:
    store.put("P", "S", {"v": "old"}, expect_version=0, expires_at=100)
    with pytest.raises(ConditionFailed):
        store.put("P", "S", {"v": "new"}, expect_version=0, replace_expired_before=50)
    claimed = store.put("P", "S", {"v": "new"}, expect_version=0, replace_expired_before=200, expires_at=300)
    assert claimed.data == {"v": "new"} and claimed.expires_at == 300


def test_query_orders_by_sort_key_and_pages_after(store: KeyValueStore) -> None:
    for i in range(7):
        store.put("P", f"X#{i:02d}", {"i": i})
    store.put("P", "Y#00", {"i": 99})
    store.put("Q", "X#00", {"i": -1})
    forward = [r.data["i"] for r in store.query("P", "X#")]
    assert forward == list(range(7))
    backward = [r.data["i"] for r in store.query("P", "X#", forward=False, limit=3)]
    assert backward == [6, 5, 4]
    after = [r.data["i"] for r in store.query("P", "X#", forward=False, after="X#04", limit=10)]
    assert after == [3, 2, 1, 0]
    bounded = [r.data["i"] for r in store.query("P", "X#", after="X#01", until="X#04")]
    assert bounded == [2, 3, 4]


def test_increment_adds_to_every_counter(store: KeyValueStore) -> None:
    for _ in range(5):
        record = store.increment("P", "C", {"n": 1, "m": 2})
    assert record.counters == {"n": 5, "m": 10}


def test_memory_increment_is_atomic_under_threads() -> None:
    # DynamoDB's ADD is atomic by contract; moto's in-process backend is not thread-safe, so the
    # threaded check runs on the fake only (it flaked on moto under load).
    store = MemoryStore()

    def bump() -> None:
        for _ in range(10):
            store.increment("P", "C", {"n": 1, "m": 2})

    threads = [threading.Thread(target=bump) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = store.get("P", "C")
    assert got is not None and got.counters == {"n": 50, "m": 100}


def test_counters_survive_document_writes(store: KeyValueStore) -> None:
    store.increment("P", "C", {"n": 3})
    store.put("P", "C", {"doc": True})
    got = store.get("P", "C")
    assert got is not None and got.counters == {"n": 3} and got.data == {"doc": True}


def test_delete_checks_version(store: KeyValueStore) -> None:
    store.put("P", "S", {}, expect_version=0)
    with pytest.raises(ConditionFailed):
        store.delete("P", "S", expect_version=7)
    store.delete("P", "S", expect_version=1)
    assert store.get("P", "S") is None
    store.delete("P", "S")  # absent is fine


def test_expiry_is_kept_and_a_write_without_one_keeps_it(store: KeyValueStore) -> None:
    store.put("P", "S", {"n": 1}, expires_at=500)
    kept = store.put("P", "S", {"n": 2})
    assert kept.expires_at == 500 and kept.version == 2
    bumped = store.increment("P", "S", {"c": 1}, expires_at=900)
    assert bumped.expires_at == 900 and bumped.data == {"n": 2} and bumped.version == 2


def test_prefix_query_stays_inside_the_prefix_and_the_partition(store: KeyValueStore) -> None:
    for sk in ("A", "A#", "A#1", "A#2", "A$", "A#\u00e9", "B#1", "@"):
        store.put("P", sk, {"sk": sk})
    store.put("PP", "A#3", {"sk": "other partition"})
    assert [r.sk for r in store.query("P", "A#")] == ["A#", "A#1", "A#2", "A#\u00e9"]
    assert [r.sk for r in store.query("P", "A#", forward=False, limit=2)] == ["A#\u00e9", "A#2"]
    assert [r.sk for r in store.query("P", "A")] == ["A", "A#", "A#1", "A#2", "A#\u00e9", "A$"]
    assert store.query("P", "A#", limit=0) == []


def test_a_missing_item_fails_every_version_condition(store: KeyValueStore) -> None:
    with pytest.raises(ConditionFailed):
        store.put("P", "S", {}, expect_version=1)
    with pytest.raises(ConditionFailed):
        store.delete("P", "S", expect_version=1)
    assert store.get("P", "S") is None


# -- SQLite only: processes, durability, the whole-table listing and the TTL sweep ----------------


def _bump(path: str, rounds: int) -> None:
    store = SqliteStore(Path(path))
    for i in range(rounds):
        store.increment("P", "C", {"n": 1})
        # a read-modify-write under optimistic locking: retried until it lands, so none is lost
        while True:
            current = store.get("P", "DOC")
            seen = current.version if current else 0
            mark = f"{multiprocessing.current_process().pid}:{i}"
            items = (current.data.get("items", []) if current else []) + [mark]
            try:
                store.put("P", "DOC", {"items": items}, expect_version=seen)
                break
            except ConditionFailed:
                continue


def test_sqlite_increments_and_conditional_puts_are_atomic_across_processes(tmp_path: Path) -> None:
    path = tmp_path / "perimeter.sqlite3"
    SqliteStore(path)
    context = multiprocessing.get_context("spawn")  # fresh interpreters: nothing shared but the file
    workers = [context.Process(target=_bump, args=(str(path), 50)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    store = SqliteStore(path)
    counter, doc = store.get("P", "C"), store.get("P", "DOC")
    assert counter is not None and counter.counters == {"n": 200}
    assert doc is not None and doc.version == 200 and len(set(doc.data["items"])) == 200


def test_sqlite_is_atomic_under_threads(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "perimeter.sqlite3")

    def bump() -> None:
        for _ in range(20):
            store.increment("P", "C", {"n": 1, "m": 2})

    threads = [threading.Thread(target=bump) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = store.get("P", "C")
    assert got is not None and got.counters == {"n": 100, "m": 200}


_WRITER = """
import sys
from pathlib import Path
from chalicelib.storage.sqlite import SqliteStore
store = SqliteStore(Path(sys.argv[1]))
store.put("TENANT#acme", "SCAN#1", {"status": "scanning"}, expect_version=0, expires_at=4102444800)
store.increment("TENANT#acme", "USAGE", {"scans": 3})
"""
_READER = """
import json, sys
from pathlib import Path
from chalicelib.storage.sqlite import SqliteStore
store = SqliteStore(Path(sys.argv[1]))
scan, usage = store.get("TENANT#acme", "SCAN#1"), store.get("TENANT#acme", "USAGE")
print(json.dumps([scan.data, scan.version, scan.expires_at, usage.counters]))
"""


def test_sqlite_data_survives_the_writing_process(tmp_path: Path) -> None:
    path = str(tmp_path / "data" / "perimeter.sqlite3")
    root = str(Path(__file__).resolve().parents[2])
    subprocess.run([sys.executable, "-c", _WRITER, path], check=True, cwd=root, timeout=60)
    out = subprocess.run([sys.executable, "-c", _READER, path], check=True, cwd=root, timeout=60,
                         capture_output=True, text=True).stdout
    assert out.strip() == '[{"status": "scanning"}, 1, 4102444800, {"scans": 3}]'
    assert (Path(path).stat().st_mode & 0o777) == 0o600
    assert (Path(path).parent.stat().st_mode & 0o777) == 0o700


def test_sqlite_lists_items_across_partitions_in_pages(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "perimeter.sqlite3")
    for i in range(1203):
        store.put(f"TENANT#{i % 7}", f"SCAN#{i:05d}", {"i": i})
    store.put("TENANT#0", "SCAM#1", {"i": -1})
    store.put("TENANT#0", "KEY#1", {"i": -2})
    listed = [r.data["i"] for r in store.items("SCAN#")]
    assert sorted(listed) == list(range(1203)) and len(listed) == 1203


def test_sqlite_purge_removes_only_expired_items(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "perimeter.sqlite3")
    store.put("P", "OLD", {}, expires_at=100)
    store.increment("P", "WINDOW", {"n": 1}, expires_at=150)
    store.put("P", "NEW", {}, expires_at=300)
    store.put("P", "FOREVER", {})
    assert store.purge_expired(200) == 2
    assert [r.sk for r in store.query("P", "FOREVER")] + [r.sk for r in store.query("P", "NEW")] == ["FOREVER", "NEW"]
    assert store.get("P", "OLD") is None and store.get("P", "WINDOW") is None


def test_sqlite_connection_is_not_shared_with_a_forked_child(tmp_path: Path) -> None:
    store = SqliteStore(tmp_path / "perimeter.sqlite3")
    store.put("P", "S", {"from": "parent"})
    context = multiprocessing.get_context("fork")
    child = context.Process(target=lambda: store.increment("P", "S", {"n": 1}))
    child.start()
    child.join(60)
    assert child.exitcode == 0
    got = store.get("P", "S")
    assert got is not None and got.counters == {"n": 1} and got.data == {"from": "parent"}


_KILLED = """
import sys
from pathlib import Path
from chalicelib.storage.sqlite import SqliteStore
store = SqliteStore(Path(sys.argv[1]))
for i in range(1, 100000):
    store.put("P", f"DOC#{i:06d}", {"i": i, "pad": "x" * 2000})
    n = store.increment("P", "C", {"n": 1}).counters["n"]
    print(n, flush=True)
"""


def test_sqlite_keeps_every_acknowledged_write_through_a_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "perimeter.sqlite3"
    root = str(Path(__file__).resolve().parents[2])
    writer = subprocess.Popen([sys.executable, "-c", _KILLED, str(path)], cwd=root, stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    acknowledged = 0
    while acknowledged < 300:
        acknowledged = int(writer.stdout.readline())
    writer.kill()  # SIGKILL mid-stream: no close, no checkpoint
    writer.wait(30)
    store = SqliteStore(path)
    counter = store.get("P", "C")
    assert counter is not None and counter.counters["n"] >= acknowledged
    docs = store.query("P", "DOC#", limit=100000)
    assert len(docs) in (counter.counters["n"], counter.counters["n"] + 1)  # the put of an unacknowledged round
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
