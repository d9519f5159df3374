"""The score breakdown (signal bars, severity matrix, coverage) and the methodology pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from chalicelib.reports.model import (
    DEFAULT_SIGNAL_MAX,
    GRADE_BANDS,
    SEVERITY_ORDER,
    SIGNAL_DESCRIPTIONS,
    SIGNAL_LABELS,
    CoverageItem,
    SignalRow,
    grade_for,
)
from chalicelib.reports.pdf.layout import ReportPDF, not_scored_text, table_row
from chalicelib.reports.pdf.style import (
    CONTENT_W,
    EN_DASH,
    GRADE_COLOURS,
    INK,
    MARGIN,
    MUTED,
    OK_GREEN,
    PAGE_W,
    PANEL,
    RGB,
    RULE,
    SEVERITY_COLOURS,
    TRACK,
    WHITE,
    tint,
)
from chalicelib.scans.models import SignalStatus

COVERAGE_DETAIL_LINES = 16


def _bar_colour(score: int, max_score: int) -> RGB:
    return GRADE_COLOURS[grade_for(round(100 * score / max_score)).grade]


def _signal_bar(pdf: ReportPDF, row: SignalRow, y: float) -> None:
    bar_x, bar_w, bar_h = MARGIN + 70, 80.0, 6.0
    bar_y = y + 2.5
    pdf.use(10, bold=True, colour=INK)
    pdf.line_at(MARGIN, y, row.label, 5.5)
    pdf.use(7, colour=MUTED)
    for i, line in enumerate(pdf.wrap(row.description, 66)[:2]):
        pdf.line_at(MARGIN, y + 5.5 + i * 3.4, line, 3.4)
    scored = row.status is SignalStatus.COMPLETE and row.score is not None and not row.informational
    pdf.set_fill_color(*TRACK)
    pdf.rect(bar_x, bar_y, bar_w, bar_h, style="F", round_corners=True, corner_radius=1)
    value = ""
    if scored and row.score is not None and row.max_score > 0:
        fraction = min(max(row.score / row.max_score, 0.0), 1.0)
        if fraction > 0:
            pdf.set_fill_color(*_bar_colour(row.score, row.max_score))
            pdf.rect(bar_x, bar_y, max(bar_w * fraction, 2.0), bar_h, style="F", round_corners=True, corner_radius=1)
        value = f"{row.score} / {row.max_score}"
    else:
        if row.informational:
            note = f"Informational: {row.findings_count} finding{'s' if row.findings_count != 1 else ''}, not scored"
            value = "info"
        elif row.status is SignalStatus.ERROR:
            note, value = "Check failed: see coverage", f"{EN_DASH} / {row.max_score}"
        else:
            note, value = "Not tested: see coverage", f"{EN_DASH} / {row.max_score}"
        pdf.use(7, colour=MUTED)
        pdf.line_at(bar_x + 2, bar_y, note, bar_h)
    pdf.use(10, bold=True, colour=INK)
    pdf.line_at(bar_x + bar_w, bar_y, value, bar_h, align="R", width=PAGE_W - MARGIN - bar_x - bar_w)


def draw_breakdown(pdf: ReportPDF) -> None:
    data = pdf.data
    pdf.add_page()
    scored = [r for r in data.signals if not r.informational]
    summary = (f"The overall score of {data.score} out of {data.max_score} is the sum of {len(scored)} weighted "
               "signals." if data.score is not None else
               f"This scan has no overall score ({not_scored_text(data)}); each signal's status and the reason "
               "it was not tested are listed under coverage.")
    pdf.heading(
        "Score breakdown",
        summary + " Each bar shows a signal's points against its maximum. Signals with no points at stake "
        "are reported for information.",
    )
    for row in data.signals:
        pdf.ensure_space(16)
        _signal_bar(pdf, row, pdf.y)
        pdf.y += 15
    with pdf.line_style(RULE, 0.3):
        pdf.line(MARGIN, pdf.y, PAGE_W - MARGIN, pdf.y)
    pdf.y += 2
    pdf.use(11, bold=True, colour=INK)
    pdf.line_at(MARGIN, pdf.y, "Total", 7)
    total = (f"{data.score} / {data.max_score}  ·  grade {data.grade}" if data.score is not None
             else f"{EN_DASH} / {data.max_score}  ·  not scored")
    pdf.line_at(MARGIN, pdf.y, total, 7, align="R", width=CONTENT_W)
    pdf.y += 12
    _severity_matrix(pdf)
    _coverage(pdf)


def _severity_matrix(pdf: ReportPDF) -> None:
    data = pdf.data
    pdf.subheading("Findings by signal and severity")
    label_w = 52.0
    col_w = (CONTENT_W - label_w) / (len(SEVERITY_ORDER) + 1)
    row_h = 6.5
    keys = [item.signal for item in data.coverage]
    pdf.ensure_space(row_h * (len(keys) + 2))
    y = pdf.y
    pdf.use(7, bold=True, colour=MUTED)
    pdf.line_at(MARGIN + 2, y, "SIGNAL", row_h)
    for i, severity in enumerate(SEVERITY_ORDER):
        pdf.line_at(MARGIN + label_w + i * col_w, y, severity.value.upper(), row_h, align="C", width=col_w)
    pdf.line_at(MARGIN + label_w + len(SEVERITY_ORDER) * col_w, y, "TOTAL", row_h, align="C", width=col_w)
    y += row_h
    for n, key in enumerate(keys):
        findings = [f for f in data.findings if f.signal is key]
        if n % 2 == 0:
            pdf.set_fill_color(*PANEL)
            pdf.rect(MARGIN, y, CONTENT_W, row_h, style="F")
        pdf.use(8.5, colour=INK)
        pdf.line_at(MARGIN + 2, y, SIGNAL_LABELS[key], row_h)
        for i, severity in enumerate(SEVERITY_ORDER):
            count = sum(1 for f in findings if f.severity is severity)
            x = MARGIN + label_w + i * col_w
            if count:
                pdf.set_fill_color(*tint(SEVERITY_COLOURS[severity], 0.8))
                pdf.rect(x + col_w / 2 - 5, y + 0.9, 10, row_h - 1.8, style="F", round_corners=True,
                         corner_radius=1)
            pdf.use(8.5, bold=bool(count), colour=INK if count else MUTED)
            pdf.line_at(x, y, str(count) if count else "·", row_h, align="C", width=col_w)
        pdf.use(8.5, bold=True, colour=INK)
        pdf.line_at(MARGIN + label_w + len(SEVERITY_ORDER) * col_w, y, str(len(findings)), row_h,
                    align="C", width=col_w)
        y += row_h
    pdf.set_y(y + 8)


_COVERAGE_PILLS: dict[SignalStatus, tuple[str, RGB]] = {
    SignalStatus.COMPLETE: ("TESTED", OK_GREEN),
    SignalStatus.ERROR: ("ERROR", (230, 120, 0)),
    SignalStatus.NOT_TESTED: ("NOT TESTED", MUTED),
}


def _flatten(prefix: str, value: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        for key in sorted(value, key=str):
            yield from _flatten(f"{prefix}.{key}" if prefix else str(key), value[key])
    else:
        yield prefix, value


def _coverage_item(pdf: ReportPDF, item: CoverageItem, shade: bool) -> None:
    reason_x = MARGIN + 72
    pdf.use(8, colour=INK if item.reason else MUTED)
    lines = pdf.wrap(item.reason or "Tested in full.", PAGE_W - MARGIN - reason_x - 2)[:6]
    height = max(len(lines) * 4.0, 4.6) + 2.2
    pdf.ensure_space(height)
    top = pdf.y
    if shade:
        pdf.set_fill_color(*PANEL)
        pdf.rect(MARGIN, top, CONTENT_W, height, style="F")
    label, colour = _COVERAGE_PILLS[item.status]
    pdf.pill(MARGIN + 2, top + 1.1, label, colour)
    pdf.use(8.5, bold=True, colour=INK)
    pdf.line_at(MARGIN + 26, top + 1.1, item.label, 4.6)
    pdf.use(8, colour=INK if item.reason else MUTED)
    for i, line in enumerate(lines):
        pdf.line_at(reason_x, top + 1.1 + i * 4.0, line, 4.6 if len(lines) == 1 else 4.0)
    pdf.y = top + height


def _coverage(pdf: ReportPDF) -> None:
    data = pdf.data
    pdf.subheading("Coverage: what was tested")
    pdf.use(8.5, colour=MUTED)
    untested = [c for c in data.coverage if not c.tested]
    pdf.paragraph(
        "A check that could not run is never scored as a failure. "
        + (f"{len(untested)} of {len(data.coverage)} signals were not tested in this scan."
           if untested else "Every signal was tested."),
        MARGIN, CONTENT_W, 4.3,
    )
    pdf.y += 2.5
    for i, item in enumerate(data.coverage):
        _coverage_item(pdf, item, shade=i % 2 == 0)
    if data.coverage_details:
        pdf.use(7.5, colour=MUTED)
        pdf.y += 1.5
        pdf.paragraph("The scan parameters behind this coverage are listed with the methodology.",
                      MARGIN, CONTENT_W, 3.8)


def _coverage_details(pdf: ReportPDF) -> None:
    """The scan's own coverage record (ports, zones, providers), shortened."""
    details = list(_flatten("", pdf.data.coverage_details))
    pdf.subheading("Scan parameters")
    pdf.use(7.5, mono=True, colour=INK)
    for key, value in details[:COVERAGE_DETAIL_LINES]:
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
        pdf.paragraph(f"{key}: {text}"[:400], MARGIN, CONTENT_W, 3.6, max_lines=3)
    if len(details) > COVERAGE_DETAIL_LINES:
        pdf.use(7.5, colour=MUTED)
        pdf.paragraph(f"… {len(details) - COVERAGE_DETAIL_LINES} more entries in the JSON report.",
                      MARGIN, CONTENT_W, 3.6)


