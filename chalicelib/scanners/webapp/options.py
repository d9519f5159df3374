"""The `webapp` scan's options (`options.webapp` of a scan): engines, politeness and budgets."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from chalicelib.scans.models import WebappEngine, WebappOptions

__all__ = ["Engine", "WebappOptions", "webapp_options"]

# One model for the API and the check: the scan's `options.webapp` (chalicelib/scans/models.py).
Engine = WebappEngine


def webapp_options(scan_options: Any) -> WebappOptions:
    """The webapp options of a scan's options (`scan_options.webapp`), defaults when absent.

    Raises pydantic ValidationError for a malformed value.
    """
    raw = getattr(scan_options, "webapp", None)
    if raw is None:
        return WebappOptions()
    if isinstance(raw, WebappOptions):
        return raw
    if isinstance(raw, BaseModel):
        raw = raw.model_dump()
    return WebappOptions.model_validate(raw)
