"""The CertIQ dialect's request and response bodies (they also generate its OpenAPI document)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.scans.models import ScanError, SignalResult

CertiqStatus = Literal["pending", "scanning", "scoring", "complete", "failed"]


class CertiqError(BaseModel):
    """CertIQ's error body: one message; `retry_after` (seconds) only on 429."""

    error: str
    retry_after: int | None = Field(default=None, description="Only on 429: seconds until a retry may succeed.")


class CertiqCreateScan(BaseModel):
    """`POST /api/v1/scans`: the domain; a scheme, path or port is stripped. Other fields are refused (422)."""

    model_config = ConfigDict(extra="forbid")
    domain: Annotated[str, StringConstraints(min_length=1, max_length=2048)] = Field(
        description="Apex domain to scan (e.g. example.com.au); protocol and path are stripped.")


class CertiqScanCreated(BaseModel):
    """202 answer to a new scan."""

    scan_token: str
    status: CertiqStatus
    status_url: str
    self_assessment_url: str | None = Field(
        description="Always null: Perimeter has no self-assessment page yet (see docs/migrating.md).")
    estimated_seconds: int


class CertiqScan(BaseModel):
    """A scan in CertIQ's shape; scoring fields are null until `status` is `complete`."""

    scan_token: str
    domain: str
    status: CertiqStatus = Field(description="A scan Perimeter cancelled reads `failed` (with `error`).")
    signals: dict[str, SignalResult] = Field(description="Keyed by signal name; Perimeter adds `web`.")
    score: int | None
    grade: str | None
    grade_label: str | None
    sa_score: int | None = Field(description="Always null: no self-assessment yet.")
    sa_complete: bool = Field(description="Always false: no self-assessment yet.")
    combined_score: int | None = Field(description="Always null: no self-assessment yet.")
    combined_grade: str | None = Field(description="Equal to `grade` (there is no self-assessment to combine).")
    self_assessment: dict[str, Any] = Field(description="Always {}: no self-assessment yet.")
    certiq_ready: bool | None = Field(description="Quote-eligible (score >= ready_threshold); null until complete.")
    ready_threshold: int
    completed_at: str | None
    report_url: str | None = Field(description="Streams the PDF with your key; null until complete.")
    error: ScanError | None = Field(default=None, description="Why a `failed` scan failed or was cancelled.")
