"""The machine-readable report: stable JSON (sorted keys, UTF-8) of `ReportData`."""

from __future__ import annotations

import json
from typing import Any

from chalicelib.reports.model import ReportData

# The logo is the partner's own asset and would only bloat the document.
_EXCLUDE: dict[str, Any] = {"branding": {"logo"}}


def report_document(data: ReportData) -> dict[str, Any]:
    """The report as a JSON-ready dict (the logo left out)."""
    return data.model_dump(mode="json", exclude=_EXCLUDE)


def render_json(data: ReportData) -> bytes:
    """Stable JSON bytes: sorted keys, two-space indent, UTF-8, trailing newline."""
    text = json.dumps(report_document(data), sort_keys=True, ensure_ascii=False, indent=2, allow_nan=False)
    return (text + "\n").encode("utf-8")
