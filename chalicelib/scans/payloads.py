"""What a scan hands the outside: its webhook event payloads and the pipeline's execution input."""

from __future__ import annotations

import logging
from typing import Any

from chalicelib.scans import active
from chalicelib.scans.findings import scan_severity_counts
from chalicelib.scans.models import SIGNALS_BY_TYPE, Scan, ScanStatus, Severity
from chalicelib.scans.ports import EventPublisher

log = logging.getLogger("chalicelib.scans.service")


def critical_count(scan: Scan) -> int:
    """How many of the scan's findings are critical (over all of them, not only those in the item)."""
    return scan_severity_counts(scan)[Severity.CRITICAL]


# The one event each terminal state publishes (DESIGN.md section 7).
TERMINAL_EVENTS: dict[ScanStatus, str] = {ScanStatus.COMPLETE: "scan.completed", ScanStatus.FAILED: "scan.failed",
                                          ScanStatus.CANCELLED: "scan.cancelled"}


def publish_scan_event(events: EventPublisher, scan: Scan, event: str, base_url: str, **extra: Any) -> None:
    """Publish a scan event (DESIGN.md section 7) with the scan fields partners need.

    Keyed by scan and event (and finding, for `critical.finding`), so a step that publishes again
    (a replay, MarkFailed finding the scan already ended) sends nothing twice. A failure to enqueue
    is logged and swallowed: the scan record is the truth.
    """
    base = base_url.rstrip("/")
    complete = scan.status is ScanStatus.COMPLETE and bool(scan.report_keys)
    data = {"scan_token": scan.scan_id, "target": scan.target, "scan_type": scan.scan_type.value,
            "status": scan.status.value, "score": scan.score, "grade": scan.grade,
            "grade_label": scan.grade_label, "ready": scan.ready,
            "caps": [cap.model_dump() for cap in scan.caps], "findings_count": scan.findings_count,
            "critical_count": critical_count(scan),
            "severity_counts": {k.value: v for k, v in scan_severity_counts(scan).items()},
            "status_url": f"{base}/v1/scans/{scan.scan_id}",
            "report_url": f"{base}/v1/scans/{scan.scan_id}/report" if complete else None,
            "error": scan.error.model_dump() if scan.error else None, **extra}
    if scan.group_id:
        data["group_id"] = scan.group_id
    if scan.sa_complete:  # DESIGN.md section 9: the self-assessment fields, once the insured submitted
        data = {**data, "sa_complete": True, "sa_score": scan.sa_score, "combined_score": scan.combined_score,
                "combined_grade": scan.combined_grade, **extra}
    gate = active.scan_gate(scan)
    if gate is not None:
        data["gate"] = gate.model_dump(mode="json")
    finding = extra.get("finding")
    key = scan.scan_id + (f"/{finding['id']}" if isinstance(finding, dict) and "id" in finding else "")
    try:
        events.publish(scan.tenant_id, event, data, key=key)
    except Exception:
        log.exception("could not publish %s for scan %s", event, scan.scan_id)


def pipeline_input(scan: Scan) -> dict[str, Any]:
    """The execution input: what every step needs to find and run the scan."""
    return {
        "scan_id": scan.scan_id,
        "tenant_id": scan.tenant_id,
        "target": scan.target,
        "scan_type": scan.scan_type.value,
        "signals": [s.value for s in SIGNALS_BY_TYPE[scan.scan_type]],
        "timeout_seconds": scan.timeout_seconds,
        "options": scanner_options(scan),
    }


def scanner_options(scan: Scan) -> dict[str, Any]:
    """The options the scanner task gets: the stored ones plus the sealed registry password (never plain)."""
    options = scan.options.model_dump(mode="json", exclude_none=True)
    auth = options.get("container", {}).get("registry_auth")
    if auth is not None and scan.registry_auth_sealed:
        auth["password_sealed"] = scan.registry_auth_sealed
    return options