def draw_methodology(pdf: ReportPDF) -> None:
    data = pdf.data
    pdf.add_page()
    pdf.heading(
        "Methodology",
        "The scan looks at the domain only from the outside, as any internet user could: DNS queries, "
        "TCP connection attempts, TLS handshakes, HTTP requests and look-ups in breach and blocklist data. "
        "It does not log in, exploit weaknesses or load the systems it examines.",
    )
    pdf.subheading("Signals and weights")
    maxima = {row.key: row.max_score for row in data.signals}
    header = [("Signal", 46.0, True), ("What is examined", 106.0, True), ("Points", 26.0, True)]
    table_row(pdf, header, shade=False)
    for i, key in enumerate(item.signal for item in data.coverage):
        points = maxima.get(key, DEFAULT_SIGNAL_MAX[key])
        shown = str(points) if points else "info"
        table_row(pdf, [(SIGNAL_LABELS[key], 46.0, False), (SIGNAL_DESCRIPTIONS[key], 106.0, False),
                         (shown, 26.0, False)], shade=i % 2 == 0)
    pdf.y += 5
    pdf.subheading("Grades")
    for band in GRADE_BANDS:
        pdf.ensure_space(7)
        pdf.set_fill_color(*GRADE_COLOURS[band.grade])
        pdf.rect(MARGIN, pdf.y + 0.6, 8, 5, style="F", round_corners=True, corner_radius=1)
        pdf.use(8.5, bold=True, colour=WHITE)
        pdf.line_at(MARGIN, pdf.y + 0.6, band.grade, 5, align="C", width=8)
        pdf.use(8.5, colour=INK)
        upper = min((b.min_score - 1 for b in GRADE_BANDS if b.min_score > band.min_score), default=100)
        span = f"{band.min_score}{EN_DASH}{upper}" if band.min_score else f"below {upper + 1}"
        pdf.line_at(MARGIN + 12, pdf.y, f"{span}: {band.label}", 6.2)
        pdf.y += 6.6
    pdf.y += 4
    sections = [
        ("Readiness",
         f"A domain is ready when its score reaches the threshold agreed for this programme: "
         f"{data.ready_threshold} for this report. "
         + (f"This domain scored {data.score} and is {'ready' if data.ready else 'not ready'}."
            if data.score is not None else
            f"This scan was not scored ({not_scored_text(data)}), so readiness is not assessed.")),
        ("Coverage",
         "Each signal reports whether it ran in full, failed or could not be tested (for example when a "
         "data source is unavailable). A check that could not run is never counted as a failure; the "
         "coverage section lists what was and was not tested so the score can be read in context."),
        ("Scoring version",
         f"Scores in this report were computed with scoring version {data.scoring_version}. Scoring is a "
         "published table of deductions per result; scores are comparable within the same version. The "
         "methodology, with every weight and the claims research behind it, is docs/scoring.md in the "
         "Perimeter repository."
         + (f" Known-exploited and end-of-life software were matched against intelligence data version "
            f"{data.intel_version}." if data.intel_version else "")),
        ("Grade caps",
         "Some exposures predict claims so strongly that no amount of good hygiene elsewhere should hide "
         "them: a known-exploited software version, exposed secrets or version-control data, remote "
         "desktop or a database open to the internet. Each holds the grade at or below a set grade, and "
         "the score at that grade's top, whatever the sum of deductions. "
         + ("Caps applied to this scan: " + "; ".join(f"{c.code} (at best {c.max_grade})" for c in data.caps)
            + "." if data.caps else "No cap applied to this scan.")),
        ("Limitations",
         "Results describe the moment of the scan and only what is visible from the internet. Internal "
         "controls, staff practices and systems behind authentication are out of scope. Automated checks "
         "can produce false positives; the evidence appendix shows what each finding rests on."),
    ]
    for title, text in sections:
        pdf.subheading(title)
        pdf.use(9, colour=INK)
        pdf.paragraph(text, MARGIN, CONTENT_W, 4.5)
        pdf.y += 3
    if data.coverage_details:
        _coverage_details(pdf)
