"""The PDF report: `render_pdf(ReportData) -> bytes` with fpdf2 and DejaVu TTF fonts.

Pages: a co-branded cover (logo, colours, contact card, score gauge, grade, readiness), the score
breakdown with coverage, findings grouped by severity, methodology, and an evidence appendix.

Speed: text is wrapped here rather than by fpdf2's `multi_cell`, which is an order of magnitude
slower on reports with many findings; every line is then placed with `FPDF.text`. Reports whose
characters all fall in COMPACT_RANGES embed cut-down copies of the DejaVu faces, built once into a
private per-user cache directory under the system temp dir (see `compact_fonts`); other reports use
the full faces. Output is deterministic: the same ReportData gives the same bytes.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import io
import json
import math
import os
import re
import stat
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, ClassVar

from fontTools import subset as ftsubset  # type: ignore[import-untyped]
from fontTools import ttLib
from fpdf import FPDF

from chalicelib.domain.models import Severity, SignalStatus
from chalicelib.errors import PerimeterError
from chalicelib.reports.model import (
    DEFAULT_SIGNAL_MAX,
    GRADE_BANDS,
    SEVERITY_ORDER,
    SIGNAL_DESCRIPTIONS,
    SIGNAL_LABELS,
    SIGNAL_ORDER,
    Branding,
    CoverageItem,
    ReportData,
    ReportFinding,
    SignalRow,
    grade_for,
)

RGB = tuple[int, int, int]
EN_DASH = "\u2013"

FONT_FILES: dict[str, str] = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
}
# Searched in order; each file independently (Fedora splits sans and mono into two directories).
FONT_DIRS: tuple[Path, ...] = (
    Path(__file__).resolve().parent / "fonts",
    Path("/usr/share/fonts/truetype/dejavu"),
    Path("/usr/share/fonts/dejavu"),
    Path("/usr/share/fonts/dejavu-sans-fonts"),
    Path("/usr/share/fonts/dejavu-sans-mono-fonts"),
    Path("/usr/share/fonts/TTF"),
    Path("/usr/share/fonts/truetype"),
    Path("/usr/local/share/fonts"),
    Path("/usr/local/share/fonts/dejavu"),
    Path("/opt/homebrew/share/fonts"),
    Path("/Library/Fonts"),
)

# Code points of the compact faces: Latin, Greek, Cyrillic, punctuation and the few symbols drawn here.
COMPACT_RANGES: tuple[tuple[int, int], ...] = (
    (0x20, 0x7E), (0xA0, 0x24F), (0x300, 0x36F), (0x370, 0x3FF), (0x400, 0x4FF), (0x1E00, 0x1EFF),
    (0x2010, 0x2027), (0x2030, 0x203A), (0x20AC, 0x20AC), (0x2122, 0x2122), (0x2190, 0x2193),
    (0x2212, 0x2212), (0x2264, 0x2265), (0x2713, 0x2713), (0x2717, 0x2717), (0xFFFD, 0xFFFD),
)
COMPACT_RECIPE = 1
MISSING_GLYPH = "\ufffd"  # shown for characters the faces lack (CJK, emoji): visible, never silently blank
RENDERER_CHARS = "\u00b7\u2013\u2026\u2265\u2713\u2717"  # middle dot, en dash, ellipsis, >=, check marks

# Evidence is shown in full in the JSON report; the PDF shortens it.
EVIDENCE_VALUE_CHARS = 400
EVIDENCE_LINES_PER_FINDING = 20
COVERAGE_DETAIL_LINES = 16

# Geometry (millimetres, A4 portrait).
PAGE_W, PAGE_H = 210.0, 297.0
MARGIN = 16.0
CONTENT_W = PAGE_W - 2 * MARGIN
TOP = 20.0
BOTTOM = 18.0

DEFAULT_PRIMARY = "#1F3A5F"
DEFAULT_ACCENT = "#E07A1F"
INK: RGB = (29, 35, 48)
MUTED: RGB = (95, 107, 122)
RULE: RGB = (213, 219, 227)
TRACK: RGB = (228, 232, 238)
PANEL: RGB = (244, 246, 249)
WHITE: RGB = (255, 255, 255)
OK_GREEN: RGB = (46, 125, 50)
BAD_RED: RGB = (198, 40, 40)

SEVERITY_COLOURS: dict[Severity, RGB] = {
    Severity.CRITICAL: (136, 14, 79),
    Severity.HIGH: (198, 40, 40),
    Severity.MEDIUM: (230, 120, 0),
    Severity.LOW: (30, 120, 200),
    Severity.INFO: (110, 120, 135),
}
GRADE_COLOURS: dict[str, RGB] = {
    "A": (46, 125, 50),
    "B": (124, 179, 66),
    "C": (240, 170, 0),
    "D": (239, 108, 0),
    "F": (198, 40, 40),
}
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class ReportFontsMissing(PerimeterError):
    """The DejaVu TTF fonts the PDF needs are not installed."""

    status, code, title = 500, "report-fonts-missing", "Report fonts are not installed"


@dataclass(frozen=True)
class FontFiles:
    """Paths of the three DejaVu faces the report uses."""

    regular: Path
    bold: Path
    mono: Path


@lru_cache(maxsize=8)
def find_fonts(dirs: tuple[Path, ...] = FONT_DIRS) -> FontFiles:
    """Locate DejaVuSans, DejaVuSans-Bold and DejaVuSansMono; ReportFontsMissing if any is absent."""
    found: dict[str, Path] = {}
    for role, name in FONT_FILES.items():
        for directory in dirs:
            candidate = directory / name
            if candidate.is_file():
                found[role] = candidate
                break
    missing = [FONT_FILES[role] for role in FONT_FILES if role not in found]
    if missing:
        raise ReportFontsMissing(
            f"DejaVu fonts not found: {', '.join(missing)}. Looked in: {', '.join(str(d) for d in dirs)}. "
            "Install fonts-dejavu-core (Debian/Ubuntu) or dejavu-sans-fonts and dejavu-sans-mono-fonts "
            "(Fedora/Amazon Linux), or copy the .ttf files into chalicelib/reports/fonts/."
        )
    return FontFiles(regular=found["regular"], bold=found["bold"], mono=found["mono"])


@dataclass(frozen=True)
class CompactFonts:
    """DejaVu cut down to `COMPACT_RANGES`, and the code points all three faces still cover."""

    files: FontFiles
    coverage: frozenset[int]


def _compact_dir(fonts: FontFiles) -> Path | None:
    """A private per-user cache directory for the compact fonts, or None if none can be trusted."""
    getuid = getattr(os, "getuid", None)
    uid = getuid() if getuid else 0
    stamp = hashlib.sha256(repr((
        COMPACT_RECIPE, importlib.metadata.version("fonttools"), COMPACT_RANGES,
        [(str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in (fonts.regular, fonts.bold, fonts.mono)],
    )).encode()).hexdigest()[:16]
    root = Path(tempfile.gettempdir()) / f"perimeter-report-fonts-{uid}"
    try:
        root.mkdir(mode=0o700, exist_ok=True)
        info = root.lstat()
        if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode) or (getuid and info.st_uid != uid):
            return None
        if info.st_mode & 0o077:
            return None
        target = root / stamp
        target.mkdir(mode=0o700, exist_ok=True)
    except OSError:
        return None
    return target


def _compact_face(source: Path, target: Path) -> frozenset[int]:
    """Write `source` cut to COMPACT_RANGES (no hinting, no layout tables) to `target`; its cmap."""
    if not target.is_file():
        options = ftsubset.Options()
        options.layout_features = []
        options.hinting = False
        options.glyph_names = False
        options.notdef_outline = True
        options.name_IDs = ["*"]
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern", "FFTM", "MATH", "hdmx", "VDMX", "LTSH"]
        font = ttLib.TTFont(str(source), recalcTimestamp=False)
        subsetter = ftsubset.Subsetter(options)
        subsetter.populate(unicodes=[c for low, high in COMPACT_RANGES for c in range(low, high + 1)])
        subsetter.subset(font)
        with tempfile.NamedTemporaryFile(dir=target.parent, suffix=".ttf", delete=False) as handle:
            font.save(handle)
        os.replace(handle.name, target)
    with ttLib.TTFont(str(target), lazy=True) as font:
        return frozenset(font.getBestCmap())


@lru_cache(maxsize=4)
def compact_fonts(fonts: FontFiles) -> CompactFonts | None:
    """Compact copies of `fonts`, built once per machine and reused; None when they cannot be made.

    fpdf2 parses and subsets every embedded face on every document; with DejaVu's 6,000 glyphs that
    is most of a report's rendering time. Reports whose text stays inside COMPACT_RANGES (Latin,
    Greek, Cyrillic and common punctuation) use these ~1,000-glyph faces instead.
    """
    directory = _compact_dir(fonts)
    if directory is None:
        return None
    paths = {role: directory / getattr(fonts, role).name for role in FONT_FILES}
    try:
        covered = [_compact_face(getattr(fonts, role), paths[role]) for role in FONT_FILES]
    except (OSError, ttLib.TTLibError):
        for path in paths.values():  # do not keep a damaged cache around
            path.unlink(missing_ok=True)
        return None
    return CompactFonts(
        files=FontFiles(regular=paths["regular"], bold=paths["bold"], mono=paths["mono"]),
        coverage=frozenset.intersection(*covered),
    )


@lru_cache(maxsize=8)
def face_coverage(path: Path) -> frozenset[int]:
    """The code points a TTF face has glyphs for."""
    with ttLib.TTFont(str(path), lazy=True) as font:
        return frozenset(font.getBestCmap())


class _Substitutes(dict[int, str]):
    """A str.translate table: code points a face lacks become U+FFFD (drawn as a visible box), memoised."""

    def __init__(self, covered: frozenset[int]) -> None:
        super().__init__()
        self.covered = covered

    def __missing__(self, code: int) -> str:
        value = chr(code) if code in self.covered or code in (0x0A, 0x0D, 0x09) else MISSING_GLYPH
        self[code] = value
        return value


def fonts_for(data: ReportData) -> FontFiles:
    """The compact fonts when they cover every character of the report, else the full DejaVu faces."""
    full = find_fonts()
    compact = compact_fonts(full)
    if compact is None:
        return full
    return compact.files if report_chars(data) <= compact.coverage else full


def report_chars(data: ReportData) -> frozenset[int]:
    """Every code point the report may draw: its data (the logo left out) and the renderer's own symbols."""
    text = data.model_dump_json(exclude={"branding": {"logo"}})
    return frozenset({ord(c) for c in set(text)} | {ord(c) for c in RENDERER_CHARS}) - {0x0A, 0x0D, 0x09}


