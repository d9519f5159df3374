"""A scan's findings, inline in its table item or, beyond a threshold, as one object in the reports bucket.

Posture scans have tens of findings: they stay in the item (`signals[*].findings`) and nothing else is
written or read. A container scan may have thousands, a webapp scan hundreds with request evidence: past
INLINE_MAX_COUNT findings or INLINE_MAX_BYTES of JSON the Score step writes them all, most severe first,
as gzipped JSON (`findings_key`, digest recorded) and keeps in the item the TOP_INLINE most severe, the
per-signal and per-scan severity counts and `findings_count`. `FindingsStore.all(scan)` is the one way to
read the full set, whichever way it was stored.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict, ValidationError

from chalicelib.core.errors import PerimeterError
from chalicelib.core.objects import ObjectMissing, ObjectStore
from chalicelib.core.pagination import decode_cursor, encode_cursor, invalid_cursor
from chalicelib.scans.keys import findings_key, scan_prefix
from chalicelib.scans.models import Finding, Scan, Severity, SignalResult

log = logging.getLogger(__name__)

INLINE_MAX_COUNT = 200
INLINE_MAX_BYTES = 64 * 1024
TOP_INLINE = 50  # findings kept in the item when the full set moves to the object
_CACHE_ENTRIES = 4  # parsed documents kept per process (a warm Lambda pages through one scan)
_SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}


class FindingsUnavailable(PerimeterError):
    """The findings object of a scan is missing or does not match its recorded digest (500)."""

    status = 500


class FindingsDocument(BaseModel):
    """The object: every finding of a scan, most severe first."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["perimeter.findings"] = "perimeter.findings"
    format_version: Literal[1] = 1
    scan_token: str
    findings: list[Finding]


class Split(NamedTuple):
    """What the Score step stores: the item's signals and counts, and the object to write (or None)."""

    signals: dict[str, SignalResult]
    severity_counts: dict[Severity, int]
    findings_count: int
    object_key: str | None
    object_body: bytes | None
    object_sha256: str | None


def finding_order(f: Finding) -> tuple[int, str, str, str]:
    """Most severe first, then by signal, code and id (a stable order)."""
    return (_SEVERITY_ORDER[f.severity], f.signal.value, f.code, f.id)


def sorted_findings(scan: Scan) -> list[Finding]:
    """The findings held in the scan item, in finding_order (all of them unless `findings_key` is set)."""
    return sorted((f for result in scan.signals.values() for f in result.findings), key=finding_order)


def count_severities(findings: list[Finding]) -> dict[Severity, int]:
    """{critical: n, high: n, medium: n, low: n, info: n}."""
    counted = Counter(f.severity for f in findings)
    return {s: counted.get(s, 0) for s in Severity}


def scan_severity_counts(scan: Scan) -> dict[Severity, int]:
    """The scan's counts over all findings: recorded at Score, else counted from the item."""
    if scan.severity_counts is not None:
        return {s: scan.severity_counts.get(s, 0) for s in Severity}
    return count_severities([f for r in scan.signals.values() for f in r.findings])


def split_findings(tenant_id: str, scan_id: str, signals: dict[str, SignalResult], *,
                   max_count: int = INLINE_MAX_COUNT, max_bytes: int = INLINE_MAX_BYTES,
                   keep: int = TOP_INLINE) -> Split:
    """Decide where the findings of scored, evidence-bounded signals live; pure (the caller writes).

    Every signal gets its `severity_counts`. Under both thresholds the signals are returned as given and
    there is no object. Over either, the object holds every finding in finding_order and each signal keeps
    only those of its findings among the `keep` most severe of the scan.
    """
    every = sorted((f for r in signals.values() for f in r.findings), key=finding_order)
    counted = {key: r.model_copy(update={"severity_counts": count_severities(r.findings)})
               for key, r in signals.items()}
    total = count_severities(every)
    if len(every) <= max_count and _json_size(every, stop_after=max_bytes) <= max_bytes:
        return Split(counted, total, len(every), None, None, None)
    kept = {f.id for f in every[:keep]}
    trimmed = {key: r.model_copy(update={"findings": [f for f in r.findings if f.id in kept]})
               for key, r in counted.items()}
    document = FindingsDocument(scan_token=scan_id, findings=every)
    body = gzip.compress(document.model_dump_json().encode(), compresslevel=6, mtime=0)
    return Split(trimmed, total, len(every), findings_key(tenant_id, scan_id), body,
                 hashlib.sha256(body).hexdigest())


