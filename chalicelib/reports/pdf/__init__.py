"""The PDF report: `render_pdf(ReportData) -> bytes` with fpdf2 and the shipped DejaVu TTF fonts.

Pages: a co-branded cover (logo, colours, contact card, score gauge, grade, readiness), the score
breakdown with coverage, the insured's self-assessment (when submitted), findings grouped by severity,
methodology, and an evidence appendix.
Modules: `fonts` (finding and compacting the faces), `style` (geometry, palette), `layout`
(`ReportPDF`, text and table helpers, page header and footer), `cover`, `sections` (breakdown,
coverage, methodology) and `findings` (findings and the evidence appendix).

Output is deterministic: the same ReportData gives the same bytes. fpdf2 and fontTools are imported
only under this package.
"""

from __future__ import annotations

from chalicelib.reports.model import ReportData
from chalicelib.reports.pdf.cover import draw_cover
from chalicelib.reports.pdf.findings import draw_appendix, draw_findings
from chalicelib.reports.pdf.fonts import (
    FONT_DIRS,
    FONT_FILES,
    FontFiles,
    ReportFontsMissing,
    compact_fonts,
    find_fonts,
    fonts_for,
)
from chalicelib.reports.pdf.layout import ReportPDF
from chalicelib.reports.pdf.sections import draw_breakdown, draw_methodology
from chalicelib.reports.pdf.selfassessment import draw_self_assessment

__all__ = [
    "FONT_DIRS",
    "FONT_FILES",
    "FontFiles",
    "ReportFontsMissing",
    "compact_fonts",
    "find_fonts",
    "fonts_for",
    "render_pdf",
]


def render_pdf(data: ReportData, fonts: FontFiles | None = None) -> bytes:
    """Render the co-branded PDF report; ReportFontsMissing when DejaVu fonts are not installed."""
    pdf = ReportPDF(data, fonts or fonts_for(data))
    draw_cover(pdf)
    draw_breakdown(pdf)
    draw_self_assessment(pdf)
    draw_findings(pdf)
    draw_methodology(pdf)
    draw_appendix(pdf)
    return bytes(pdf.output())
