"""Layout primitives: `ReportPDF` (fpdf2 with fast text layout, headings, pills, page header and
footer) and the text and table helpers the cover and sections draw with.

Speed: text is wrapped here rather than by fpdf2's `multi_cell`, which is an order of magnitude
slower on reports with many findings; every line is then placed with `FPDF.text`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import ClassVar

from fpdf import FPDF

from chalicelib.reports.model import ReportData
from chalicelib.reports.pdf.fonts import FontFiles, Substitutes, face_coverage, report_chars
from chalicelib.reports.pdf.style import (
    BOTTOM,
    CONTENT_W,
    DEFAULT_ACCENT,
    DEFAULT_PRIMARY,
    INK,
    MARGIN,
    MUTED,
    PAGE_H,
    PAGE_W,
    PANEL,
    RGB,
    RULE,
    TOP,
    hex_to_rgb,
    legible_on_white,
    readable_on,
)

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


def clean_text(text: str) -> str:
    """Normalise line ends and tabs, drop control characters."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    "))


def fmt_time(value: datetime | None) -> str:
    """`value` as "20 Apr 2026, 12:30 UTC", or "n/a"."""
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC") if value is not None else "n/a"


def not_scored_text(data: ReportData) -> str:
    """Why the report has no score, as the cover, breakdown and methodology word it."""
    return data.not_scored_reason or "not scored"


