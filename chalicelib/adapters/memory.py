"""In-memory KeyValueStore: the fake behind unit tests, with the DynamoDB adapter's semantics."""

from __future__ import annotations

import copy
import ipaddress
import threading
from typing import Any

from chalicelib.domain.ports import ConditionFailed, Record
from chalicelib.service.ports import DomainNotFound, ResolverUnavailable


class MemoryStore:
    """A thread-safe dict of records keyed by (pk, sk)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str, str], Record] = {}
        self._lock = threading.Lock()

    def get(self, pk: str, sk: str) -> Record | None:
        """The item, or None when absent."""
        with self._lock:
            record = self._items.get((pk, sk))
            return copy.deepcopy(record)

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
        """Write an item under the same conditions as DynamoDBStore.put; raises ConditionFailed."""
        with self._lock:
            current = self._items.get((pk, sk))
            if expect_version is not None:
                stored = current.version if current else 0
                expired = (
                    current is not None and replace_expired_before is not None
                    and current.expires_at is not None and current.expires_at < replace_expired_before
                )
                if stored != expect_version and not (expect_version == 0 and expired):
                    raise ConditionFailed(f"{pk}/{sk}: version {stored}, expected {expect_version}")
            version = (current.version if current else 0) + 1
            expiry = expires_at if expires_at is not None else (current.expires_at if current else None)
            record = Record(pk, sk, copy.deepcopy(data), version, expiry, dict(current.counters) if current else {})
            self._items[(pk, sk)] = record
            return copy.deepcopy(record)

    def delete(self, pk: str, sk: str, *, expect_version: int | None = None) -> None:
        """Remove an item; raises ConditionFailed on a version mismatch."""
        with self._lock:
            current = self._items.get((pk, sk))
            if expect_version is not None and (current.version if current else 0) != expect_version:
                raise ConditionFailed(f"{pk}/{sk}: version mismatch on delete")
            self._items.pop((pk, sk), None)

    def query(
        self, pk: str, prefix: str, *, forward: bool = True, after: str | None = None,
        until: str | None = None, limit: int = 100,
    ) -> list[Record]:
        """Items of `pk` whose sk starts with `prefix`, in order, strictly after `after`."""
        with self._lock:
            keys = sorted(sk for (p, sk) in self._items if p == pk and sk.startswith(prefix))
        if not forward:
            keys.reverse()
        if after is not None:
            keys = [k for k in keys if (k > after if forward else k < after)]
        if until is not None:
            keys = [k for k in keys if (k <= until if forward else k >= until)]
        out = [self.get(pk, k) for k in keys[:limit]]
        return [r for r in out if r is not None]

    def increment(self, pk: str, sk: str, counters: dict[str, int], *, expires_at: int | None = None) -> Record:
        """Atomically add to counters, creating the item when absent."""
        with self._lock:
            current = self._items.get((pk, sk))
            values = dict(current.counters) if current else {}
            for name, delta in counters.items():
                values[name] = values.get(name, 0) + delta
            record = Record(pk, sk, current.data if current else {}, current.version if current else 0,
                            expires_at if expires_at is not None else (current.expires_at if current else None),
                            values)
            self._items[(pk, sk)] = record
            return copy.deepcopy(record)


class RecordingWorkflow:
    """Workflow fake: remembers started and stopped executions; can be told to fail."""

    def __init__(self) -> None:
        self.started: dict[str, dict[str, Any]] = {}
        self.stopped: list[str] = []
        self.fail_with: Exception | None = None

    def start(self, scan_id: str, payload: dict[str, Any]) -> str:
        """Record a start (idempotent on scan_id); raises `fail_with` when set."""
        if self.fail_with is not None:
            raise self.fail_with
        self.started.setdefault(scan_id, payload)
        return f"arn:aws:states:us-east-1:123456789012:execution:fake:{scan_id}"

    def stop(self, scan_id: str, cause: str) -> None:
        """Record a stop."""
        self.stopped.append(scan_id)


class StaticResolver:
    """Resolver fake: a dict from name to addresses; unknown names are NXDOMAIN."""

    def __init__(self, records: dict[str, list[str]] | None = None, *, unavailable: bool = False) -> None:
        self.records = dict(records or {})
        self.unavailable = unavailable

    def resolve(self, host: str) -> list[Any]:
        """Addresses of `host`; raises DomainNotFound or ResolverUnavailable."""
        if self.unavailable:
            raise ResolverUnavailable("resolver down")
        if host not in self.records:
            raise DomainNotFound(host)
        return [ipaddress.ip_address(a) for a in self.records[host]]


class MemoryObjectStore:
    """A dict of objects: the fake of S3ObjectStore, with URLs that name the key and expiry."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.Lock()

    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store `body` at `key`."""
        with self._lock:
            self.objects[key] = (bytes(body), content_type)

    def get(self, key: str) -> bytes:
        """The object's bytes; raises ObjectMissing."""
        from chalicelib.service.ports import ObjectMissing

        with self._lock:
            if key not in self.objects:
                raise ObjectMissing(key)
            return self.objects[key][0]

    def presign(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """A fake URL carrying the key and the expiry (no signature)."""
        return f"memory://objects/{key}?expires_in={expires_in}" + (f"&filename={filename}" if filename else "")
