"""The in-flight index: one entry per scan not yet ended, keyed by its deadline, for the overdue sweeper.

`SCANDUE` / `<deadline epoch seconds, 12 digits>#<tenant>#<scan id>`, deadline = created_at +
timeout_seconds. ScanService writes the entry when it creates a scan and deletes it when the scan
reaches a terminal state; `ScanService.expire_overdue` lists the entries whose deadline plus
OVERDUE_GRACE_SECONDS has passed and ends those scans that no execution ended.

The grace lets a healthy pipeline always win the race: the scanners stop at the run plan's
deadline (at most the scan's timeout after MarkScanning ran), and after that only Lambda steps run
(Score, RenderReport, Finalize, or MarkFailed). OVERDUE_GRACE_SECONDS covers every pipeline Lambda
taking its full timeout on each of its ASL attempts, with the retry waits and a margin; the reserve
the run plan keeps for scoring and rendering only makes the pipeline finish earlier.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.contract import PIPELINE_LAMBDAS
from chalicelib.core.store import KeyValueStore
from chalicelib.scans.models import Scan

DUE_PK = "SCANDUE"
_DIGITS = 12  # epoch seconds below 10**11 (the year 5138): every sort key starts with "0"
_PREFIX = "0"

# The ASL retries each Lambda step 3 times (MaxAttempts 3, IntervalSeconds 1, BackoffRate 2):
# 4 attempts and 1 + 2 + 4 s of waits; tests/unit/test_overdue_scans.py checks this against the ASL.
STEP_ATTEMPTS = 4
STEP_RETRY_WAIT_SECONDS = 7
_MARGIN_SECONDS = 60  # state transitions, StartExecution and task start latency
# 4 x (30 + 60 + 120 + 30 + 30) + 5 x 7 + 60 = 1175 s (about 20 minutes).
OVERDUE_GRACE_SECONDS = (sum(STEP_ATTEMPTS * spec.timeout + STEP_RETRY_WAIT_SECONDS for spec in PIPELINE_LAMBDAS)
                         + _MARGIN_SECONDS)
OVERDUE_LIMIT = 100  # entries looked at per sweep


@dataclass(frozen=True)
class DueEntry:
    """One in-flight index entry: whose scan, and its sort key."""

    tenant_id: str
    scan_id: str
    sk: str


def deadline(scan: Scan) -> int:
    """The scan's deadline in epoch seconds: created_at + timeout_seconds."""
    return int(scan.created_at.timestamp()) + scan.timeout_seconds


def due_sk(scan: Scan) -> str:
    """The scan's sort key in the in-flight index."""
    return f"{deadline(scan):0{_DIGITS}d}#{scan.tenant_id}#{scan.scan_id}"


class DeadlineIndex:
    """The `SCANDUE` partition of the single table."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store

    def add(self, scan: Scan) -> None:
        """Index a scan under its deadline (an existing entry is overwritten); raises store errors."""
        self._store.put(DUE_PK, due_sk(scan), {"tenant_id": scan.tenant_id, "scan_id": scan.scan_id})

    def remove(self, sk: str) -> None:
        """Delete an entry (absent is fine); raises store errors."""
        self._store.delete(DUE_PK, sk)

    def due(self, cutoff: datetime, *, limit: int) -> list[DueEntry]:
        """Entries whose deadline is at or before `cutoff`, oldest deadline first, at most `limit`."""
        bound = f"{int(cutoff.timestamp()) + 1:0{_DIGITS}d}"  # sorts before "<cutoff + 1>#..."
        records = self._store.query(DUE_PK, _PREFIX, forward=True, until=bound, limit=limit)
        return [DueEntry(str(r.data["tenant_id"]), str(r.data["scan_id"]), r.sk) for r in records]
