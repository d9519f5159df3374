"""Page geometry, the report's palette, and the colour arithmetic that keeps partner colours legible."""

from __future__ import annotations

from chalicelib.scans.models import Severity

RGB = tuple[int, int, int]
EN_DASH = "\u2013"

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


def tint(rgb: RGB, amount: float) -> RGB:
    """Mix `rgb` with white; amount 0 keeps the colour, 1 gives white."""
    r, g, b = (round(c + (255 - c) * amount) for c in rgb)
    return r, g, b
