"""The self-assessment pages: the scores and how they combine, the answers the scan contradicts, and every
answer per control. Drawn only when the insured submitted (`ReportData.self_assessment`)."""

from __future__ import annotations

from chalicelib.reports.pdf.layout import ReportPDF, fmt_time, table_row
from chalicelib.reports.pdf.style import BAD_RED, CONTENT_W, EN_DASH, INK, MARGIN, MUTED, OK_GREEN, tint
from chalicelib.reports.sa_model import SelfAssessmentSection


def _dash(value: object) -> str:
    return EN_DASH if value is None else str(value)


def _scores(pdf: ReportPDF, sa: SelfAssessmentSection) -> None:
    """The three scores side by side, and how they combine."""
    pdf.ensure_space(24)
    top, width = pdf.y, CONTENT_W / 3
    cells = [("EXTERNAL SCAN", _dash(sa.external_score), f"grade {_dash(sa.external_grade)}"),
             ("SELF-ASSESSMENT", str(sa.sa_score), "out of 100"),
             ("COMBINED", _dash(sa.combined_score), f"grade {_dash(sa.combined_grade)}")]
    for i, (label, value, note) in enumerate(cells):
        x = MARGIN + i * width
        pdf.use(7, bold=True, colour=MUTED)
        pdf.line_at(x, top, label, 4)
        pdf.use(20, bold=True, colour=INK)
        pdf.line_at(x, top + 4.5, value, 10)
        pdf.use(8, colour=MUTED)
        pdf.line_at(x, top + 15, note, 4)
    pdf.y = top + 21
    pdf.use(8.5, colour=INK)
    if sa.combined_score is not None and sa.external_weight is not None:
        text = (f"The combined score weighs the external score {sa.external_weight} to the self-assessment's "
                f"{sa.self_assessment_weight}: what the scan observed counts for more than what was declared. "
                "Grade caps from critical exposures hold the combined grade down as they hold the external one; "
                "the grade and readiness on the cover follow the combined score.")
    else:
        text = "There is no combined score: the scan itself has no score to combine with."
    pdf.paragraph(text, MARGIN, CONTENT_W, 4.4)
    pdf.y += 3


def _contradictions(pdf: ReportPDF, sa: SelfAssessmentSection) -> None:
    pdf.subheading("Contradicted by the scan")
    if not sa.contradictions:
        pdf.use(9, colour=OK_GREEN)
        pdf.paragraph("No answer is contradicted by what the scan observed.", MARGIN, CONTENT_W, 4.6)
        pdf.y += 3
        return
    pdf.use(8.5, colour=MUTED)
    pdf.paragraph("Each answer below claims a control that a finding of this scan shows is missing or incomplete. "
                  "The finding rests on the evidence in the appendix.", MARGIN, CONTENT_W, 4.3)
    pdf.y += 1.5
    for row in sa.contradictions:
        pdf.use(8.5, colour=INK)
        lines = (len(pdf.wrap(f"Answer: {row.answer_label}", CONTENT_W - 8))
                 + len(pdf.wrap(row.message, CONTENT_W - 8)) + 2)
        height = lines * 4.2 + 3
        pdf.ensure_space(height)
        top = pdf.y
        pdf.set_fill_color(*tint(BAD_RED, 0.92))
        pdf.rect(MARGIN, top, CONTENT_W, height, style="F", round_corners=True, corner_radius=1.2)
        pdf.set_fill_color(*BAD_RED)
        pdf.rect(MARGIN, top, 1.4, height, style="F")
        pdf.y = top + 1.5
        pdf.use(8.5, bold=True, colour=INK)
        pdf.paragraph(f"{row.control}: contradicted by {row.finding_title} ({row.finding_code})",
                      MARGIN + 4, CONTENT_W - 8, 4.2, max_lines=1)
        pdf.use(8.5, colour=INK)
        pdf.paragraph(f"Answer: {row.answer_label}", MARGIN + 4, CONTENT_W - 8, 4.2)
        pdf.use(8.5, colour=MUTED)
        pdf.paragraph(row.message, MARGIN + 4, CONTENT_W - 8, 4.2)
        pdf.y = top + height + 2


def _answers(pdf: ReportPDF, sa: SelfAssessmentSection) -> None:
    pdf.subheading("Answers per control")
    widths = (42.0, 112.0, 24.0)
    table_row(pdf, [("Control", widths[0], True), ("Answer", widths[1], True), ("Points", widths[2], True)],
              shade=False)
    for i, row in enumerate(sa.answers):
        mark = "  (contradicted by the scan)" if row.contradicted else ""
        table_row(pdf, [(row.control, widths[0], False), (f"{row.question} {EN_DASH} {row.answer_label}{mark}",
                                                          widths[1], False),
                        (f"{row.points} / {row.max_points}", widths[2], False)], shade=i % 2 == 0)


def draw_self_assessment(pdf: ReportPDF) -> None:
    """The self-assessment section; nothing when the insured has not submitted."""
    sa = pdf.data.self_assessment
    if sa is None:
        return
    pdf.add_page()
    pdf.heading("Self-assessment",
                f"The insured answered questionnaire {sa.questionnaire_version} (the Essential Eight and the "
                f"controls insurers ask about) on {fmt_time(sa.submitted_at)}. The answers are the insured's own "
                "statements; where the scan observed otherwise, it says so below.")
    _scores(pdf, sa)
    _contradictions(pdf, sa)
    _answers(pdf, sa)
