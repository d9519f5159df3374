"""The HTML report: `render_html(ReportData, ...) -> bytes`, one self-contained page, no scripts.

Pure (data in, bytes out) like the JSON report: every value is HTML-escaped, styles are inline in one
`<style>` element, the page forbids everything else with a Content-Security-Policy `<meta>`, and
nothing is fetched (the logo is left out). Several reports (one per target of a scan group) render
as sections of one page. Deterministic: the same data gives the same bytes.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from chalicelib.reports.model import SEVERITY_ORDER, ReportData, ReportFinding

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src 'none'; form-action 'none'; base-uri 'none'"
_STYLE = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1b1b1b;max-width:60rem}
h1{margin-bottom:.2rem}h2{border-bottom:3px solid var(--primary);padding-bottom:.2rem;margin-top:2.5rem}
table{border-collapse:collapse;width:100%;margin:.8rem 0}th,td{border:1px solid #ccc;padding:.35rem .5rem;
text-align:left;vertical-align:top}th{background:#f3f3f3}.grade{font-size:2.2rem;font-weight:bold;
color:var(--primary)}.sev-critical{color:#8b0000;font-weight:bold}.sev-high{color:#b34700;font-weight:bold}
.sev-medium{color:#8a6d00}.sev-low{color:#2f5d8a}.sev-info{color:#555}.muted{color:#666;font-size:.9rem}
"""
_DEFAULT_PRIMARY = "#1F3A5F"


def _e(value: object) -> str:
    """Escaped text of a value ('' for None)."""
    return "" if value is None else escape(str(value), quote=True)


def _colour(data: ReportData) -> str:
    """The partner's primary colour (validated #RRGGBB by Branding), else ours."""
    colour = data.branding.primary_color if data.branding else _DEFAULT_PRIMARY
    return colour if len(colour) == 7 and colour[0] == "#" and all(c in "0123456789abcdefABCDEF"
                                                                    for c in colour[1:]) else _DEFAULT_PRIMARY


def _verdict(data: ReportData) -> str:
    if data.score is None:
        return f"<p><strong>Not scored.</strong> {_e(data.not_scored_reason)}</p>"
    ready = "ready" if data.ready else "not ready"
    return (f'<p><span class="grade">{_e(data.grade)}</span> {_e(data.score)}/{_e(data.max_score)} '
            f"&middot; {_e(data.grade_label)} &middot; {_e(ready)} (threshold {_e(data.ready_threshold)})</p>")


def _signals(data: ReportData) -> str:
    rows = "".join(
        f"<tr><td>{_e(r.label)}</td><td>{_e(r.status.value)}</td>"
        f"<td>{'informational' if r.informational else _e(r.score) + ' / ' + _e(r.max_score)}</td>"
        f"<td>{_e(r.findings_count)}</td></tr>" for r in data.signals)
    return ("<table><thead><tr><th>Signal</th><th>Status</th><th>Score</th><th>Findings</th></tr></thead>"
            f"<tbody>{rows}</tbody></table>")


def _finding(f: ReportFinding) -> str:
    subject = f"<br><span class=\"muted\">{_e(f.subject)}</span>" if f.subject else ""
    flags = " ".join(label for label, on in (("KEV", f.kev), ("ransomware", f.ransomware)) if on)
    return (f'<tr><td class="sev-{_e(f.severity.value)}">{_e(f.severity.value)}</td>'
            f"<td><strong>{_e(f.title)}</strong>{subject}<br>{_e(f.detail)}</td><td>{_e(f.remediation)}</td>"
            f"<td>{_e(f.cwe)}</td><td>{_e(f.code)}{' · ' + _e(flags) if flags else ''}</td></tr>")


def _findings(data: ReportData) -> str:
    counts = ", ".join(f"{_e(s.value)}: {_e(data.severity_counts.get(s, 0))}" for s in SEVERITY_ORDER)
    if not data.findings:
        return f"<p>No findings. <span class=\"muted\">({counts})</span></p>"
    rows = "".join(_finding(f) for f in data.findings)
    return (f"<p class=\"muted\">{counts}</p><table><thead><tr><th>Severity</th><th>Finding</th>"
            f"<th>Remediation</th><th>CWE</th><th>Code</th></tr></thead><tbody>{rows}</tbody></table>")


def _coverage(data: ReportData) -> str:
    untested = [c for c in data.coverage if not c.tested]
    if not untested:
        return "<p>Every signal of this scan type was tested.</p>"
    items = "".join(f"<li>{_e(c.label)}: {_e(c.reason)}</li>" for c in untested)
    return f"<ul>{items}</ul>"


def _section(data: ReportData) -> str:
    target = _e(data.target_unicode) + (f" <span class=\"muted\">({_e(data.target)})</span>"
                                        if data.has_unicode_target else "")
    return (f'<section id="{_e(data.scan_token)}"><h2>{target}</h2>'
            f"<p class=\"muted\">{_e(data.scan_type.value)} scan {_e(data.scan_token)} &middot; completed "
            f"{_e(data.completed_at.isoformat() if data.completed_at else '')} &middot; scoring "
            f"{_e(data.scoring_version)}</p>{_verdict(data)}<h3>Score breakdown</h3>{_signals(data)}"
            f"<h3>Findings</h3>{_findings(data)}<h3>Coverage</h3>{_coverage(data)}</section>")


def render_html(reports: ReportData | Sequence[ReportData], *, title: str | None = None) -> bytes:
    """One UTF-8 HTML page for one report or several (a section each); raises ValueError for none."""
    items = [reports] if isinstance(reports, ReportData) else list(reports)
    if not items:
        raise ValueError("render_html needs at least one report")
    first = items[0]
    partner = first.branding.partner_name if first.branding else "Perimeter"
    heading = title or ("Security posture report: " + ", ".join(d.target_unicode for d in items))
    contact = ""
    if first.branding is not None:
        card = first.branding.contact.model_dump()
        contact = " &middot; ".join(_e(v) for v in card.values() if v)
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">'
        '<meta name="referrer" content="no-referrer">'
        f"<title>{_e(heading)}</title><style>:root{{--primary:{_colour(first)}}}{_STYLE}</style></head><body>"
        f"<header><p class=\"muted\">{_e(partner)}{' &middot; ' + contact if contact else ''}</p>"
        f"<h1>{_e(heading)}</h1><p class=\"muted\">Generated {_e(first.generated_at.isoformat())}</p></header>"
        + "".join(_section(d) for d in items)
        + "</body></html>\n"
    )
    return page.encode("utf-8")