def hex_to_rgb(value: str) -> RGB:
    """(r, g, b) of a #RRGGBB colour."""
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def _luminance(rgb: RGB) -> float:
    def channel(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.03928 else float(((s + 0.055) / 1.055) ** 2.4)

    r, g, b = (channel(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def readable_on(background: RGB) -> RGB:
    """White or ink, whichever contrasts better with `background`."""
    return INK if _luminance(background) > 0.35 else WHITE


def legible_on_white(rgb: RGB, ratio: float = 4.5) -> RGB:
    """`rgb`, darkened as little as needed to reach `ratio` contrast against white (for text)."""
    for step in range(6):  # darken by up to 50%; a colour that needs more reads as mud: use ink
        r, g, b = (round(c * (1 - step / 10)) for c in rgb)
        if 1.05 / (_luminance((r, g, b)) + 0.05) >= ratio:
            return r, g, b
    return INK


def _tint(rgb: RGB, amount: float) -> RGB:
    """Mix `rgb` with white; amount 0 keeps the colour, 1 gives white."""
    r, g, b = (round(c + (255 - c) * amount) for c in rgb)
    return r, g, b


def clean_text(text: str) -> str:
    """Normalise line ends and tabs, drop control characters."""
    return _CONTROL.sub("", text.replace("\r\n", "\n").replace("\r", "\n").replace("\t", "    "))


def _fmt_time(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%d %b %Y, %H:%M UTC") if value is not None else "n/a"


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


class _ReportPDF(FPDF):
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
            key: None if needed <= covered else _Substitutes(covered)
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


# ----- cover ------------------------------------------------------------------------------------


def _draw_logo(pdf: _ReportPDF, branding: Branding, x: float, y: float, w: float, h: float) -> None:
    info = branding.logo_info
    if branding.logo is None or info is None:
        return
    scale = min(w / info.width, h / info.height)
    draw_w, draw_h = info.width * scale, info.height * scale
    pdf.image(io.BytesIO(branding.logo), x=x + (w - draw_w) / 2, y=y + (h - draw_h) / 2, w=draw_w, h=draw_h)


def _cover_band(pdf: _ReportPDF) -> None:
    data = pdf.data
    pdf.set_fill_color(*pdf.primary)
    pdf.rect(0, 0, PAGE_W, 46, style="F")
    pdf.set_fill_color(*pdf.accent)
    pdf.rect(0, 46, PAGE_W, 1.8, style="F")
    text_x = MARGIN
    branding = data.branding
    if branding is not None and branding.logo is not None:
        pdf.set_fill_color(*WHITE)
        pdf.rect(MARGIN, 9, 56, 28, style="F", round_corners=True, corner_radius=2)
        _draw_logo(pdf, branding, MARGIN + 3, 12, 50, 22)
        text_x = MARGIN + 62
    width = PAGE_W - MARGIN - text_x
    pdf.use(8, bold=True, colour=pdf.on_primary)
    pdf.line_at(text_x, 10, "EXTERNAL CYBER POSTURE REPORT", 5, align="R", width=width)
    pdf.use(17, bold=True, colour=pdf.on_primary)
    name_lines = [pdf.partner]
    if pdf.width_of(pdf.partner) > width:  # long names: two smaller lines, then an ellipsis
        pdf.use(12.5, bold=True, colour=pdf.on_primary)
        name_lines = pdf.wrap(pdf.partner, width)
        name_lines = [*name_lines[:1], pdf.fit(" ".join(name_lines[1:]), width)] if len(name_lines) > 1 else name_lines
    line_h = 9 if len(name_lines) == 1 else 6
    for i, line in enumerate(name_lines):
        pdf.line_at(text_x, 17 + i * line_h, pdf.fit(line, width), line_h, align="R", width=width)
    pdf.use(8.5, colour=pdf.on_primary)
    pdf.line_at(text_x, 30, f"Report generated {_fmt_time(data.generated_at)}", 5, align="R", width=width)


def _cover_target(pdf: _ReportPDF) -> None:
    data = pdf.data
    pdf.set_y(56)
    pdf.use(8, bold=True, colour=MUTED)
    pdf.line_at(MARGIN, pdf.y, "ASSESSED DOMAIN", 4)
    pdf.y += 5
    shown = pdf.domain_shown
    pdf.use(22 if len(shown) <= 40 else 15, bold=True, colour=INK)
    pdf.paragraph(shown, MARGIN, CONTENT_W, pdf.font_size * 1.25, max_lines=3)
    if data.has_unicode_target and shown != data.target:
        pdf.use(9, colour=MUTED)
        pdf.paragraph(f"IDNA form: {data.target}", MARGIN, CONTENT_W, 4.5, max_lines=3)
    elif data.has_unicode_target:
        pdf.use(9, colour=MUTED)
        pdf.paragraph("An internationalised domain name, shown in its IDNA (ASCII) form: the report's fonts "
                      "cannot draw its script.", MARGIN, CONTENT_W, 4.5, max_lines=2)
    if data.scan_name:
        pdf.use(9, colour=MUTED)
        pdf.paragraph(f"Scan: {data.scan_name}", MARGIN, CONTENT_W, 4.5, max_lines=1)
    pdf.y += 3
    # (label, value, column, span) on two rows of three columns.
    rows = [
        [("Scan token", data.scan_token, 0, 2), ("Scoring version", data.scoring_version, 2, 1)],
        [("Scan type", data.scan_type.value, 0, 1),
         ("Scan started", _fmt_time(data.started_at or data.created_at), 1, 1),
         ("Scan completed", _fmt_time(data.completed_at), 2, 1)],
    ]
    if data.tags:
        rows.append([("Tags", ", ".join(data.tags), 0, 3)])
    col_w = CONTENT_W / 3
    top = pdf.y
    for r, row in enumerate(rows):
        for label, value, column, span in row:
            x, y = MARGIN + column * col_w, top + r * 9.5
            pdf.use(7, bold=True, colour=MUTED)
            pdf.line_at(x, y, label.upper(), 4)
            pdf.use(8.5, colour=INK)
            pdf.line_at(x, y + 4, pdf.fit(value, span * col_w - 3), 4.5)
    pdf.set_y(top + len(rows) * 9.5 + 1)


def _arc_point(cx: float, cy: float, radius: float, value: float) -> tuple[float, float]:
    angle = math.pi * (1 - value / 100)
    return cx + radius * math.cos(angle), cy - radius * math.sin(angle)


def _annulus(cx: float, cy: float, r_in: float, r_out: float, v0: float, v1: float) -> list[tuple[float, float]]:
    steps = max(2, math.ceil((v1 - v0) / 2))
    values = [v0 + (v1 - v0) * i / steps for i in range(steps + 1)]
    outer = [_arc_point(cx, cy, r_out, v) for v in values]
    inner = [_arc_point(cx, cy, r_in, v) for v in reversed(values)]
    return outer + inner


def _band_label_at(low: float, high: float, threshold: float, clearance: float = 2.6) -> float:
    """Where on the gauge a band's letter goes: its middle, moved aside when the threshold tick is there.

    The default threshold (65) is the middle of band D; the letter then sits in the wider side of the band.
    """
    middle = (low + high) / 2
    if abs(middle - threshold) >= clearance or not low <= threshold <= high:
        return middle
    below, above = (low + threshold - clearance) / 2, (threshold + clearance + high) / 2
    return below if threshold - low >= high - threshold else above


def _gauge(pdf: _ReportPDF, cx: float, cy: float) -> None:
    """Semicircular 0-100 gauge: grade bands outside, the score filled in its grade colour."""
    data = pdf.data
    bounds = [(b.grade, b.min_score) for b in GRADE_BANDS]
    t = min(max(data.ready_threshold, 0), 100)
    for i, (grade, low) in enumerate(bounds):
        high = 100 if i == 0 else bounds[i - 1][1]
        pdf.set_fill_color(*GRADE_COLOURS.get(grade, MUTED))
        pdf.polygon(_annulus(cx, cy, 36.5, 41, low, high), style="F")
        lx, ly = _arc_point(cx, cy, 38.75, _band_label_at(low, high, t))
        pdf.use(6.5, bold=True, colour=WHITE)
        pdf.line_at(lx - 5, ly - 2, grade, 4, align="C", width=10)
    pdf.set_fill_color(*TRACK)
    pdf.polygon(_annulus(cx, cy, 24, 34.5, 0, 100), style="F")
    if data.score is not None and data.score > 0:
        pdf.set_fill_color(*GRADE_COLOURS.get(data.grade or "", GRADE_COLOURS[grade_for(data.score).grade]))
        pdf.polygon(_annulus(cx, cy, 24, 34.5, 0, data.score), style="F")
    # The readiness threshold: a dark tick across the track and a label outside the ring.
    x0, y0 = _arc_point(cx, cy, 22.5, t)
    x1, y1 = _arc_point(cx, cy, 36, t)
    with pdf.line_style(INK, 0.6):
        pdf.line(x0, y0, x1, y1)
    tip = _arc_point(cx, cy, 41.5, t)
    left, right = _arc_point(cx, cy, 44.5, t - 2.2), _arc_point(cx, cy, 44.5, t + 2.2)
    pdf.set_fill_color(*INK)
    pdf.polygon([tip, left, right], style="F")
    lx, ly = _arc_point(cx, cy, 47, t)
    pdf.use(7, colour=INK)
    label = f"ready ≥ {data.ready_threshold}"
    if t >= 50:
        pdf.text(lx + 0.5, ly, label)
    else:
        pdf.text(lx - pdf.width_of(label) - 0.5, ly, label)
    pdf.use(28, bold=True, colour=INK)
    pdf.line_at(cx - 20, cy - 13, EN_DASH if data.score is None else str(data.score), 12, align="C", width=40)
    pdf.use(8, colour=MUTED)
    pdf.line_at(cx - 20, cy - 1.5, "not scored" if data.score is None else "out of 100", 4, align="C", width=40)
    pdf.use(7, colour=MUTED)
    pdf.line_at(cx - 35, cy + 1, "0", 4, align="C", width=12)
    pdf.line_at(cx + 23, cy + 1, "100", 4, align="C", width=12)


def _grade_block(pdf: _ReportPDF, x: float, y: float, width: float) -> None:
    data = pdf.data
    if data.grade is None:
        _not_scored_block(pdf, x, y, width)
        return
    colour = GRADE_COLOURS.get(data.grade, MUTED)
    pdf.set_fill_color(*colour)
    pdf.circle(x + 13, y + 13, 13, style="F")
    pdf.use(26, bold=True, colour=readable_on(colour))
    pdf.line_at(x, y + 6.5, data.grade, 13, align="C", width=26)
    pdf.use(8, bold=True, colour=MUTED)
    pdf.line_at(x + 31, y + 4, "GRADE", 4)
    pdf.use(13, bold=True, colour=INK)
    pdf.set_y(y + 9)
    pdf.paragraph(data.grade_label or f"Grade {data.grade}", x + 31, width - 31, 6, max_lines=2)
    badge_y = y + 33
    fill = OK_GREEN if data.ready else BAD_RED
    pdf.set_fill_color(*fill)
    pdf.rect(x, badge_y, width, 15, style="F", round_corners=True, corner_radius=2)
    pdf.use(10.5, bold=True, colour=WHITE)
    pdf.line_at(x + 4, badge_y + 1.8, "✓ READY" if data.ready else "✗ NOT READY", 6)
    pdf.use(8, colour=WHITE)
    verdict = "meets" if data.ready else "is below"
    pdf.line_at(x + 4, badge_y + 7.8, f"Score {data.score} {verdict} the threshold of {data.ready_threshold}", 5)


def _not_scored_block(pdf: _ReportPDF, x: float, y: float, width: float) -> None:
    """The grade block of a scan without a score: no grade, no readiness, and the reason."""
    pdf.set_fill_color(*MUTED)
    pdf.circle(x + 13, y + 13, 13, style="F")
    pdf.use(26, bold=True, colour=WHITE)
    pdf.line_at(x, y + 6.5, EN_DASH, 13, align="C", width=26)
    pdf.use(8, bold=True, colour=MUTED)
    pdf.line_at(x + 31, y + 4, "GRADE", 4)
    pdf.use(13, bold=True, colour=INK)
    pdf.set_y(y + 9)
    pdf.paragraph("Not scored", x + 31, width - 31, 6, max_lines=2)
    badge_y = y + 33
    pdf.set_fill_color(*MUTED)
    pdf.rect(x, badge_y, width, 15, style="F", round_corners=True, corner_radius=2)
    pdf.use(10.5, bold=True, colour=WHITE)
    pdf.line_at(x + 4, badge_y + 1.8, "READINESS NOT ASSESSED", 6)
    pdf.use(7, colour=WHITE)
    pdf.line_at(x + 4, badge_y + 7.8, pdf.fit(_not_scored_text(pdf.data), width - 8), 5)


def _not_scored_text(data: ReportData) -> str:
    return data.not_scored_reason or "not scored"


def _severity_chips(pdf: _ReportPDF, y: float) -> None:
    data = pdf.data
    gap = 3.0
    chip_w = (CONTENT_W - gap * (len(SEVERITY_ORDER) - 1)) / len(SEVERITY_ORDER)
    for i, severity in enumerate(SEVERITY_ORDER):
        x = MARGIN + i * (chip_w + gap)
        count = data.severity_counts.get(severity, 0)
        colour = SEVERITY_COLOURS[severity]
        pdf.set_fill_color(*(_tint(colour, 0.86) if count else PANEL))
        pdf.rect(x, y, chip_w, 15, style="F", round_corners=True, corner_radius=1.5)
        pdf.set_fill_color(*(colour if count else RULE))
        pdf.rect(x, y, 1.6, 15, style="F")
        pdf.use(15, bold=True, colour=colour if count else MUTED)
        pdf.line_at(x + 5, y + 1.5, str(count), 7.5)
        pdf.use(7, bold=True, colour=MUTED)
        pdf.line_at(x + 5, y + 9, severity.value.upper(), 4)


def _top_issues(pdf: _ReportPDF, y: float, bottom: float) -> None:
    data = pdf.data
    pdf.use(8, bold=True, colour=MUTED)
    pdf.line_at(MARGIN, y, "MOST SIGNIFICANT FINDINGS", 4)
    y += 5.5
    ranked = [f for f in data.findings if f.severity is not Severity.INFO]
    if not ranked:
        pdf.use(9, colour=INK)
        pdf.line_at(MARGIN, y, "No findings above informational severity.", 5)
        return
    rows = max(1, min(len(ranked), int((bottom - y) // 5.6)))
    for finding in ranked[:rows]:
        pdf.pill(MARGIN, y + 0.3, finding.severity.value.upper(), SEVERITY_COLOURS[finding.severity])
        pdf.use(8.5, colour=INK)
        label = f"{finding.title}  ·  {SIGNAL_LABELS[finding.signal]}"
        pdf.line_at(MARGIN + 22, y, pdf.fit(label, CONTENT_W - 22), 5)
        y += 5.6
    if len(ranked) > rows:
        pdf.use(7.5, colour=MUTED)
        pdf.line_at(MARGIN + 22, y, f"and {len(ranked) - rows} more in the findings section.", 4)


def _contact_card(pdf: _ReportPDF, bottom: float) -> None:
    data = pdf.data
    branding = data.branding
    height = 33.0 if branding is not None else 21.0
    y = bottom - height
    pdf.set_fill_color(*PANEL)
    pdf.rect(MARGIN, y, CONTENT_W, height, style="F", round_corners=True, corner_radius=2)
    pdf.set_fill_color(*pdf.accent)
    pdf.rect(MARGIN, y, 2.2, height, style="F")
    note_x = MARGIN + 8
    if branding is not None:
        contact = branding.contact
        pdf.use(7, bold=True, colour=MUTED)
        pdf.line_at(MARGIN + 8, y + 3, "YOUR CONTACT", 4)
        pdf.use(10.5, bold=True, colour=pdf.primary_text)
        if pdf.width_of(branding.partner_name) > 84:  # long names: a smaller size before an ellipsis
            pdf.use(8.5, bold=True, colour=pdf.primary_text)
        pdf.line_at(MARGIN + 8, y + 7.5, pdf.fit(branding.partner_name, 84), 5.5)
        line_y = y + 13.5
        pdf.use(8.5, colour=INK)
        person = " · ".join(p for p in (contact.name, contact.role) if p)
        entries: list[tuple[str, str | None]] = [(person, None)] if person else []
        if contact.email:
            entries.append((contact.email, f"mailto:{contact.email}"))
        if contact.phone:
            entries.append((contact.phone, f"tel:{re.sub(r'[^0-9+]', '', contact.phone)}"))
        if contact.website:
            entries.append((contact.website, contact.website_url))
        for text, link in entries[:4]:
            shown = pdf.fit(text, 84)
            pdf.line_at(MARGIN + 8, line_y, shown, 4.5)
            if link:
                pdf.link(MARGIN + 8, line_y, pdf.width_of(shown), 4.5, link)
            line_y += 4.6
        note_x = MARGIN + 98
    width = PAGE_W - MARGIN - 6 - note_x
    pdf.use(7, bold=True, colour=MUTED)
    pdf.line_at(note_x, y + 3, "ABOUT THIS REPORT", 4)
    pdf.use(7.5, colour=INK)
    pdf.set_y(y + 8)
    pdf.paragraph(
        "A point-in-time view of what any outside party can observe about the domain from the internet. "
        "It is not a penetration test or an audit. Checks that could not run are listed under coverage and "
        "never counted as failures. Methodology and evidence follow the findings.",
        note_x, width, 3.7, max_lines=6,
    )


def _cover(pdf: _ReportPDF) -> None:
    pdf.cover_page = True
    pdf.add_page()
    _cover_band(pdf)
    _cover_target(pdf)
    panel_y = max(pdf.y + 2, 112.0)
    pdf.set_fill_color(*PANEL)
    pdf.rect(MARGIN, panel_y, CONTENT_W, 66, style="F", round_corners=True, corner_radius=2.5)
    _gauge(pdf, MARGIN + 50, panel_y + 55)
    _grade_block(pdf, MARGIN + 104, panel_y + 8, CONTENT_W - 110)
    _severity_chips(pdf, panel_y + 71)
    _top_issues(pdf, panel_y + 93, 240)
    _contact_card(pdf, 276)
    pdf.cover_page = False


# ----- breakdown and coverage -------------------------------------------------------------------


def _bar_colour(score: int, max_score: int) -> RGB:
    return GRADE_COLOURS[grade_for(round(100 * score / max_score)).grade]


def _signal_bar(pdf: _ReportPDF, row: SignalRow, y: float) -> None:
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


def _breakdown(pdf: _ReportPDF) -> None:
    data = pdf.data
    pdf.add_page()
    scored = [r for r in data.signals if not r.informational]
    summary = (f"The overall score of {data.score} out of {data.max_score} is the sum of {len(scored)} weighted "
               "signals." if data.score is not None else
               f"This scan has no overall score ({_not_scored_text(data)}); each signal's status and the reason "
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


def _severity_matrix(pdf: _ReportPDF) -> None:
    data = pdf.data
    pdf.subheading("Findings by signal and severity")
    label_w = 52.0
    col_w = (CONTENT_W - label_w) / (len(SEVERITY_ORDER) + 1)
    row_h = 6.5
    pdf.ensure_space(row_h * (len(SIGNAL_ORDER) + 2))
    y = pdf.y
    pdf.use(7, bold=True, colour=MUTED)
    pdf.line_at(MARGIN + 2, y, "SIGNAL", row_h)
    for i, severity in enumerate(SEVERITY_ORDER):
        pdf.line_at(MARGIN + label_w + i * col_w, y, severity.value.upper(), row_h, align="C", width=col_w)
    pdf.line_at(MARGIN + label_w + len(SEVERITY_ORDER) * col_w, y, "TOTAL", row_h, align="C", width=col_w)
    y += row_h
    for n, key in enumerate(SIGNAL_ORDER):
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
                pdf.set_fill_color(*_tint(SEVERITY_COLOURS[severity], 0.8))
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


def _coverage_item(pdf: _ReportPDF, item: CoverageItem, shade: bool) -> None:
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


def _coverage(pdf: _ReportPDF) -> None:
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


def _coverage_details(pdf: _ReportPDF) -> None:
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


# ----- findings ---------------------------------------------------------------------------------


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


def _finding(pdf: _ReportPDF, ref: str, finding: ReportFinding) -> None:
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


def _findings(pdf: _ReportPDF) -> None:
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
    for severity in SEVERITY_ORDER:
        group = [f for f in data.findings if f.severity is severity]
        if not group:
            continue
        pdf.ensure_space(36)
        colour = SEVERITY_COLOURS[severity]
        pdf.set_fill_color(*colour)
        pdf.rect(MARGIN, pdf.y, CONTENT_W, 7.5, style="F", round_corners=True, corner_radius=1.5)
        pdf.use(9.5, bold=True, colour=readable_on(colour))
        count = f"{len(group)} finding{'s' if len(group) != 1 else ''}"
        pdf.line_at(MARGIN + 3, pdf.y, f"{severity.value.upper()}  ·  {count}", 7.5)
        pdf.y += 11
        for ref, finding in _numbered(data.findings):
            if finding.severity is severity:
                _finding(pdf, ref, finding)


# ----- methodology and appendix -----------------------------------------------------------------


def _table_row(pdf: _ReportPDF, cells: Sequence[tuple[str, float, bool]], shade: bool, line_h: float = 4.2) -> None:
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


def _methodology(pdf: _ReportPDF) -> None:
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
    _table_row(pdf, header, shade=False)
    for i, key in enumerate(SIGNAL_ORDER):
        points = maxima.get(key, DEFAULT_SIGNAL_MAX[key])
        shown = str(points) if points else "info"
        _table_row(pdf, [(SIGNAL_LABELS[key], 46.0, False), (SIGNAL_DESCRIPTIONS[key], 106.0, False),
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
            f"This scan was not scored ({_not_scored_text(data)}), so readiness is not assessed.")),
        ("Coverage",
         "Each signal reports whether it ran in full, failed or could not be tested (for example when a "
         "data source is unavailable). A check that could not run is never counted as a failure; the "
         "coverage section lists what was and was not tested so the score can be read in context."),
        ("Scoring version",
         f"Scores in this report were computed with scoring version {data.scoring_version}. Scoring is a "
         "published table of deductions per result; scores are comparable within the same version."),
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


def _evidence_entry(pdf: _ReportPDF, ref: str, finding: ReportFinding) -> None:
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


def _appendix(pdf: _ReportPDF) -> None:
    data = pdf.data
    with_evidence = [(ref, f) for ref, f in _numbered(data.findings) if f.evidence]
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


def render_pdf(data: ReportData, fonts: FontFiles | None = None) -> bytes:
    """Render the co-branded PDF report; ReportFontsMissing when DejaVu fonts are not installed."""
    pdf = _ReportPDF(data, fonts or fonts_for(data))
    _cover(pdf)
    _breakdown(pdf)
    _findings(pdf)
    _methodology(pdf)
    _appendix(pdf)
    return bytes(pdf.output())
