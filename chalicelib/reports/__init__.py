"""Report rendering, pure: `ReportData` in, PDF or JSON bytes out (fpdf2 is imported only by `.pdf`)."""

from chalicelib.reports.integrity import sha256_hex, sign_report, verify_report
from chalicelib.reports.json_report import load_json, render_json
from chalicelib.reports.model import Branding, ContactCard, ReportData, report_data

__all__ = [
    "Branding",
    "ContactCard",
    "ReportData",
    "load_json",
    "render_json",
    "report_data",
    "sha256_hex",
    "sign_report",
    "verify_report",
]
