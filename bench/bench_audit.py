"""Audit events on the embedded stack's SQLite store: what recording costs each audited request, and listing.

record: one event per call (what `handle()` adds to every authenticated non-read request).
list_page: the newest 20 of 5,000 events. list_filtered_rare: an action that is 1 in 100 events, a
page of 20 (the listing reads up to SCAN_BUDGET events per page and ends a page early past it).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from bench.common import summary_ms, write
from chalicelib.access.audit import SCAN_BUDGET, AuditService
from chalicelib.storage.sqlite import SqliteStore

N_EVENTS = 5_000
N_LISTS = 200


def main() -> None:
    """Record N_EVENTS events, then time listings; write JSON."""
    with tempfile.TemporaryDirectory() as tmp:
        audit = AuditService(SqliteStore(Path(tmp) / "table.db"), retention_days=365)
        record = []
        for i in range(N_EVENTS):
            started = time.perf_counter()
            audit.record("acme", action="rareAction" if i % 100 == 0 else "createScan", actor_key_id="key_a",
                         actor_member_id=None, target={"token": f"scn_{i}"}, status=202, source_ip="127.0.0.1")
            record.append(time.perf_counter() - started)
        page, rare = [], []
        returned = 0
        for _ in range(N_LISTS):
            started = time.perf_counter()
            audit.list("acme", limit=20)
            page.append(time.perf_counter() - started)
            started = time.perf_counter()
            found, _ = audit.list("acme", limit=20, action="rareAction")
            rare.append(time.perf_counter() - started)
            returned = len(found)
        write("audit_events", {"record": summary_ms(record), "list_page": summary_ms(page),
                               "list_filtered_rare": summary_ms(rare), "rare_page_items": returned,
                               "scan_budget": SCAN_BUDGET, "events": N_EVENTS})


if __name__ == "__main__":
    main()
