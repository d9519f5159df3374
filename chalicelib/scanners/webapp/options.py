"""The `webapp` scan's options (`options.webapp` of a scan): engines, politeness and budgets."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Engine = Literal["builtin", "wapiti", "sqlmap"]


class WebappOptions(BaseModel):
    """What a partner may tune for a web application scan; every limit has a polite default and a hard ceiling."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engines: tuple[Engine, ...] | None = Field(
        default=None, min_length=1, max_length=3,
        description="Engines to run; default: the built-in engine plus wapiti and sqlmap when installed.")
    rate_limit: float = Field(default=10.0, gt=0, le=50, description="Requests per second sent to the target.")
    max_requests: int = Field(default=2000, ge=10, le=20000, description="Total requests sent to the target.")
    max_pages: int = Field(default=200, ge=1, le=2000, description="Pages the crawler fetches.")
    max_depth: int = Field(default=5, ge=0, le=10, description="Link depth from the start URL.")
    time_budget: float = Field(default=600.0, gt=0, le=3600, description="Seconds for the whole check.")
    time_based: bool = Field(default=True, description="Send the few time-based (sleep) probes.")


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