class ReportPDF(FPDF):
    """FPDF with the report's header, footer, colours and fast text layout."""

    SANS: ClassVar[str] = "dejavu"
    MONO: ClassVar[str] = "dejavu-mono"

    def __init__(self, data: ReportData, fonts: FontFiles) -> None:
        super().__init__(orientation="P", unit="mm", format="A4")
        self.data = data
        branding = data.branding
        self.partner = branding.partner_name if branding else "Perimeter"
        self.primary = hex_to_rgb(branding.primary_color if branding else DEFAULT_PRIMARY)
        self.accent = hex_to_rgb(branding.accent_color if branding else DEFAULT_ACCENT)
        self.on_primary = readable_on(self.primary)
        self.primary_text = legible_on_white(self.primary)
        self.accent_text = legible_on_white(self.accent)
        self.add_font(self.SANS, "", str(fonts.regular))
        self.add_font(self.SANS, "B", str(fonts.bold))
        self.add_font(self.MONO, "", str(fonts.mono))
        # Per face, a table replacing what the face lacks; None when the face has every character of the report
        # (always so with the compact faces, which fonts_for picks only then): no per-line work at all.
        needed = report_chars(data)
        self._substitutes = {
            key: None if needed <= covered else Substitutes(covered)
            for key, covered in (((self.SANS, ""), face_coverage(fonts.regular)),
                                 ((self.SANS, "B"), face_coverage(fonts.bold)),
                                 ((self.MONO, ""), face_coverage(fonts.mono)))
        }
        # An internationalised domain whose script DejaVu lacks (CJK, ...) is shown in its IDNA form.
        self.domain_shown = data.target_unicode if self.covers(data.target_unicode) else data.target
        self.continued: str | None = None  # "F12 Title (continued)" while a block runs across pages
        self.set_margins(MARGIN, TOP, MARGIN)
        self.set_auto_page_break(True, BOTTOM)
        self.set_creation_date(data.generated_at)
        self.set_title(f"Cyber posture report: {data.target_unicode}")
        self.set_author(self.partner)
        self.set_subject(f"External cyber posture of {data.target} (scan {data.scan_token})")
        self.set_creator("Perimeter")
        self.set_producer("Perimeter report renderer")
        self.set_lang("en")
        self.cover_page = True

    # ----- typography helpers -------------------------------------------------------------------

    def use(self, size: float, bold: bool = False, colour: RGB = INK, mono: bool = False) -> None:
        """Select face, size (pt) and text colour."""
        self.set_font(self.MONO if mono else self.SANS, "B" if bold and not mono else "", size)
        self.set_text_color(*colour)

    def drawable(self, text: str) -> str:
        """`text` with the characters the current face lacks replaced by U+FFFD (ASCII: always drawable)."""
        if text.isascii():
            return text
        table = self._substitutes.get((self.font_family, self.font_style))
        return text if table is None else text.translate(table)

    def clean(self, text: str) -> str:
        """`clean_text`, then `drawable`."""
        return self.drawable(clean_text(text))

    def covers(self, text: str) -> bool:
        """True when both sans faces have a glyph for every character of `text`."""
        table_regular, table_bold = self._substitutes[(self.SANS, "")], self._substitutes[(self.SANS, "B")]
        codes = {ord(c) for c in text}
        return all(table is None or codes <= table.covered for table in (table_regular, table_bold))

    def width_of(self, text: str) -> float:
        """Width of `text` in the current font (mm)."""
        font = self.current_font
        assert font is not None
        return float(font.get_text_width(text, self.font_size_pt, None)[1]) / self.k

    def _split_word(self, word: str, width: float) -> list[str]:
        pieces: list[str] = []
        current, current_w = "", 0.0
        for char in word:
            char_w = self.width_of(char)
            if current and current_w + char_w > width:
                pieces.append(current)
                current, current_w = "", 0.0
            current += char
            current_w += char_w
        pieces.append(current)
        return pieces

    def wrap(self, text: str, width: float, first_width: float | None = None) -> list[str]:
        """Greedy word wrap in the current font; words wider than a line are split.

        `first_width` narrows the first line (room for an inline label).
        """
        lines: list[str] = []
        space = self.width_of(" ")
        full_width = width
        for paragraph in self.clean(text).split("\n"):
            current, current_w = "", 0.0
            for word in paragraph.split():
                width = first_width if first_width is not None and not lines else full_width
                word_w = self.width_of(word)
                if word_w > width:
                    if current:
                        lines.append(current)
                    *full, current = self._split_word(word, width)
                    lines.extend(full)
                    current_w = self.width_of(current)
                elif not current:
                    current, current_w = word, word_w
                elif current_w + space + word_w <= width:
                    current += " " + word
                    current_w += space + word_w
                else:
                    lines.append(current)
                    current, current_w = word, word_w
            lines.append(current)
        return lines

    def fit(self, text: str, width: float) -> str:
        """`text` on one line, shortened with an ellipsis if it does not fit."""
        text = " ".join(self.clean(text).split())
        if self.width_of(text) <= width:
            return text
        budget = width - self.width_of("…")
        out, used = "", 0.0
        for char in text:
            used += self.width_of(char)
            if used > budget:
                break
            out += char
        return out.rstrip() + "…"

    def line_at(self, x: float, y: float, text: str, line_h: float, align: str = "L", width: float = 0) -> None:
        """Place one line whose box top is `y`, vertically centred in `line_h`."""
        text = self.drawable(text)
        baseline = y + (line_h + self.font_size * 0.7) / 2
        if align == "R":
            x = x + width - self.width_of(text)
        elif align == "C":
            x = x + (width - self.width_of(text)) / 2
        self.text(x, baseline, text)

    def ensure_space(self, height: float) -> None:
        """Start a new page unless `height` mm fit above the bottom margin."""
        if self.y + height > self.page_break_trigger:
            self.add_page()

    def paragraph(
        self, text: str, x: float, width: float, line_h: float, max_lines: int = 0, indent: float = 0.0,
    ) -> int:
        """Write wrapped text from the current y, breaking pages as needed; returns lines written.

        `indent` leaves room on the first line for a label the caller has already drawn.
        """
        lines = self.wrap(text, width, width - indent if indent else None)
        if max_lines and len(lines) > max_lines:
            lines = [*lines[: max_lines - 1], self.fit(lines[max_lines - 1] + " …", width)]
        for i, line in enumerate(lines):
            if self.y + line_h > self.page_break_trigger:
                self.add_page()  # fpdf2 restores font and colours after the header
            if line:
                self.line_at(x + (indent if i == 0 else 0), self.y, line, line_h)
            self.y += line_h
        return len(lines)

    def heading(self, title: str, intro: str | None = None) -> None:
        """A section title with an accent rule, and an optional intro paragraph."""
        self.ensure_space(24)
        self.use(15, bold=True, colour=self.primary_text)
        self.line_at(MARGIN, self.y, title, 8)
        self.y += 9
        self.set_fill_color(*self.accent)
        self.rect(MARGIN, self.y, 18, 0.9, style="F")
        self.y += 4
        if intro:
            self.use(9, colour=MUTED)
            self.paragraph(intro, MARGIN, CONTENT_W, 4.6)
            self.y += 3

    def subheading(self, title: str) -> None:
        """A smaller title inside a section."""
        self.ensure_space(16)
        self.use(11, bold=True, colour=INK)
        self.line_at(MARGIN, self.y, title, 6)
        self.y += 7.5

    def pill(self, x: float, y: float, text: str, fill: RGB, size: float = 7, h: float = 4.6) -> float:
        """A filled rounded label; returns its width."""
        self.use(size, bold=True, colour=readable_on(fill))
        w = self.width_of(text) + 4
        self.set_fill_color(*fill)
        self.rect(x, y, w, h, style="F", round_corners=True, corner_radius=1.2)
        self.line_at(x + 2, y, text, h)
        return w

    @contextmanager
    def line_style(self, colour: RGB, width: float) -> Iterator[None]:
        """Temporarily set draw colour and line width."""
        self.set_draw_color(*colour)
        self.set_line_width(width)
        yield
        self.set_line_width(0.2)

    # ----- page furniture ------------------------------------------------------------------------

    def header(self) -> None:
        """Running header on every page but the cover."""
        if self.cover_page:
            return
        self.use(8, bold=True, colour=self.primary_text)
        self.line_at(MARGIN, 7, self.fit(self.partner, 70), 5)
        self.use(8, colour=MUTED)
        right = self.fit(f"Cyber posture report · {self.domain_shown}", CONTENT_W - 75)
        self.line_at(MARGIN, 7, right, 5, align="R", width=CONTENT_W)
        with self.line_style(self.primary, 0.4):
            self.line(MARGIN, 12.5, PAGE_W - MARGIN, 12.5)
        self.set_y(TOP)
        if self.continued:
            self.use(7.5, colour=MUTED)
            self.line_at(MARGIN, TOP, self.fit(self.continued, CONTENT_W), 4)
            self.set_y(TOP + 6)

    def footer(self) -> None:
        """Scan token, scoring version and page numbers on every page."""
        y = PAGE_H - 12
        with self.line_style(RULE, 0.2):
            self.line(MARGIN, y - 1.5, PAGE_W - MARGIN, y - 1.5)
        self.use(7.5, colour=MUTED)
        self.line_at(MARGIN, y, f"Scan token {self.data.scan_token}", 5)
        self.line_at(MARGIN, y, f"Scoring version {self.data.scoring_version}", 5, align="C", width=CONTENT_W)
        self.set_xy(PAGE_W - MARGIN - 40, y)
        self.cell(40, 5, f"Page {self.page_no()} of {{nb}}", align="R")


def table_row(pdf: ReportPDF, cells: Sequence[tuple[str, float, bool]], shade: bool, line_h: float = 4.2) -> None:
    """One table row: (text, width, bold) cells wrapped to the tallest."""
    wrapped: list[list[str]] = []
    for text, width, bold in cells:
        pdf.use(8.5, bold=bold, colour=INK)
        wrapped.append(pdf.wrap(text, width - 4))
    height = max(len(w) for w in wrapped) * line_h + 2.4
    pdf.ensure_space(height)
    if shade:
        pdf.set_fill_color(*PANEL)
        pdf.rect(MARGIN, pdf.y, sum(w for _, w, _ in cells), height, style="F")
    x = MARGIN
    for (_, width, bold), lines in zip(cells, wrapped, strict=True):
        pdf.use(8.5, bold=bold, colour=INK)
        for i, line in enumerate(lines):
            pdf.line_at(x + 2, pdf.y + 1.2 + i * line_h, line, line_h)
        x += width
    pdf.y += height
