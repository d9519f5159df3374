"""Scan-template request models: create a template, launch one."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.scans.commands import Name, SubmittedOptions, Tag, TargetText, Timeout
from chalicelib.scans.models import Priority, ScanType


class CreateTemplate(BaseModel):
    """`POST /v1/scan-templates`: reusable scan settings."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Annotated[str, StringConstraints(max_length=1000)] = ""
    scan_type: ScanType = ScanType.POSTURE
    priority: Priority = Priority.NORMAL
    options: SubmittedOptions = Field(default_factory=SubmittedOptions)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    timeout_seconds: Timeout = 900


class LaunchTemplate(BaseModel):
    """`POST /v1/scan-templates/{id}/launch`: a target, and optional overrides of the template."""

    model_config = ConfigDict(extra="forbid")

    target: TargetText
    name: Name | None = None
    priority: Priority | None = None
    options: SubmittedOptions | None = None
    tags: list[Tag] | None = Field(default=None, max_length=20)
    timeout_seconds: Timeout | None = None
