"""ReportData: built from a scored scan, ordered, with coverage and Unicode target forms."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.reports.model import (
    DEFAULT_SIGNAL_MAX,
    SEVERITY_ORDER,
    SIGNAL_ORDER,
    ReportData,
    grade_for,
    report_data,
    target_forms,
)
from chalicelib.scans import scoring
from chalicelib.scans.models import SIGNALS_BY_TYPE, ScanType, Severity, SignalKey, SignalStatus
from tests.unit.reports.factories import T0, make_findings, make_scan


def test_findings_are_ordered_by_severity_and_counted(full_report: ReportData) -> None:
    assert len(full_report.findings) == 40
    ranks = [SEVERITY_ORDER.index(f.severity) for f in full_report.findings]
    assert ranks == sorted(ranks)
    assert full_report.severity_counts == {s: 8 for s in SEVERITY_ORDER}
    assert {f.signal for f in full_report.findings} == set(SIGNALS_BY_TYPE[ScanType.POSTURE])


def test_scores_grade_and_readiness_come_from_the_scan(full_report: ReportData) -> None:
    assert full_report.score == 75
    assert (full_report.grade, full_report.grade_label) == ("C", "Moderate risk")
    assert full_report.ready is True and full_report.ready_threshold == 65
    assert full_report.scoring_version == "2026.04.1"
    web = next(row for row in full_report.signals if row.key is SignalKey.WEB)
    assert web.informational and web.max_score == 0
    assert [row.key for row in full_report.signals if not row.informational] == [
        SignalKey.SCAN, SignalKey.BREACH, SignalKey.REPUTATION, SignalKey.MAIL, SignalKey.LAYER,
    ]


def test_not_ready_below_threshold() -> None:
    data = report_data(make_scan(score=64, ready_threshold=65), None, T0)
    assert data.ready is False
    assert (data.grade, data.grade_label) == ("D", "Elevated risk")
    assert report_data(make_scan(score=65, ready_threshold=65), None, T0).ready is True


@pytest.mark.parametrize(("score", "grade"), [(100, "A"), (90, "A"), (89, "B"), (80, "B"), (79, "C"),
                                               (70, "C"), (69, "D"), (60, "D"), (59, "F"), (0, "F")])
def test_grade_bands(score: int, grade: str) -> None:
    assert grade_for(score).grade == grade


def test_coverage_explains_untested_signals() -> None:
    scan = make_scan(not_tested={"breach": "No breach data provider is configured."})
    data = report_data(scan, None, T0)
    breach = next(c for c in data.coverage if c.signal is SignalKey.BREACH)
    assert (breach.tested, breach.status) == (False, SignalStatus.NOT_TESTED)
    assert breach.reason == "No breach data provider is configured."
    assert all(c.tested for c in data.coverage if c.signal is not SignalKey.BREACH)
    assert not [f for f in data.findings if f.signal is SignalKey.BREACH]


def test_coverage_reason_falls_back_to_scan_coverage_note() -> None:
    scan = make_scan(not_tested={"breach": ""}, coverage={"breach": {"reason": "Provider timed out."}})
    data = report_data(scan, None, T0)
    assert next(c for c in data.coverage if c.signal is SignalKey.BREACH).reason == "Provider timed out."
    assert data.coverage_details == {"breach": {"reason": "Provider timed out."}}


def test_a_scan_the_score_step_has_not_run_on_is_refused() -> None:
    scan = make_scan().model_copy(update={"score": None, "scoring_version": None})
    with pytest.raises(ValueError, match="not been scored"):
        report_data(scan, None, T0)


def test_naive_generation_time_is_refused() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        report_data(make_scan(), None, datetime(2026, 4, 20, 12, 0))


def test_generation_time_is_normalised_to_utc() -> None:
    local = T0.astimezone(timezone(timedelta(hours=10)))
    assert report_data(make_scan(), None, local).generated_at.utcoffset() == timedelta(0)


def test_unicode_target_forms() -> None:
    assert target_forms("xn--bcher-kva.example") == ("xn--bcher-kva.example", "bücher.example")
    assert target_forms("bücher.example") == ("xn--bcher-kva.example", "bücher.example")
    assert target_forms("203.0.113.9") == ("203.0.113.9", "203.0.113.9")
    data = report_data(make_scan(target="xn--bcher-kva.example"), None, T0)
    assert data.has_unicode_target and data.target_unicode == "bücher.example"


def test_severity_counts_must_match_findings(full_report: ReportData) -> None:
    counts = dict(full_report.severity_counts)
    counts[Severity.CRITICAL] += 1
    with pytest.raises(ValueError, match="severity_counts"):
        ReportData.model_validate({**full_report.model_dump(), "severity_counts": counts})


def test_findings_sort_is_stable_across_signal_order() -> None:
    findings = make_findings(12)
    data_a = report_data(make_scan(findings), None, T0)
    data_b = report_data(make_scan(list(reversed(findings))), None, T0)
    assert [f.id for f in data_a.findings] == [f.id for f in data_b.findings]


def test_signal_maxima_are_the_scoring_tables() -> None:
    assert set(SIGNAL_ORDER) == set(SignalKey) == set(scoring.MAX_SCORES)
    assert DEFAULT_SIGNAL_MAX == scoring.MAX_SCORES
