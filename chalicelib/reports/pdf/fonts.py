"""The report's fonts: the shipped DejaVu faces, their compact copies, and which characters they can draw.

Reports whose characters all fall in COMPACT_RANGES embed cut-down copies of the DejaVu faces, built
once into a private per-user cache directory under the system temp dir (see `compact_fonts`); other
reports use the full faces.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import stat
import tempfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from fontTools import subset as ftsubset  # type: ignore[import-untyped]
from fontTools import ttLib

from chalicelib.core.errors import PerimeterError
from chalicelib.reports.model import ReportData

FONT_FILES: dict[str, str] = {
    "regular": "DejaVuSans.ttf",
    "bold": "DejaVuSans-Bold.ttf",
    "mono": "DejaVuSansMono.ttf",
}
# Searched in order; each file independently (Fedora splits sans and mono into two directories).
FONT_DIRS: tuple[Path, ...] = (
    Path(__file__).resolve().parents[1] / "fonts",  # chalicelib/reports/fonts, shipped in the package
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


class Substitutes(dict[int, str]):
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
