"""SQLite KeyValueStore: the embedded stack's durable table, one file in the data directory.

Same semantics as DynamoDBStore (versions, conditions, sk order, atomic counters), so the services
cannot tell them apart; tests/integration/test_store_contract.py runs one contract on both. Every
write is one `BEGIN IMMEDIATE` transaction (the conditional check and the write under the database's
write lock), so the API, the Lambda worker processes and the scanner tasks share the file safely.
WAL lets readers run beside the writer; `busy_timeout` makes a writer wait for the lock instead of
failing. There is no server process: a SIGKILL leaves at most an uncommitted transaction, which
SQLite rolls back on the next open.

Expiry works like DynamoDB's TTL: an expired item stays readable until it is purged
(`purge_expired`, the TTL sweep), and `replace_expired_before` lets a conditional put claim it.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chalicelib.core.store import ConditionFailed, Record

SCHEMA_VERSION = 1
BUSY_TIMEOUT_SECONDS = 30.0
MAX_IDLE_CONNECTIONS = 8
_PAGE = 500
_SCHEMA = """
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    data TEXT,
    version INTEGER,
    expires_at INTEGER,
    counters TEXT NOT NULL DEFAULT '{}',
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_by_sk ON items (sk, pk);
CREATE INDEX IF NOT EXISTS items_by_expiry ON items (expires_at) WHERE expires_at IS NOT NULL;
"""
_COLUMNS = "pk, sk, data, version, expires_at, counters"
_SELECT_ONE = "SELECT pk, sk, data, version, expires_at, counters FROM items WHERE pk = ? AND sk = ?"


def _record(row: tuple[Any, ...]) -> Record:
    pk, sk, data, version, expires_at, counters = row
    return Record(pk=pk, sk=sk, data=json.loads(data) if data is not None else {}, version=version or 0,
                  expires_at=expires_at, counters=json.loads(counters))


def _upper_bound(prefix: str) -> str | None:
    """The least string greater than every string starting with `prefix` (None: no such bound)."""
    if not prefix or prefix[-1] == "\U0010ffff":
        return None
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


class SqliteStore:
    """KeyValueStore over one SQLite file; thread-safe (a small pool of connections) and multi-process safe.

    Raises sqlite3.Error (or OSError) when the file cannot be created or opened.
    """

    def __init__(self, path: Path, *, busy_timeout: float = BUSY_TIMEOUT_SECONDS) -> None:
        self.path = Path(path)
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._idle: list[sqlite3.Connection] = []
        self._pid = os.getpid()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.close(os.open(self.path, os.O_CREAT | os.O_RDWR, 0o600))  # private before SQLite writes a byte
        with self._db() as db:
            db.executescript(_SCHEMA)  # idempotent: every process that opens the file runs it
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # -- connections ------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=self._busy_timeout, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode = WAL")
        db.execute("PRAGMA synchronous = NORMAL")  # WAL + NORMAL: a process crash loses nothing committed
        return db

    @contextlib.contextmanager
    def _db(self) -> Iterator[sqlite3.Connection]:
        """Borrow an idle connection (or open one); a connection never crosses a fork into a child."""
        if self._pid != os.getpid():  # a forked child: the parent's connections (and lock) are not ours
            self._lock, self._idle, self._pid = threading.Lock(), [], os.getpid()
        with self._lock:
            db = self._idle.pop() if self._idle else None
        db = db or self._open()
        try:
            yield db
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
            with self._lock:
                keep = self._pid == os.getpid() and len(self._idle) < MAX_IDLE_CONNECTIONS
                if keep:
                    self._idle.append(db)
            if not keep:
                db.close()

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One BEGIN IMMEDIATE transaction: the write lock first, so a check and its write are atomic."""
        with self._db() as db:
            db.execute("BEGIN IMMEDIATE")
            yield db
            db.execute("COMMIT")

    # -- KeyValueStore ----------------------------------------------------------------------------

    def get(self, pk: str, sk: str) -> Record | None:
        """The item, or None when absent."""
        with self._db() as db:
            row = db.execute(_SELECT_ONE, (pk, sk)).fetchone()
        return _record(row) if row else None

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
        """Write the document under DynamoDBStore.put's conditions; raises ConditionFailed."""
        document = json.dumps(data, separators=(",", ":"))
        with self._write() as db:
            row = db.execute("SELECT version, expires_at FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
            if expect_version is not None:
                version, expiry = row if row else (None, None)
                if expect_version == 0:
                    expired = (replace_expired_before is not None and expiry is not None
                               and expiry < replace_expired_before)
                    held = row is None or expired
                else:
                    held = version == expect_version
                if not held:
                    raise ConditionFailed(f"{pk}/{sk}: version {version}, expected {expect_version}")
            db.execute(
                "INSERT INTO items (pk, sk, data, version, expires_at) VALUES (?, ?, ?, 1, ?) "
                "ON CONFLICT (pk, sk) DO UPDATE SET data = excluded.data, version = coalesce(version, 0) + 1, "
                "expires_at = coalesce(excluded.expires_at, expires_at)",
                (pk, sk, document, expires_at))
            out = db.execute(_SELECT_ONE, (pk, sk)).fetchone()
        return _record(out)

    def delete(self, pk: str, sk: str, *, expect_version: int | None = None) -> None:
        """Remove an item (absent is fine); raises ConditionFailed on a version mismatch."""
        with self._write() as db:
            if expect_version is not None:
                row = db.execute("SELECT version FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
                if row is None or row[0] != expect_version:  # DynamoDB: no version attribute fails too
                    raise ConditionFailed(f"{pk}/{sk}: version mismatch on delete")
            db.execute("DELETE FROM items WHERE pk = ? AND sk = ?", (pk, sk))

    def query(
        self, pk: str, prefix: str, *, forward: bool = True, after: str | None = None,
        until: str | None = None, limit: int = 100,
    ) -> list[Record]:
        """Items of `pk` whose sk starts with `prefix`, in sk order, strictly after `after`, up to `until`."""
        clauses, params = self._prefix_clauses(prefix)
        if after is not None:
            clauses.append("sk > ?" if forward else "sk < ?")
            params.append(after)
        if until is not None:
            clauses.append("sk <= ?" if forward else "sk >= ?")
            params.append(until)
        order = "ASC" if forward else "DESC"
        with self._db() as db:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM items WHERE pk = ? AND {' AND '.join(clauses)} ORDER BY sk {order} LIMIT ?",  # noqa: S608 - fixed fragments only
                (pk, *params, max(0, limit))).fetchall()
        return [_record(row) for row in rows]

    def increment(self, pk: str, sk: str, counters: dict[str, int], *, expires_at: int | None = None) -> Record:
        """Atomically add to named counters, creating the item (without a version) when absent."""
        with self._write() as db:
            row = db.execute("SELECT counters FROM items WHERE pk = ? AND sk = ?", (pk, sk)).fetchone()
            values: dict[str, int] = json.loads(row[0]) if row else {}
            for name, delta in counters.items():
                values[name] = values.get(name, 0) + delta
            db.execute(
                "INSERT INTO items (pk, sk, counters, expires_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (pk, sk) DO UPDATE SET counters = excluded.counters, "
                "expires_at = coalesce(excluded.expires_at, expires_at)",
                (pk, sk, json.dumps(values, separators=(",", ":")), expires_at))
            out = db.execute(_SELECT_ONE, (pk, sk)).fetchone()
        return _record(out)

    # -- beyond the port: the embedded stack's own needs --------------------------------------------

    def items(self, sk_prefix: str) -> Iterator[Record]:
        """Every item of every partition whose sk starts with `sk_prefix`, by (sk, pk), read in pages."""
        clauses, params = self._prefix_clauses(sk_prefix)
        cursor: tuple[str, str] | None = None
        while True:
            where = list(clauses)
            args: list[Any] = list(params)
            if cursor is not None:
                where.append("(sk > ? OR (sk = ? AND pk > ?))")
                args += [cursor[0], cursor[0], cursor[1]]
            with self._db() as db:
                rows = db.execute(
                    f"SELECT {_COLUMNS} FROM items WHERE {' AND '.join(where)} ORDER BY sk, pk LIMIT ?",  # noqa: S608 - fixed fragments
                    (*args, _PAGE)).fetchall()
            for row in rows:
                yield _record(row)
            if len(rows) < _PAGE:
                return
            cursor = (rows[-1][1], rows[-1][0])

    def purge_expired(self, now: int) -> int:
        """Delete the items whose expiry is before `now` (DynamoDB's TTL sweep); returns how many."""
        with self._write() as db:
            return db.execute("DELETE FROM items WHERE expires_at < ?", (now,)).rowcount

    def close(self) -> None:
        """Close the idle connections (those in use close when returned after this)."""
        with self._lock:
            idle, self._idle = self._idle, []
            mine = self._pid == os.getpid()
        for db in idle if mine else []:
            db.close()

    @staticmethod
    def _prefix_clauses(prefix: str) -> tuple[list[str], list[Any]]:
        """WHERE terms selecting sk values that start with `prefix` (an index range, then an exact check)."""
        clauses, params = ["sk >= ?", "substr(sk, 1, ?) = ?"], [prefix, len(prefix), prefix]
        upper = _upper_bound(prefix)
        if upper is not None:
            clauses.append("sk < ?")
            params.append(upper)
        return clauses, params
