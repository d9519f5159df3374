"""The CI gate of webapp and container scans: findings at or above `fail_on` fail it, and so does a check that
could not run (an image never read or a site never reached has no findings, which proves nothing)."""

from __future__ import annotations

import pytest

from chalicelib.scans.active import gate
from chalicelib.scans.models import ScanOptions, ScanType, Severity, SignalResult, SignalStatus

CLEAN = {s: 0 for s in Severity}


def signal(status: SignalStatus, error: str | None = None) -> SignalResult:
    return SignalResult(status=status, max_score=0, error=error)


@pytest.mark.parametrize(("kind", "key"), [(ScanType.CONTAINER, "container"), (ScanType.WEBAPP, "webapp")])
def test_a_check_that_could_not_run_fails_the_gate_and_says_why(kind: ScanType, key: str) -> None:
    failed = gate(kind, ScanOptions(), CLEAN, {key: signal(SignalStatus.ERROR, "registry answered 401")})
    assert failed is not None and failed.passed is False
    assert failed.not_checked == {key: "registry answered 401"}
    untested = gate(kind, ScanOptions(), CLEAN, {key: signal(SignalStatus.NOT_TESTED)})
    assert untested is not None and (untested.passed, untested.not_checked) == (False, {key: "not_tested"})


def test_a_clean_complete_check_passes_and_findings_at_fail_on_fail() -> None:
    done = {"container": signal(SignalStatus.COMPLETE)}
    passed = gate(ScanType.CONTAINER, ScanOptions(), CLEAN, done)
    assert passed is not None and (passed.passed, passed.not_checked) == (True, {})
    high = gate(ScanType.CONTAINER, ScanOptions(), {**CLEAN, Severity.HIGH: 1}, done)
    assert high is not None and high.passed is False
    lenient = gate(ScanType.CONTAINER, ScanOptions(fail_on=Severity.CRITICAL), {**CLEAN, Severity.HIGH: 1}, done)
    assert lenient is not None and lenient.passed is True


def test_unscored_scans_are_undecided_and_posture_scans_have_no_gate() -> None:
    pending = gate(ScanType.WEBAPP, ScanOptions(), None, {"webapp": signal(SignalStatus.ERROR, "x")})
    assert pending is not None and pending.passed is None
    assert gate(ScanType.POSTURE, ScanOptions(), CLEAN, {"scan": signal(SignalStatus.ERROR, "x")}) is None


def test_a_scored_scan_without_its_own_signal_tested_nothing() -> None:
    missing = gate(ScanType.WEBAPP, ScanOptions(), CLEAN, {})
    assert missing is not None and (missing.passed, missing.not_checked) == (False, {"webapp": "no result"})
