"""The findings pages, grouped by severity, and the evidence appendix (both number findings F1, F2, ...)."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from chalicelib.reports.model import SEVERITY_ORDER, SIGNAL_LABELS, ReportFinding
from chalicelib.reports.pdf.layout import ReportPDF, clean_text
from chalicelib.reports.pdf.style import (
    CONTENT_W,
    INK,
    MARGIN,
    MUTED,
    PAGE_W,
    PANEL,
    RULE,
    SEVERITY_COLOURS,
    readable_on,
)

# Evidence is shown in full in the JSON report; the PDF shortens it.
EVIDENCE_VALUE_CHARS = 400
EVIDENCE_LINES_PER_FINDING = 20
# The PDF lists the most severe findings up to this many; the JSON report lists every one.
PDF_MAX_FINDINGS = 100


def listed(findings: Sequence[ReportFinding]) -> Sequence[ReportFinding]:
    """The findings the PDF lists (the most severe first, at most PDF_MAX_FINDINGS)."""
    return findings[:PDF_MAX_FINDINGS]


def evidence_lines(evidence: dict[str, Any], value_chars: int = EVIDENCE_VALUE_CHARS) -> list[str]:
    """Evidence as `key: value` lines, each value shortened to `value_chars` characters."""
    lines: list[str] = []
    for key in sorted(evidence):
        value = evidence[key]
        text = value if isinstance(value, str) else json.dumps(
            value, ensure_ascii=False, sort_keys=True, default=str,
        )
        text = clean_text(text)
        if len(text) > value_chars:
            text = f"{text[:value_chars]} … [{len(text) - value_chars:,} more characters]"
        first, *rest = text.split("\n") or [""]
        lines.append(f"{key}: {first}")
        lines.extend(f"  {line}" for line in rest)
    return lines


def _numbered(findings: Sequence[ReportFinding]) -> Iterator[tuple[str, ReportFinding]]:
    """Findings with their report references F1, F2, ... (shared by findings and appendix)."""
    for i, finding in enumerate(findings, start=1):
        yield f"F{i}", finding


def _finding_meta(finding: ReportFinding) -> str:
    parts = [SIGNAL_LABELS[finding.signal], finding.code]
    if finding.cwe:
        parts.append(finding.cwe if finding.cwe.upper().startswith("CWE") else f"CWE-{finding.cwe}")
    parts.append(f"id {finding.id}")
    return "  ·  ".join(parts)


def _finding(pdf: ReportPDF, ref: str, finding: ReportFinding) -> None:
    colour = SEVERITY_COLOURS[finding.severity]
    x, width = MARGIN + 11, CONTENT_W - 11
    pdf.ensure_space(22)
    pdf.use(8, bold=True, colour=colour)
    pdf.line_at(MARGIN, pdf.y, ref, 5.2)
    pdf.use(10, bold=True, colour=INK)
    pdf.paragraph(finding.title, x, width, 5.2)
    pdf.continued = f"{ref} continued  ·  {finding.title}"
    pdf.use(7.3, colour=MUTED)
    meta = _finding_meta(finding) + (f"  ·  evidence {ref} in the appendix" if finding.evidence else "")
    pdf.paragraph(meta, x, width, 3.7)
    pdf.y += 0.8
    if finding.detail:
        pdf.use(8.8, colour=INK)
        pdf.paragraph(finding.detail, x, width, 4.2)
    if finding.remediation:
        pdf.ensure_space(4.2)
        pdf.use(8.8, bold=True, colour=pdf.accent_text)
        label = "Remediation: "
        pdf.line_at(x, pdf.y, label, 4.2)
        indent = pdf.width_of(label)
        pdf.use(8.8, colour=INK)
        pdf.paragraph(finding.remediation, x, width, 4.2, indent=indent)
    pdf.continued = None
    pdf.y += 2
    with pdf.line_style(RULE, 0.2):
        pdf.line(x, pdf.y, PAGE_W - MARGIN, pdf.y)
    pdf.y += 3


def draw_findings(pdf: ReportPDF) -> None:
    data = pdf.data
    pdf.add_page()
    total = len(data.findings)
    pdf.heading(
        "Findings",
        f"{total} finding{'s' if total != 1 else ''}, most severe first, each with what was observed and "
        "how to fix it. The evidence each finding rests on is in the appendix." if total else None,
    )
    if not data.findings:
        pdf.use(10, colour=INK)
        pdf.paragraph("No findings were raised for this domain.", MARGIN, CONTENT_W, 5)
        return
    shown = listed(data.findings)
    for severity in SEVERITY_ORDER:
        group = [f for f in data.findings if f.severity is severity]
        if not any(f.severity is severity for f in shown):
            continue
        pdf.ensure_space(36)
        colour = SEVERITY_COLOURS[severity]
        pdf.set_fill_color(*colour)
        pdf.rect(MARGIN, pdf.y, CONTENT_W, 7.5, style="F", round_corners=True, corner_radius=1.5)
        pdf.use(9.5, bold=True, colour=readable_on(colour))
        count = f"{len(group)} finding{'s' if len(group) != 1 else ''}"
        pdf.line_at(MARGIN + 3, pdf.y, f"{severity.value.upper()}  ·  {count}", 7.5)
        pdf.y += 11
        for ref, finding in _numbered(shown):
            if finding.severity is severity:
                _finding(pdf, ref, finding)
    hidden = total - len(shown)
    if hidden:
        pdf.ensure_space(12)
        pdf.use(10, bold=True, colour=INK)
        pdf.paragraph(f"{hidden:,} more finding{'s' if hidden != 1 else ''} in the JSON report "
                      f"(this PDF lists the {len(shown)} most severe).", MARGIN, CONTENT_W, 5)


def _evidence_entry(pdf: ReportPDF, ref: str, finding: ReportFinding) -> None:
    pdf.use(7, mono=True)
    char_w = pdf.width_of("0")
    per_line = max(20, int((CONTENT_W - 6) / char_w))
    raw = evidence_lines(finding.evidence)
    lines: list[str] = []
    for line in raw:
        lines.extend(line[i : i + per_line] for i in range(0, max(len(line), 1), per_line))
    hidden = 0
    if len(lines) > EVIDENCE_LINES_PER_FINDING:
        hidden = len(lines) - (EVIDENCE_LINES_PER_FINDING - 1)
        lines = lines[: EVIDENCE_LINES_PER_FINDING - 1]
    pdf.ensure_space(12 + min(len(lines), 4) * 3.4)
    pdf.use(9, bold=True, colour=INK)
    pdf.line_at(MARGIN, pdf.y, ref, 5)
    pdf.paragraph(finding.title, MARGIN + 11, CONTENT_W - 11, 5, max_lines=2)
    pdf.use(7, colour=MUTED)
    pdf.paragraph(f"{finding.code}  ·  id {finding.id}", MARGIN + 11, CONTENT_W - 11, 3.6)
    pdf.continued = f"{ref} evidence continued  ·  {finding.title}"
    pdf.y += 1
    pdf.use(7, mono=True, colour=INK)
    for line in lines:
        if pdf.y + 3.4 > pdf.page_break_trigger:
            pdf.add_page()
        pdf.set_fill_color(*PANEL)
        pdf.rect(MARGIN, pdf.y, CONTENT_W, 3.4, style="F")
        pdf.line_at(MARGIN + 3, pdf.y, line, 3.4)
        pdf.y += 3.4
    if hidden:
        pdf.use(7, colour=MUTED)
        pdf.paragraph(f"… evidence shortened: {hidden} more lines. The JSON report holds it in full.",
                      MARGIN + 3, CONTENT_W - 3, 3.6)
    pdf.continued = None
    pdf.y += 4


def draw_appendix(pdf: ReportPDF) -> None:
    data = pdf.data
    with_evidence = [(ref, f) for ref, f in _numbered(listed(data.findings)) if f.evidence]
    if not with_evidence:
        return
    pdf.add_page()
    pdf.heading(
        "Appendix: evidence",
        "What each finding rests on, as observed at scan time: DNS answers, certificates, banners and "
        f"headers. Values longer than {EVIDENCE_VALUE_CHARS} characters are shortened here; the JSON "
        "report carries the evidence in full.",
    )
    for ref, finding in with_evidence:
        _evidence_entry(pdf, ref, finding)
