"""A scan whose signals could all not run (or carry no points) still gets a report that says so."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from chalicelib.bootstrap import Services
from chalicelib.reports.json_report import render_json
from chalicelib.reports.model import ReportData, report_data
from chalicelib.scans.models import ScanStatus, SignalKey, SignalResult, SignalStatus
from tests.unit.reports.conftest import squash
from tests.unit.reports.factories import T0, make_scan

TENANT = "acme"
REASONS = {"scan": "no address to connect to", "breach": "breach provider unavailable",
           "reputation": "every resolver timed out", "mail": "every resolver timed out",
           "layer": "no TLS on 443", "web": "no HTTP answer"}


def unscored_scan(**update: Any) -> Any:
    """A posture scan where no signal could be tested, as the Score step leaves it."""
    scan = make_scan(findings=[], not_tested=REASONS)
    coverage = {"tested": [], "not_tested": list(REASONS), "error": [],
                "not_scored": "not scored: no signal could be tested"}
    return scan.model_copy(update={"tenant_id": TENANT, "score": None, "grade": None, "grade_label": None,
                                   "ready": None, "coverage": coverage, **update})


def test_report_data_of_an_unscored_scan_has_null_score_and_says_why() -> None:
    data = report_data(unscored_scan(), None, T0)
    assert (data.score, data.grade, data.grade_label, data.ready) == (None, None, None, None)
    assert data.not_scored_reason == "not scored: no signal could be tested"
    assert {(c.signal.value, c.status, c.reason) for c in data.coverage} == {
        (key, SignalStatus.NOT_TESTED, reason) for key, reason in REASONS.items()}


def test_web_only_scan_is_reported_as_carrying_no_points() -> None:
    web = {"web": SignalResult(status=SignalStatus.COMPLETE, score=0, max_score=0)}
    scan = unscored_scan(signals=web, coverage={"tested": ["web"], "not_tested": [], "error": []})
    data = report_data(scan, None, T0)
    assert data.score is None
    assert data.not_scored_reason is not None and "none of the tested signals carries points" in data.not_scored_reason
    assert "web 0" in data.not_scored_reason


def test_json_report_of_an_unscored_scan_round_trips_with_nulls() -> None:
    body = render_json(report_data(unscored_scan(), None, T0))
    document = json.loads(body)
    assert document["score"] is None and document["grade"] is None and document["ready"] is None
    assert document["not_scored_reason"] == "not scored: no signal could be tested"
    assert ReportData.model_validate_json(body).not_scored_reason == document["not_scored_reason"]


def test_pdf_of_an_unscored_scan_says_not_scored_and_lists_each_signals_reason(
        pdf_text: Callable[[bytes], list[str]]) -> None:
    from chalicelib.reports.pdf import render_pdf

    pages = pdf_text(render_pdf(report_data(unscored_scan(), None, T0)))
    text = squash("\n".join(pages))
    assert "Not scored" in pages[0] and "READINESS NOT ASSESSED" in pages[0]
    assert "not scored: no signal could be tested" in text
    assert "not scored" in text and "None" not in text
    for reason in REASONS.values():
        assert reason in text, reason


def test_render_and_store_writes_reports_for_an_unscored_scan(services: Services) -> None:
    scan = unscored_scan(status=ScanStatus.SCORING, completed_at=None)
    services.scans.repo.add(scan)
    result = services.reports.render_and_store(TENANT, scan.scan_id, progress=90)
    assert result["report_keys"].keys() == {"pdf", "json"}
    stored = services.objects.get(result["report_keys"]["json"])
    assert json.loads(stored)["not_scored_reason"] == "not scored: no signal could be tested"
    assert services.scans.get(TENANT, scan.scan_id).report_keys == result["report_keys"]
    assert SignalKey.SCAN.value in json.loads(stored)["coverage_details"]["not_tested"]
