"""A target's history: the previous complete scan of the same target and type (for `target.changed`
and the `resolved` status of group findings)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from chalicelib.scans.models import Scan, ScanStatus

if TYPE_CHECKING:
    from chalicelib.scans.service import ScanService

_MAX_PAGES = 20  # newest first, 100 a page: the last 2,000 scans of the tenant


def previous_complete(scans: ScanService, scan: Scan) -> Scan | None:
    """The newest complete scan of the tenant with `scan`'s target and type created before it, or None."""
    after: str | None = None
    for _ in range(_MAX_PAGES):
        page = scans.repo.pages(scan.tenant_id, after)
        for record in page:
            after = record.sk
            other = Scan.model_validate(record.data)
            if (other.scan_id != scan.scan_id and other.created_at < scan.created_at
                    and other.status is ScanStatus.COMPLETE and other.target == scan.target
                    and other.scan_type == scan.scan_type):
                return other
        if len(page) < 100:
            return None
    return None
