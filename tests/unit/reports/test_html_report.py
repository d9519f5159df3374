"""The HTML report: one page per report or group, every value escaped, no script, nothing fetched."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from html import escape
from typing import Any

import pytest

from chalicelib.reports.html import render_html
from chalicelib.reports.json_report import render_json
from chalicelib.reports.model import ReportData, report_data
from chalicelib.scans.models import Finding, Severity, SignalKey
from tests.unit.reports.factories import make_branding, make_findings, make_scan

NOW = datetime(2026, 12, 7, tzinfo=UTC)
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def _data(target: str = "example.com", findings: list[Finding] | None = None, **branding: Any) -> ReportData:
    scan = make_scan(findings, target=target)
    return report_data(scan, make_branding(**branding), NOW)


def test_every_value_is_escaped_and_nothing_runs() -> None:
    hostile = Finding(id="fnd_x", signal=SignalKey.WEB, code="csp-missing", severity=Severity.HIGH, title=HOSTILE,
                      detail=HOSTILE, remediation=HOSTILE, cwe="CWE-693")
    page = render_html(_data(findings=[hostile], partner_name=HOSTILE[:60])).decode()
    assert "<script" not in page.lower() and "<img" not in page.lower()
    assert page.count("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;") >= 3  # title, detail, remediation
    assert "&lt;img src=x onerror=alert(1)&gt;" in page
    assert re.search(r'http-equiv="Content-Security-Policy" content="default-src \'none\'', page)
    assert "Harbour" not in page and "#0B4F6C" in page  # the partner's name replaced, its colour kept


def test_a_group_renders_a_section_per_target_with_its_findings() -> None:
    first = _data("example.com")
    second = _data("xn--bcher-kva.example", findings=make_findings(3))
    page = render_html([first, second]).decode()
    assert page.count("<section") == 2 and "bücher.example" in page and "xn--bcher-kva.example" in page
    assert all(escape(f.title) in page for f in second.findings) and len(second.findings) == 3
    assert page == render_html([first, second]).decode()  # deterministic


def test_the_stored_json_report_reads_back_into_the_same_page() -> None:
    data = _data()
    assert data.branding is not None and data.branding.logo  # the stored JSON leaves the logo out
    assert render_html(ReportData.model_validate_json(render_json(data))) == render_html(data)


def test_no_report_is_an_error() -> None:
    with pytest.raises(ValueError):
        render_html([])
