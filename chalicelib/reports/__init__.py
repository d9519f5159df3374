"""Report rendering, pure: `ReportData` in, PDF or JSON bytes out (fpdf2 is imported only by `.pdf`).

The names below are loaded on first use (PEP 562), so that importing a light submodule such as
`chalicelib.reports.branding` (the API Lambda does, for `/v1/branding`) does not build the report model.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chalicelib.reports.branding import Branding, ContactCard
    from chalicelib.reports.integrity import sha256_hex, sign_report, verify_report
    from chalicelib.reports.json_report import load_json, render_json
    from chalicelib.reports.model import ReportData, report_data

_HOMES = {
    "Branding": "branding", "ContactCard": "branding", "ReportData": "model", "report_data": "model",
    "load_json": "json_report", "render_json": "json_report",
    "sha256_hex": "integrity", "sign_report": "integrity", "verify_report": "integrity",
}

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


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{home}"), name)
