"""The PDF report, checked through poppler: text extraction, page rendering, layout edge cases."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from chalicelib.reports import pdf as pdf_module
from chalicelib.reports.model import SIGNAL_DESCRIPTIONS, SIGNAL_LABELS, SIGNAL_ORDER, ReportData, report_data
from chalicelib.reports.pdf import ReportFontsMissing, find_fonts, fonts_for, render_pdf
from chalicelib.scans import scoring
from chalicelib.scans.models import Finding, GradeCap, Severity, SignalKey
from tests.unit.reports.conftest import squash
from tests.unit.reports.factories import T0, make_findings, make_scan

PdfText = Callable[[bytes], list[str]]


def _page_count(body: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", body))


def test_text_has_domain_score_grade_and_every_finding(full_report: ReportData, full_pdf: bytes,
                                                       pdf_text: PdfText) -> None:
    pages = pdf_text(full_pdf)
    text = squash("\n".join(pages))
    assert full_pdf.startswith(b"%PDF-")
    assert "example.com" in pages[0]
    assert "Score 75 meets the threshold of 65" in text
    assert "Moderate risk" in pages[0] and "75 / 100 · grade C" in text
    for finding in full_report.findings:
        assert squash(finding.title) in text, finding.title
        assert squash(finding.remediation) in text
    assert "Harbour Underwriting Partners" in pages[0]
    assert "jordan.ellis@harbour-uw.example" in pages[0] and "+44 20 7946 0958" in pages[0]
    assert "Scoring version 2026.04.1" in text and "Methodology" in text and "Appendix: evidence" in text


def test_every_page_has_footer_with_token_and_page_number(full_report: ReportData, full_pdf: bytes,
                                                          pdf_text: PdfText) -> None:
    pages = pdf_text(full_pdf)
    total = len(pages)
    assert total == _page_count(full_pdf)
    for number, page in enumerate(pages, start=1):
        assert f"Scan token {full_report.scan_token}" in page
        assert f"Page {number} of {total}" in page


def test_no_page_is_empty_beyond_header_and_footer(full_pdf: bytes, pdf_text: PdfText) -> None:
    furniture = re.compile(r"^(Scan token .*|Scoring version .*|Page \d+ of \d+|Harbour Underwriting Partners"
                           r"|Cyber posture report · .*)$")
    for number, page in enumerate(pdf_text(full_pdf), start=1):
        content = [line for line in page.splitlines() if line.strip() and not furniture.match(line.strip())]
        assert len(content) >= 3, f"page {number} is (nearly) empty: {content}"


def test_pdftoppm_renders_every_page(full_pdf: bytes, pdf_pages, tmp_path: Path) -> None:
    pages, images, stderr = pdf_pages(full_pdf, tmp_path)
    assert pages == _page_count(full_pdf) >= 6
    assert len(images) == pages
    assert all(image.stat().st_size > 1000 for image in images)
    assert "error" not in stderr.lower()


def test_unicode_domain_is_shown_next_to_its_idna_form(pdf_text: PdfText, pdf_pages, tmp_path: Path) -> None:
    data = report_data(make_scan(target="xn--bcher-kva.example"), None, T0)
    body = render_pdf(data)
    cover = pdf_text(body)[0]
    assert "bücher.example" in cover
    assert "xn--bcher-kva.example" in cover
    pages, images, _ = pdf_pages(body, tmp_path)
    assert len(images) == pages


def test_cyrillic_and_greek_text_survive(pdf_text: PdfText) -> None:
    finding = Finding(id="f-uni", signal=SignalKey.MAIL, code="mail.spf.missing", severity=Severity.HIGH,
                      title="Нет записи SPF для почтового домена · Λείπει SPF", remediation="Добавьте запись SPF.")
    data = report_data(make_scan([finding], target="xn--e1afmkfd.xn--p1ai"), None, T0)
    text = squash("\n".join(pdf_text(render_pdf(data))))
    assert "пример.рф" in text
    assert "Нет записи SPF для почтового домена · Λείπει SPF" in text


def test_characters_outside_the_compact_fonts_use_full_dejavu(pdf_text: PdfText) -> None:
    finding = Finding(id="f-sym", signal=SignalKey.WEB, code="web.x", severity=Severity.LOW,
                      title="Header check ★ Ꙩ ⌘ ∰", remediation="n/a")
    data = report_data(make_scan([finding]), None, T0)
    assert fonts_for(data) == find_fonts()
    assert "Header check ★ Ꙩ ⌘ ∰" in squash("\n".join(pdf_text(render_pdf(data))))


def test_long_finding_lays_out_across_pages(pdf_text: PdfText, pdf_pages, tmp_path: Path) -> None:
    words = [f"token{i:04d}" for i in range(560)]
    detail = " ".join(words)
    assert len(detail) >= 5000
    unbroken = "Z" * 5000
    findings = make_findings(6)
    findings[0] = findings[0].model_copy(update={"detail": detail, "title": "Long finding " + "title " * 60})
    findings[1] = findings[1].model_copy(update={"remediation": unbroken})
    data = report_data(make_scan(findings), None, T0)
    body = render_pdf(data)
    text = squash("\n".join(pdf_text(body)))
    positions = [text.find(word) for word in words]
    assert all(p >= 0 for p in positions), "a word of the long detail is missing"
    assert positions == sorted(positions), "the long detail is out of order"
    assert squash("Long finding " + "title " * 60) in text
    # The unbroken word is split across lines (and pages): its pieces add up to the whole word.
    assert sum(len(run) for run in re.findall(r"Z{2,}", text)) == 5000
    pages, images, _ = pdf_pages(body, tmp_path)
    assert len(images) == pages


def test_huge_evidence_is_shortened(pdf_text: PdfText) -> None:
    findings = make_findings(3)
    findings[0] = findings[0].model_copy(update={"evidence": {"body": "A" * 200_000, "lines": "x\n" * 5000}})
    data = report_data(make_scan(findings), None, T0)
    body = render_pdf(data)
    assert len(body) < 150_000
    text = "\n".join(pdf_text(body))
    assert "199,600 more characters" in text
    assert "evidence shortened" in text


def test_report_without_branding_or_findings(pdf_text: PdfText) -> None:
    data = report_data(make_scan([], not_tested={"breach": "No breach data provider is configured."}), None, T0)
    text = squash("\n".join(pdf_text(render_pdf(data))))
    assert "Perimeter" in text
    assert "No findings were raised for this domain." in text
    assert "No breach data provider is configured." in text
    assert "NOT TESTED" in text and "1 of 6 signals were not tested" in text


def test_logo_and_colours_are_embedded(full_pdf: bytes, report_factory) -> None:
    plain = render_pdf(report_factory(branding=None))
    assert b"/Subtype /Image" in full_pdf
    assert b"/Subtype /Image" not in plain


def test_rendering_is_deterministic(full_report: ReportData, full_pdf: bytes) -> None:
    assert render_pdf(full_report) == full_pdf


def test_every_severity_and_signal_has_its_section(full_pdf: bytes, pdf_text: PdfText) -> None:
    text = squash("\n".join(pdf_text(full_pdf)))
    for severity in Severity:
        assert f"{severity.value.upper()} · 8 findings" in text
    assert "Informational: 6 findings, not scored" in text


def test_missing_fonts_raise_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ReportFontsMissing, match="fonts-dejavu-core"):
        find_fonts((tmp_path,))


def test_fpdf_is_imported_only_by_the_pdf_package() -> None:
    code = "import sys, chalicelib.reports; assert 'fpdf' not in sys.modules, 'fpdf imported'"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          cwd=Path(__file__).resolve().parents[3])
    assert done.returncode == 0, done.stderr


def test_not_ready_verdict_and_light_partner_colours(pdf_text: PdfText, branding_factory) -> None:
    branding = branding_factory(primary_color="#FFFFFF", accent_color="#FFFF00",
                                partner_name="Pale Partners Mutual " * 5)
    data = report_data(make_scan(score=40), branding, T0)
    cover = squash(pdf_text(render_pdf(data))[0])
    assert "NOT READY" in cover and "Score 40 is below the threshold of 65" in cover
    assert "Pale Partners Mutual Pale Partners Mutual" in cover
    assert (data.grade, data.grade_label) == ("F", "High risk")


def test_latin_reports_use_the_compact_fonts(full_report: ReportData) -> None:
    full = find_fonts()
    compact = pdf_module.compact_fonts(full)
    if compact is None:
        pytest.skip("no private temp directory for the compact font cache")
    assert fonts_for(full_report) == compact.files != full
    assert all(path.stat().st_size < full.regular.stat().st_size / 3 for path in
               (compact.files.regular, compact.files.bold, compact.files.mono))
    assert {ord(c) for c in "bücher.example αβγ пример ✓✗≥…\u2013·"} <= compact.coverage


# -- layout fixes found by looking at rendered pages (2026-11-21) ------------------------------------


def test_a_domain_in_a_script_dejavu_lacks_is_shown_in_idna_form(pdf_text: PdfText, caplog) -> None:
    finding = Finding(id="f-cjk", signal=SignalKey.WEB, code="web.x", severity=Severity.LOW,
                      title="Banner 例え mentions the site", remediation="n/a")
    data = report_data(make_scan([finding], target="xn--r8jz45g.xn--zckzah"), None, T0)
    with caplog.at_level("WARNING"):
        pages = pdf_text(render_pdf(data))
    assert "xn--r8jz45g.xn--zckzah" in squash(pages[0].split("SCAN TOKEN")[0])
    assert "IDNA (ASCII) form" in squash(pages[0])
    assert "Banner \ufffd\ufffd mentions the site" in squash("\n".join(pages))
    assert not [r for r in caplog.records if "missing the following glyphs" in r.getMessage()]


def test_band_letters_stay_clear_of_the_readiness_tick() -> None:
    from chalicelib.reports.pdf.cover import _band_label_at

    assert _band_label_at(60, 70, 65) <= 65 - 2.6
    assert _band_label_at(60, 70, 69) == 65
    assert _band_label_at(0, 60, 30) <= 30 - 2.6 or _band_label_at(0, 60, 30) >= 30 + 2.6
    assert _band_label_at(90, 100, 65) == 95


def test_a_finding_split_across_pages_is_marked_continued(pdf_text: PdfText) -> None:
    findings = make_findings(4)
    findings[0] = findings[0].model_copy(update={"detail": "A long observation. " * 400})
    pages = pdf_text(render_pdf(report_data(make_scan(findings), None, T0)))
    continued = [p for p in pages if "F1 continued" in p]
    assert continued and all(p.index("F1 continued") < p.index("A long observation") for p in continued)


def test_methodology_shows_the_scoring_tables_points_for_signals_the_scan_lacks(pdf_text: PdfText) -> None:
    scan = make_scan()
    only_scan = {"scan": scan.signals["scan"].model_copy(update={"max_score": 30})}
    data = report_data(scan.model_copy(update={"signals": only_scan}), None, T0)
    text = squash("\n".join(pdf_text(render_pdf(data))))
    start = text.index("Signals and weights")
    table = text[start:text.index("Grades", start)]
    assert f"{SIGNAL_LABELS[SignalKey.SCAN]} {SIGNAL_DESCRIPTIONS[SignalKey.SCAN]} 30 " in table  # the scan's own
    for key in SIGNAL_ORDER[1:6]:  # the posture signals; a posture report does not list webapp or container
        shown = scoring.MAX_SCORES[key] or "info"
        assert f"{SIGNAL_LABELS[key]} {SIGNAL_DESCRIPTIONS[key]} {shown} " in table, key


def test_the_cover_shows_each_grade_cap_and_a_finding_names_its_product_and_cve(pdf_text: PdfText) -> None:
    exploited = Finding(id="f-kev", signal=SignalKey.SCAN, code="known-exploited-version", severity=Severity.CRITICAL,
                        title="Known-exploited version running", product="FortiOS", version="6.0.4",
                        cve="CVE-2018-13379", kev=True, ransomware=True)
    scan = make_scan([exploited], score=69).model_copy(update={
        "grade": "D", "caps": [GradeCap(code="known-exploited-version", max_grade="D",
                                        reason="A service runs a version CISA lists as exploited in the wild.")]})
    cover = squash(pdf_text(render_pdf(report_data(scan, None, T0)))[0])
    assert "GRADE CAPPED AT D" in cover
    assert "D at best · A service runs a version CISA lists as exploited in the wild." in cover
    assert "Known-exploited version running · FortiOS 6.0.4 · CVE-2018-13379" in cover


def test_an_uncapped_cover_has_no_cap_panel(full_pdf: bytes, pdf_text: PdfText) -> None:
    assert "GRADE CAPPED" not in squash(pdf_text(full_pdf)[0])
