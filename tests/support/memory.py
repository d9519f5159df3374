"""In-memory KeyValueStore: the fake behind unit tests, with the DynamoDB adapter's semantics."""

from __future__ import annotations

import copy
import threading
from typing import Any

from chalicelib.core.store import ConditionFailed, Record


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
        from chalicelib.core.objects import ObjectMissing

        with self._lock:
            if key not in self.objects:
                raise ObjectMissing(key)
            return self.objects[key][0]

    def presign(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """A fake URL carrying the key and the expiry (no signature)."""
        return f"memory://objects/{key}?expires_in={expires_in}" + (f"&filename={filename}" if filename else "")


# -- webhooks: an in-memory queue with the SQS semantics the webhook consumer relies on ---------------

import itertools  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from collections.abc import Callable, Sequence  # noqa: E402
from dataclasses import dataclass  # noqa: E402

from chalicelib.core.errors import QueueUnavailable  # noqa: E402
from chalicelib.core.queue import QueueMessage  # noqa: E402

_SQS_MAX_VISIBILITY = 43_200
_SQS_MAX_DELAY = 900


@dataclass
class _Queued:
    message_id: str
    body: str
    sent_at: float
    visible_at: float
    seq: int
    receive_count: int = 0
    first_receive_at: float | None = None
    received_at: float | None = None
    receipt: str | None = None


def _refused(code: str, message: str) -> QueueUnavailable:
    error = QueueUnavailable(f"The webhook queue is unavailable ({message}).")
    error.aws_code = code
    return error


class MemoryQueue:
    """A standard queue: delays, visibility timeouts, receive counts, retention and a redrive policy.

    Time comes from `clock` (epoch seconds), so tests can run days of retries without sleeping.
    A message received for the (max_receive_count + 1)-th time moves to `dead_letters` instead,
    keeping its original enqueue time (as SQS does). ChangeMessageVisibility is refused beyond 12 h
    from the receive. Thread-safe.
    """

    def __init__(self, *, clock: Callable[[], float] = time.time, visibility_timeout: int = 30,
                 retention_seconds: int = 345_600, max_receive_count: int | None = None,
                 dead_letters: MemoryQueue | None = None, name: str = "memory-queue") -> None:
        self.name = name
        self.clock = clock
        self.visibility_timeout = visibility_timeout
        self.retention_seconds = retention_seconds
        self.max_receive_count = max_receive_count
        self.dead_letters = dead_letters
        self.expired = 0  # messages dropped by the retention period: a loss, tests assert it stays 0
        self.sent = 0
        self._messages: dict[str, _Queued] = {}
        self._seq = itertools.count()
        self._cond = threading.Condition()

    # -- MessageQueue --------------------------------------------------------------------------------

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        """Enqueue, invisible for `delay_seconds` (0..900)."""
        if not 0 <= delay_seconds <= _SQS_MAX_DELAY:
            raise _refused("InvalidParameterValue", f"DelaySeconds {delay_seconds} outside 0..900")
        with self._cond:
            now = self.clock()
            return self._add(body, now, now + delay_seconds)

    def _add(self, body: str, sent_at: float, visible_at: float) -> str:
        message_id = str(uuid.uuid4())
        self._messages[message_id] = _Queued(message_id, body, sent_at, visible_at, next(self._seq))
        self.sent += 1
        self._cond.notify_all()
        return message_id

    def send_batch(self, bodies: Sequence[str]) -> None:
        """Enqueue several messages."""
        for body in bodies:
            self.send(body)

    def receive(self, max_messages: int = 10, *, wait_seconds: int = 0) -> list[QueueMessage]:
        """Up to `max_messages` visible messages; waits (real time) up to `wait_seconds` when none is."""
        with self._cond:
            got = self._take(max_messages)
            if not got and wait_seconds > 0:
                self._cond.wait(wait_seconds)
                got = self._take(max_messages)
            return got

    def _take(self, max_messages: int) -> list[QueueMessage]:
        now = self.clock()
        self._expire(now)
        due = sorted((m for m in self._messages.values() if m.visible_at <= now), key=lambda m: (m.visible_at, m.seq))
        out: list[QueueMessage] = []
        for message in due:
            if len(out) >= max_messages:
                break
            if (self.max_receive_count is not None and self.dead_letters is not None
                    and message.receive_count >= self.max_receive_count):
                del self._messages[message.message_id]
                self.dead_letters._adopt(message)
                continue
            message.receive_count += 1
            message.first_receive_at = message.first_receive_at or now
            message.received_at = now
            message.visible_at = now + self.visibility_timeout
            message.receipt = f"{message.message_id}:{message.receive_count}:{uuid.uuid4().hex[:8]}"
            out.append(QueueMessage(message.message_id, message.receipt, message.body, {
                "ApproximateReceiveCount": str(message.receive_count),
                "SentTimestamp": str(int(message.sent_at * 1000)),
                "ApproximateFirstReceiveTimestamp": str(int(message.first_receive_at * 1000)),
                "SenderId": "AIDAMEMORYQUEUE",
            }))
        return out

    def _adopt(self, message: _Queued) -> None:
        """Take a dead-lettered message: same id and body, original enqueue time, receive count reset."""
        with self._cond:
            now = self.clock()
            self._messages[message.message_id] = _Queued(message.message_id, message.body, message.sent_at, now,
                                                         next(self._seq))
            self._cond.notify_all()

    def _expire(self, now: float) -> None:
        for message in [m for m in self._messages.values() if now - m.sent_at > self.retention_seconds]:
            del self._messages[message.message_id]
            self.expired += 1

    def _in_flight(self, receipt_handle: str) -> _Queued:
        for message in self._messages.values():
            if message.receipt == receipt_handle:
                if message.visible_at <= self.clock():
                    raise _refused("MessageNotInflight", "the message is not in flight")
                return message
        raise _refused("ReceiptHandleIsInvalid", "unknown receipt handle")

    def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        """Delete the messages whose latest receipt handle is given; stale handles are ignored."""
        wanted = set(receipt_handles)
        with self._cond:
            for message in [m for m in self._messages.values() if m.receipt in wanted]:
                del self._messages[message.message_id]

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Visible again `seconds` from now; refused beyond 12 h from the receive or when not in flight."""
        with self._cond:
            message = self._in_flight(receipt_handle)
            now = self.clock()
            if seconds < 0 or now + seconds - (message.received_at or now) > _SQS_MAX_VISIBILITY:
                raise _refused("InvalidParameterValue", "total VisibilityTimeout beyond 43200 seconds")
            message.visible_at = now + seconds

    # -- inspection (tests, benchmarks) --------------------------------------------------------------

    def __len__(self) -> int:
        with self._cond:
            self._expire(self.clock())
            return len(self._messages)

    def next_visible_at(self) -> float | None:
        """When the next message becomes visible (None when the queue is empty)."""
        with self._cond:
            return min((m.visible_at for m in self._messages.values()), default=None)

    def bodies(self) -> list[str]:
        """Every message body, visible or not, in enqueue order."""
        with self._cond:
            return [m.body for m in sorted(self._messages.values(), key=lambda m: m.seq)]


class RecordingPublisher:
    """EventPublisher fake: remembers every (tenant, event, data) it is given."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.calls = 0  # publish calls, keyed repeats included
        self._keys: set[tuple[str, str, str]] = set()

    def publish(self, tenant_id: str, event: str, data: dict[str, Any], *, key: str | None = None) -> list[str]:
        """Record the event (a keyed one once, as the webhook service publishes it); no deliveries."""
        self.calls += 1
        if key is not None:
            if (tenant_id, event, key) in self._keys:
                return []
            self._keys.add((tenant_id, event, key))
        self.events.append((tenant_id, event, data))
        return []

    def names(self, scan_id: str) -> list[str]:
        """The events recorded for one scan, in order."""
        return [event for _, event, data in self.events if data.get("scan_token") == scan_id]
