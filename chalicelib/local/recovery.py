"""Restart recovery of the embedded stack: every scan the previous run left in flight gets an end.

The embedded Step Functions (moto) keeps its executions in memory, so after a restart no execution
drives a scan that was in flight. The rule (docs/decisions.md):
- a `pending` scan (accepted, never started) is started again, unless its `timeout_seconds` since
  creation has passed: it could no longer finish in time, so it fails `interrupted`;
- a `scanning` or `scoring` scan fails with code `interrupted` (its scanner results are gone), with
  its terminal `scan.failed` event and no usage charge (a failed scan bills 0 units).
Then the webhook outbox is swept so events published but not delivered go out again.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol

from chalicelib.core.clock import utcnow
from chalicelib.core.errors import Conflict, NotFound
from chalicelib.core.store import Record
from chalicelib.scans.models import Scan, ScanError, ScanStatus
from chalicelib.scans.service import pipeline_input, publish_scan_event

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services

log = logging.getLogger("perimeter.local.recovery")
INTERRUPTED = ScanError(code="interrupted",
                        message="The embedded stack stopped while the scan was running; start a new scan.")


class ScanSource(Protocol):
    """A store that can list items of every partition (SqliteStore.items)."""

    def items(self, sk_prefix: str) -> Iterator[Record]:
        """Every live item whose sort key starts with `sk_prefix`, across partitions."""
        ...


@dataclass
class RecoveryReport:
    """What recovery did: scan ids restarted and failed, and how many webhook deliveries were re-sent."""

    restarted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    resent: int = 0


def in_flight(source: ScanSource) -> list[Scan]:
    """Every scan not in a terminal state, oldest first."""
    scans = []
    for record in source.items("SCAN#"):
        if not record.pk.startswith("TENANT#"):
            continue
        try:
            scan = Scan.model_validate(record.data)
        except ValueError:
            log.warning("skipping an unreadable scan record %s/%s", record.pk, record.sk)
            continue
        if not scan.status.terminal:
            scans.append(scan)
    return sorted(scans, key=lambda s: s.created_at)


def recover(services: Services, source: ScanSource, now: datetime | None = None) -> RecoveryReport:
    """Restart or fail every in-flight scan, then sweep the webhook outbox; never raises for one scan."""
    now = now or utcnow()
    report = RecoveryReport()
    for scan in in_flight(source):
        try:
            if scan.status is ScanStatus.PENDING and scan.created_at + timedelta(seconds=scan.timeout_seconds) > now:
                services.workflow.start(scan.scan_id, pipeline_input(scan))
                report.restarted.append(scan.scan_id)
            elif _fail(services, scan):
                report.failed.append(scan.scan_id)
        except Exception:
            log.exception("could not recover scan %s", scan.scan_id)
    report.resent = sweep_outbox(services)
    if report.restarted or report.failed or report.resent:
        log.warning("restart recovery: %d scan(s) started again, %d failed as interrupted, %d webhook "
                    "deliveries re-sent", len(report.restarted), len(report.failed), report.resent)
    return report


def _fail(services: Services, scan: Scan) -> bool:
    """Fail the scan `interrupted` and publish `scan.failed`; False when it moved meanwhile."""
    try:
        failed = services.scans.transition(scan.tenant_id, scan.scan_id, ScanStatus.FAILED, error=INTERRUPTED)
    except (Conflict, NotFound):  # moved meanwhile (IllegalTransition is a Conflict) or gone
        return False
    publish_scan_event(services.events, failed, "scan.failed", services.settings.public_base_url)
    return True


def sweep_outbox(services: Services) -> int:
    """Re-enqueue undelivered webhook events (the outbox); 0 when the sweep fails (the poller sweeps again)."""
    try:
        return services.webhook_outbox.sweep()
    except Exception:
        log.exception("the webhook outbox sweep failed; the poller will sweep again")
        return 0
