"""The CI gate of webapp and container scans: findings at or above fail_on fail it, and so does an untested scan."""

from __future__ import annotations

from chalicelib.scans.active import gate
from chalicelib.scans.models import ScanOptions, ScanType, Severity, SignalResult, SignalStatus


def _signal(status: SignalStatus, error: str | None = None) -> dict[str, SignalResult]:
    return {"container": SignalResult(status=status, max_score=0, error=error)}


def test_posture_family_scans_have_no_gate() -> None:
    assert gate(ScanType.POSTURE, ScanOptions(), {Severity.HIGH: 3}) is None


def test_unknown_counts_leave_the_gate_open() -> None:
    result = gate(ScanType.CONTAINER, ScanOptions(), None, _signal(SignalStatus.COMPLETE))
    assert result is not None and result.passed is None and result.reason is None


def test_findings_at_or_above_fail_on_fail_and_below_pass() -> None:
    high = gate(ScanType.CONTAINER, ScanOptions(), {Severity.HIGH: 1}, _signal(SignalStatus.COMPLETE))
    assert high is not None and high.passed is False and high.reason is None
    critical_only = ScanOptions(fail_on=Severity.CRITICAL)
    relaxed = gate(ScanType.CONTAINER, critical_only, {Severity.HIGH: 1}, _signal(SignalStatus.COMPLETE))
    assert relaxed is not None and relaxed.passed is True


def test_an_image_never_pulled_fails_the_gate_with_the_reason() -> None:
    refused = gate(ScanType.CONTAINER, ScanOptions(), {}, _signal(SignalStatus.ERROR, "registry answered 401"))
    assert refused is not None and refused.passed is False
    assert refused.reason == "not tested: container error: registry answered 401"
    missing = gate(ScanType.WEBAPP, ScanOptions(), {}, {})
    assert missing is not None and missing.passed is False and missing.reason == "not tested: webapp has no result"
    skipped = gate(ScanType.CONTAINER, ScanOptions(), {}, _signal(SignalStatus.NOT_TESTED))
    assert skipped is not None and skipped.passed is False and skipped.reason == "not tested: container not_tested"
