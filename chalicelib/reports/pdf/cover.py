"""The cover page: partner band and logo, assessed domain, score gauge, grade and readiness, severity
chips, the most significant findings and the contact card."""

from __future__ import annotations

import io
import math
import re

from chalicelib.reports.branding import Branding
from chalicelib.reports.model import GRADE_BANDS, SEVERITY_ORDER, SIGNAL_LABELS, grade_for
from chalicelib.reports.pdf.layout import ReportPDF, fmt_time, not_scored_text
from chalicelib.reports.pdf.style import (
    BAD_RED,
    CONTENT_W,
    EN_DASH,
    GRADE_COLOURS,
    INK,
    MARGIN,
    MUTED,
    OK_GREEN,
    PAGE_W,
    PANEL,
    RULE,
    SEVERITY_COLOURS,
    TRACK,
    WHITE,
    readable_on,
    tint,
)
from chalicelib.scans.models import Severity


def _draw_logo(pdf: ReportPDF, branding: Branding, x: float, y: float, w: float, h: float) -> None:
    info = branding.logo_info
    if branding.logo is None or info is None:
        return
    scale = min(w / info.width, h / info.height)
    draw_w, draw_h = info.width * scale, info.height * scale
    pdf.image(io.BytesIO(branding.logo), x=x + (w - draw_w) / 2, y=y + (h - draw_h) / 2, w=draw_w, h=draw_h)


def _cover_band(pdf: ReportPDF) -> None:
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
    pdf.line_at(text_x, 30, f"Report generated {fmt_time(data.generated_at)}", 5, align="R", width=width)


def _cover_target(pdf: ReportPDF) -> None:
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
         ("Scan started", fmt_time(data.started_at or data.created_at), 1, 1),
         ("Scan completed", fmt_time(data.completed_at), 2, 1)],
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


def _gauge(pdf: ReportPDF, cx: float, cy: float) -> None:
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


def _grade_block(pdf: ReportPDF, x: float, y: float, width: float) -> None:
    data = pdf.data
    if data.grade is None:
        _not_scored_block(pdf, x, y, width)
        return
    colour = GRADE_COLOURS.get(data.grade, MUTED)
    pdf.set_fill_color(*colour)
    pdf.circle(x + 13, y + 13, 13, style="F")
    pdf.use(26, bold=True, colour=readable_on(colour))
    pdf.line_at(x, y + 6.5, data.grade, 13, align="C", width=26)
    sa = data.self_assessment
    combined = sa is not None and sa.combined_score is not None
    pdf.use(8, bold=True, colour=MUTED)
    pdf.line_at(x + 31, y + 4, "COMBINED GRADE" if combined else "GRADE", 4)
    pdf.use(13, bold=True, colour=INK)
    pdf.set_y(y + 9)
    pdf.paragraph(data.grade_label or f"Grade {data.grade}", x + 31, width - 31, 6, max_lines=2)
    if sa is not None and combined:
        pdf.use(7, colour=MUTED)
        pdf.line_at(x + 31, y + 22, pdf.fit(f"External {sa.external_score} ({sa.external_grade}) · self-assessment "
                                            f"{sa.sa_score}", width - 31), 4)
    badge_y = y + 33
    fill = OK_GREEN if data.ready else BAD_RED
    pdf.set_fill_color(*fill)
    pdf.rect(x, badge_y, width, 15, style="F", round_corners=True, corner_radius=2)
    pdf.use(10.5, bold=True, colour=WHITE)
    pdf.line_at(x + 4, badge_y + 1.8, "✓ READY" if data.ready else "✗ NOT READY", 6)
    pdf.use(8, colour=WHITE)
    verdict = "meets" if data.ready else "is below"
    shown = f"Combined score {sa.combined_score}" if sa is not None and combined else f"Score {data.score}"
    pdf.line_at(x + 4, badge_y + 7.8, f"{shown} {verdict} the threshold of {data.ready_threshold}", 5)


def _not_scored_block(pdf: ReportPDF, x: float, y: float, width: float) -> None:
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
    pdf.line_at(x + 4, badge_y + 7.8, pdf.fit(not_scored_text(pdf.data), width - 8), 5)


def _severity_chips(pdf: ReportPDF, y: float) -> None:
    data = pdf.data
    gap = 3.0
    chip_w = (CONTENT_W - gap * (len(SEVERITY_ORDER) - 1)) / len(SEVERITY_ORDER)
    for i, severity in enumerate(SEVERITY_ORDER):
        x = MARGIN + i * (chip_w + gap)
        count = data.severity_counts.get(severity, 0)
        colour = SEVERITY_COLOURS[severity]
        pdf.set_fill_color(*(tint(colour, 0.86) if count else PANEL))
        pdf.rect(x, y, chip_w, 15, style="F", round_corners=True, corner_radius=1.5)
        pdf.set_fill_color(*(colour if count else RULE))
        pdf.rect(x, y, 1.6, 15, style="F")
        pdf.use(15, bold=True, colour=colour if count else MUTED)
        pdf.line_at(x + 5, y + 1.5, str(count), 7.5)
        pdf.use(7, bold=True, colour=MUTED)
        pdf.line_at(x + 5, y + 9, severity.value.upper(), 4)


def _caps(pdf: ReportPDF, y: float) -> float:
    """The grade caps applied, in a red-edged panel; returns the y below it (y itself when none)."""
    caps = pdf.data.caps
    if not caps:
        return y
    shown = caps[:3]
    height = 7.5 + 4.6 * len(shown) + (4.2 if len(caps) > len(shown) else 0)
    pdf.set_fill_color(*tint(BAD_RED, 0.9))
    pdf.rect(MARGIN, y, CONTENT_W, height, style="F", round_corners=True, corner_radius=1.5)
    pdf.set_fill_color(*BAD_RED)
    pdf.rect(MARGIN, y, 1.6, height, style="F")
    pdf.use(8, bold=True, colour=BAD_RED)
    pdf.line_at(MARGIN + 5, y + 1.5, f"GRADE CAPPED AT {caps[0].max_grade}: CRITICAL EXPOSURES HOLD IT DOWN "
                                     "WHATEVER THE SCORE", 4.5)
    line_y = y + 6.5
    pdf.use(8, colour=INK)
    for cap in shown:
        pdf.line_at(MARGIN + 5, line_y, pdf.fit(f"{cap.max_grade} at best  ·  {cap.reason}", CONTENT_W - 8), 4.6)
        line_y += 4.6
    if len(caps) > len(shown):
        pdf.use(7.5, colour=MUTED)
        pdf.line_at(MARGIN + 5, line_y, f"and {len(caps) - len(shown)} more: see the methodology page.", 4.2)
    return y + height + 4


def _top_issues(pdf: ReportPDF, y: float, bottom: float) -> None:
    data = pdf.data
    y = _caps(pdf, y)
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
        named = f"  ·  {finding.subject}" if finding.subject else ""
        label = f"{finding.title}{named}  ·  {SIGNAL_LABELS[finding.signal]}"
        pdf.line_at(MARGIN + 22, y, pdf.fit(label, CONTENT_W - 22), 5)
        y += 5.6
    if len(ranked) > rows:
        pdf.use(7.5, colour=MUTED)
        pdf.line_at(MARGIN + 22, y, f"and {len(ranked) - rows} more in the findings section.", 4)


def _contact_card(pdf: ReportPDF, bottom: float) -> None:
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


def draw_cover(pdf: ReportPDF) -> None:
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
