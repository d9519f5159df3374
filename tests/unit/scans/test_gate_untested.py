"""The CI gate of active scans when nothing could be tested: an empty result must not pass it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from chalicelib.scans.active import empty_counts, gate, scan_gate
from chalicelib.scans.models import Scan, ScanOptions, ScanType, Severity


def scan(coverage: dict[str, Any] | None, counts: dict[Severity, int] | None) -> Scan:
    now = datetime.now(UTC)
    return Scan(scan_id="scn_x", tenant_id="t", target="registry.example.com/team/app:1.0",
                scan_type=ScanType.CONTAINER, created_at=now, updated_at=now, timeout_seconds=600,
                ready_threshold=70, coverage=coverage, severity_counts=counts)


def test_nothing_tested_and_nothing_found_is_not_a_pass() -> None:
    untested = gate(ScanType.CONTAINER, ScanOptions(), empty_counts(), tested=False)
    assert untested is not None and untested.passed is None
    tested = gate(ScanType.CONTAINER, ScanOptions(), empty_counts())
    assert tested is not None and tested.passed is True


def test_a_failing_finding_fails_the_gate_whatever_was_tested() -> None:
    counts = {**empty_counts(), Severity.HIGH: 1}
    assert gate(ScanType.WEBAPP, ScanOptions(), counts, tested=False).passed is False  # type: ignore[union-attr]


def test_a_stored_scan_is_judged_by_its_coverage() -> None:
    not_pulled = scan({"tested": [], "not_tested": [], "error": ["container"], "not_scored": "x"}, empty_counts())
    assert scan_gate(not_pulled).passed is None  # type: ignore[union-attr]
    pulled = scan({"tested": ["container"], "not_tested": [], "error": []}, empty_counts())
    assert scan_gate(pulled).passed is True  # type: ignore[union-attr]
    assert scan_gate(scan(None, None)).passed is None  # type: ignore[union-attr]  # not scored yet
