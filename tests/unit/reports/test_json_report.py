"""The JSON report: stable bytes, sorted keys, and a lossless round trip (minus the logo)."""

from __future__ import annotations

import hashlib
import hmac
import json

from chalicelib.reports.branding import Branding
from chalicelib.reports.integrity import sign_report
from chalicelib.reports.json_report import render_json
from chalicelib.reports.model import ReportData


def test_round_trip(full_report: ReportData) -> None:
    body = render_json(full_report)
    loaded = ReportData.model_validate_json(body)
    assert full_report.branding is not None
    without_logo = Branding.model_validate(full_report.branding.model_dump(exclude={"logo"}))
    expected = full_report.model_copy(update={"branding": without_logo})
    assert loaded == expected
    assert render_json(loaded) == body


def test_stable_and_sorted(full_report: ReportData) -> None:
    body = render_json(full_report)
    assert body == render_json(full_report)
    document = json.loads(body)
    assert body.decode("utf-8") == json.dumps(document, sort_keys=True, ensure_ascii=False, indent=2) + "\n"


def test_carries_version_time_and_no_logo(full_report: ReportData) -> None:
    document = json.loads(render_json(full_report))
    assert document["format"] == "perimeter.report" and document["format_version"] == 1
    assert document["scoring_version"] == "2026.04.1"
    assert document["generated_at"] == "2026-04-20T12:30:00Z"
    assert "logo" not in document["branding"]
    assert len(document["findings"]) == 40
    assert document["findings"][0]["evidence"]


def test_unicode_is_kept_as_utf8(report_factory) -> None:
    body = render_json(report_factory(target="xn--bcher-kva.example"))
    assert "bücher.example".encode() in body
    assert b"\\u00fc" not in body


def test_signed_json_detects_tampering(full_report: ReportData) -> None:
    body = render_json(full_report)
    key = b"partner-report-key-0123456789abcdef"
    signature = sign_report(body, key)
    assert signature == hmac.new(key, body, hashlib.sha256).hexdigest()
    assert sign_report(body.replace(b'"score": 75', b'"score": 95'), key) != signature
