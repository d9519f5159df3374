"""Usage counters per tenant and UTC day, kept as scans are created and finish (no table scans)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.core.clock import utcnow
from chalicelib.core.store import KeyValueStore
from chalicelib.scans.models import ScanStatus, ScanType

PERIODS = {"7d": 7, "30d": 30, "90d": 90}


class UsageService:
    """Atomic daily counters: `created_<type>`, `status_<status>`, `units`."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store

    def record_created(self, tenant_id: str, scan_type: ScanType, when: datetime) -> None:
        """Count a created scan on its creation day."""
        self._store.increment(f"TENANT#{tenant_id}", f"USAGE#{when.date().isoformat()}",
                              {f"created_{scan_type.value}": 1, "created": 1})

    def record_finished(self, tenant_id: str, status: ScanStatus, units: int, created: datetime) -> None:
        """Count a terminal status and its billable units, on the scan's creation day."""
        counters = {f"status_{status.value}": 1}
        if units:
            counters["units"] = units
        self._store.increment(f"TENANT#{tenant_id}", f"USAGE#{created.date().isoformat()}", counters)

    def summary(self, tenant_id: str, period: str) -> dict[str, Any]:
        """Totals over the last `period` days (7d, 30d, 90d), today included."""
        days = PERIODS[period]
        today = utcnow().date()
        start = today - timedelta(days=days - 1)
        records = self._store.query(f"TENANT#{tenant_id}", "USAGE#", after=f"USAGE#{start - timedelta(days=1)}",
                                    until=f"USAGE#{today.isoformat()}", limit=days)
        by_type: dict[str, int] = {t.value: 0 for t in ScanType}
        finished: dict[str, int] = {s.value: 0 for s in (ScanStatus.COMPLETE, ScanStatus.FAILED, ScanStatus.CANCELLED)}
        created = units = 0
        for record in records:
            for name, value in record.counters.items():
                if name == "created":
                    created += value
                elif name.startswith("created_"):
                    by_type[name.removeprefix("created_")] = by_type.get(name.removeprefix("created_"), 0) + value
                elif name.startswith("status_"):
                    finished[name.removeprefix("status_")] = finished.get(name.removeprefix("status_"), 0) + value
                elif name == "units":
                    units += value
        return {
            "period": period, "from": start.isoformat(), "to": today.isoformat(), "scans_created": created,
            "scans_by_type": by_type, "scans_by_status": {**finished, "in_progress": created - sum(finished.values())},
            "billable_units": units,
        }
