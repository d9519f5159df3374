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
        description="The insured's public, login-free self-assessment page; the token in it is its only key.")
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
    sa_score: int | None = Field(description="Self-assessment score 0-100; null until the insured submits.")
    sa_complete: bool = Field(description="True once the insured submitted the self-assessment.")
    combined_score: int | None = Field(
        description="Weighted hybrid of `score` and `sa_score`; null until both exist and the scan is complete.")
    combined_grade: str | None = Field(description="The grade of the effective score (combined when present, "
                                                   "else external); null until complete.")
    self_assessment: dict[str, Any] = Field(
        description="`{}` until submitted; then `questionnaire_version`, `answers`, `submitted_at` and "
                    "`contradictions` (answers a finding of the scan contradicts).")
    certiq_ready: bool | None = Field(description="Quote-eligible: the effective score (combined when present) >= "
                                                  "ready_threshold; null until complete.")
    ready_threshold: int
    completed_at: str | None
    report_url: str | None = Field(description="Streams the PDF with your key; null until complete.")
    error: ScanError | None = Field(default=None, description="Why a `failed` scan failed or was cancelled.")