def _json_size(findings: list[Finding], stop_after: int) -> int:
    """Bytes of the findings as JSON, counting no further than just past `stop_after`."""
    size = 2
    for f in findings:
        size += len(f.model_dump_json()) + 1
        if size > stop_after:
            break
    return size


class FindingsStore:
    """Reads a scan's full findings from its item or its object (digest-checked, a few cached)."""

    def __init__(self, objects: Callable[[], ObjectStore] | None) -> None:
        self._get_objects = objects  # a getter: the API builds its object store only when a scan needs it
        self._cache: OrderedDict[str, list[Finding]] = OrderedDict()
        self._lock = threading.Lock()

    def write(self, split: Split) -> None:
        """Store the split's object when it has one; raises the object store's errors."""
        if split.object_key is None or split.object_body is None:
            return
        if self._get_objects is None:
            raise PerimeterError("No object store is configured for large findings sets.")
        self._get_objects().put(split.object_key, split.object_body, "application/gzip")

    def all(self, scan: Scan) -> list[Finding]:
        """Every finding of the scan in finding_order; raises FindingsUnavailable (object missing or altered)."""
        if not scan.findings_key:
            return sorted_findings(scan)
        digest = scan.findings_sha256 or ""
        with self._lock:
            cached = self._cache.get(digest)
            if cached is not None:
                self._cache.move_to_end(digest)
                return list(cached)
        findings = self._read(scan)
        with self._lock:
            self._cache[digest] = findings
            while len(self._cache) > _CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return list(findings)

    def _read(self, scan: Scan) -> list[Finding]:
        key = scan.findings_key or ""
        if self._get_objects is None or not key.startswith(scan_prefix(scan.tenant_id, scan.scan_id)):
            raise FindingsUnavailable("The scan's findings are not readable here.", code="findings-unavailable")
        try:
            body = self._get_objects().get(key)
        except ObjectMissing:
            log.error("findings object %s of scan %s is missing", key, scan.scan_id)
            raise FindingsUnavailable("The scan's findings are no longer stored.",
                                      code="findings-unavailable") from None
        if hashlib.sha256(body).hexdigest() != scan.findings_sha256:
            log.error("findings object of scan %s does not match its recorded digest", scan.scan_id)
            raise FindingsUnavailable("The scan's findings failed their integrity check; it has been logged.",
                                      code="findings-unavailable")
        try:
            document = FindingsDocument.model_validate_json(gzip.decompress(body))
        except (OSError, EOFError, ValidationError, json.JSONDecodeError):
            raise FindingsUnavailable("The scan's findings object is unreadable.",
                                      code="findings-unavailable") from None
        return document.findings


def normalise_cwe(text: str) -> str:
    """`CWE-319`, `cwe-319` and `319` all become `CWE-319`."""
    digits = text.strip().upper().removeprefix("CWE-")
    return f"CWE-{digits}"


def page_findings(findings: list[Finding], scan_id: str, *, severity: Severity | None = None,
                  signal: str | None = None, cwe: str | None = None, limit: int = 50,
                  cursor: str | None = None) -> tuple[list[Finding], str | None, int]:
    """One page of the filtered findings: (page, next cursor or None, total matching); raises BadRequest.

    The cursor is the offset in the filtered list, bound to the scan (a foreign cursor is refused).
    """
    wanted_cwe = normalise_cwe(cwe) if cwe else None
    matching = [f for f in findings
                if (severity is None or f.severity == severity) and (signal is None or f.signal == signal)
                and (wanted_cwe is None or (f.cwe is not None and normalise_cwe(f.cwe) == wanted_cwe))]
    start = 0
    if cursor:
        after = decode_cursor(cursor, f"FINDING#{scan_id}#")
        try:
            start = int(after.rsplit("#", 1)[1])
        except ValueError:
            raise invalid_cursor() from None
    page = matching[start:start + limit]
    end = start + len(page)
    next_cursor = encode_cursor(f"FINDING#{scan_id}#{end}") if end < len(matching) else None
    return page, next_cursor, len(matching)
