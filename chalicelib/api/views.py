"""Response models of the public API (the same models generate the OpenAPI document)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.net.guard import parse_ip
from chalicelib.scans.active import ACTIVE_TYPES, Gate, scan_gate, target_host
from chalicelib.scans.findings import scan_severity_counts
from chalicelib.scans.models import (
    ESTIMATED_SECONDS,
    Finding,
    GradeCap,
    Priority,
    Scan,
    ScanError,
    ScanOptions,
    ScanStatus,
    ScanType,
    SelfAssessmentResult,
    Severity,
    SignalResult,
)
from chalicelib.templates.service import Template


class ScanCreated(BaseModel):
    """202 answer to a new scan."""

    scan_token: str
    status: ScanStatus
    status_url: str
    self_assessment_url: str | None = Field(
        description="The insured's public self-assessment page (no login; the link is the key: forward it only to "
                    "the insured). Posture scans only; null for other scan types. Shown once, in this answer.")
    estimated_seconds: int
    created_at: datetime


class ScanView(BaseModel):
    """A scan as partners see it."""

    scan_token: str
    target: str
    domain: str | None
    scan_type: ScanType
    name: str | None
    priority: Priority
    tags: list[str]
    options: ScanOptions
    template_id: str | None
    status: ScanStatus
    progress: Annotated[int, Field(ge=0, le=100)]
    signals: dict[str, SignalResult]
    score: int | None = Field(description="0-100; null until scored, and null on a complete scan that could not "
                                          "be scored (`coverage.not_scored` says why).")
    grade: str | None = Field(description="A-F; null whenever `score` is null.")
    grade_label: str | None
    ready: bool | None = Field(description="score >= ready_threshold; null whenever `score` is null.")
    ready_threshold: int
    scoring_version: str | None
    caps: list[GradeCap] = Field(description="Critical exposures that hold the grade down whatever the score "
                                             "(`max_grade`), strictest first; empty when none applied.")
    intel_version: str | None = Field(description="The exposure-intelligence data (KEV, end-of-life, rules) the "
                                                  "scan matched against; null until scanned.")
    coverage: dict[str, Any] | None = Field(
        description="`tested`, `not_tested` and `error` signal lists, and `not_scored` when the scan has no score.")
    findings_count: int
    timeout_seconds: int
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    report_url: str | None
    error: ScanError | None
    # -- findings counts, CI gate and SBOM (issue 14) ---------------------------------------------------
    severity_counts: dict[Severity, int] = Field(
        description="Findings per severity over all of them (`signals[*].findings` may list only the most "
                    "severe of a large set: `GET /v1/scans/{token}/findings` pages through every one).")
    gate: Gate | None = Field(
        default=None, description="`webapp` and `container` scans: the CI gate, failing when any finding is at "
                                  "or above `fail_on` (option, default `high`); null for other scan types.")
    sbom_url: str | None = Field(
        default=None, description="`container` scans, once complete: the route that redirects to the "
                                  "CycloneDX SBOM.")
    sa_score: int | None = Field(description="The self-assessment score 0-100; null until the insured submits.")
    sa_complete: bool = Field(description="True once the insured submitted the self-assessment.")
    combined_score: int | None = Field(
        description="The weighted hybrid of `score` and `sa_score` (scoring table `combined`; grade caps apply); "
                    "null until both exist. `grade`, `grade_label` and `ready` follow it when present.")
    combined_grade: str | None = Field(description="The grade of `combined_score`; null whenever it is null.")
    self_assessment: SelfAssessmentResult | None = Field(
        description="The submitted answers and the answers the scan's findings contradict; null until submitted.")


class FindingList(BaseModel):
    """A page of a scan's findings, most severe first; empty until the scan is scored."""

    scan_token: str
    scan_status: ScanStatus
    items: list[Finding]
    total: int = Field(description="Findings matching the filters, over all pages.")
    next_cursor: str | None


class ScanList(BaseModel):
    """A page of scans, newest first."""

    items: list[ScanView]
    next_cursor: str | None


class TemplateView(BaseModel):
    """A scan template."""

    template_id: str
    name: str
    description: str
    scan_type: ScanType
    priority: Priority
    options: ScanOptions
    tags: list[str]
    timeout_seconds: int
    created_at: datetime


class TemplateList(BaseModel):
    """A page of templates, newest first."""

    items: list[TemplateView]
    next_cursor: str | None


class UsageSummary(BaseModel):
    """Scans and billable units of the caller's tenant over a period."""

    period: Literal["7d", "30d", "90d"]
    from_: str = Field(alias="from")
    to: str
    scans_created: int
    scans_by_type: dict[str, int]
    scans_by_status: dict[str, int]
    billable_units: int

    model_config = ConfigDict(populate_by_name=True)


class Health(BaseModel):
    """Liveness."""

    status: Literal["ok"]
    version: str


class Problem(BaseModel):
    """RFC 9457 problem details, with a stable `code` and a one-line `error`."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    error: str
    instance: str | None = None
    errors: list[dict[str, str]] | None = None
    retry_after: int | None = None


def scan_view(scan: Scan, base_url: str) -> ScanView:
    """The partner-facing view of a stored scan."""
    return ScanView(
        scan_token=scan.scan_id, target=scan.target, domain=domain_of(scan),
        scan_type=scan.scan_type, name=scan.name, priority=scan.priority, tags=scan.tags, options=scan.options,
        template_id=scan.template_id, status=scan.status, progress=100 if scan.status.terminal else scan.progress,
        signals=scan.signals, score=scan.score, grade=scan.grade, grade_label=scan.grade_label, ready=scan.ready,
        ready_threshold=scan.ready_threshold, scoring_version=scan.scoring_version, caps=scan.caps,
        intel_version=scan.intel_version, coverage=scan.coverage,
        findings_count=scan.findings_count, timeout_seconds=scan.timeout_seconds, created_at=scan.created_at,
        updated_at=scan.updated_at, started_at=scan.started_at, completed_at=scan.completed_at,
        report_url=report_url(scan, base_url), error=scan.error,
        severity_counts=scan_severity_counts(scan), gate=scan_gate(scan),
        sbom_url=sbom_url(scan, base_url), sa_score=scan.sa_score, sa_complete=scan.sa_complete,
        combined_score=scan.combined_score, combined_grade=scan.combined_grade, self_assessment=scan.self_assessment,
    )


def domain_of(scan: Scan) -> str | None:
    """The scanned domain: none for an address or an image; a webapp scan's host."""
    if scan.scan_type is ScanType.CONTAINER:
        return None
    host = target_host(scan.scan_type, scan.target) if scan.scan_type in ACTIVE_TYPES else scan.target
    return None if parse_ip(host) else host


def sbom_url(scan: Scan, base_url: str) -> str | None:
    """The API route that redirects to a complete container scan's SBOM."""
    if scan.status != ScanStatus.COMPLETE or not scan.sbom_key:
        return None
    return f"{base_url}/v1/scans/{scan.scan_id}/sbom"


def scan_created(scan: Scan, base_url: str, self_assessment_url: str | None = None) -> ScanCreated:
    """The 202 body for a new scan (with its self-assessment link, when it has one)."""
    return ScanCreated(scan_token=scan.scan_id, status=scan.status, status_url=f"{base_url}/v1/scans/{scan.scan_id}",
                       self_assessment_url=self_assessment_url, estimated_seconds=ESTIMATED_SECONDS[scan.scan_type],
                       created_at=scan.created_at)


def template_view(template: Template) -> TemplateView:
    """The partner-facing view of a template."""
    return TemplateView.model_validate(template.model_dump(exclude={"tenant_id"}))


# -- reports and branding ---------------------------------------------------------------


def report_url(scan: Scan, base_url: str) -> str | None:
    """The API route that redirects to the report: only once the scan is complete and has reports."""
    if scan.status != ScanStatus.COMPLETE or not scan.report_keys:
        return None
    return f"{base_url}/v1/scans/{scan.scan_id}/report"


class ReportLinkView(BaseModel):
    """A short-lived download link to a report (the 302 target, as JSON with `Accept: application/json`)."""

    url: str = Field(description="Presigned URL; valid until expires_at (15 minutes at most).")
    expires_at: datetime
    sha256: str = Field(description="Lower-case hex SHA-256 of the report's bytes, to verify the download.")
    format: Literal["pdf", "json"]


class SbomLinkView(BaseModel):
    """A short-lived link to a container scan's CycloneDX SBOM (the 302 target, as JSON on request)."""

    url: str = Field(description="Presigned URL; valid until expires_at (15 minutes at most).")
    expires_at: datetime
    sha256: str = Field(description="Lower-case hex SHA-256 of the SBOM's bytes.")
    format: Literal["cyclonedx+json"] = "cyclonedx+json"


class LogoView(BaseModel):
    """The stored logo: a short-lived link and what inspection proved about the image."""

    url: str
    expires_at: datetime
    content_type: str
    width: int
    height: int
    size: int
    sha256: str


class ContactView(BaseModel):
    """The contact card printed on the report cover."""

    name: str | None
    role: str | None
    email: str | None
    phone: str | None
    website: str | None


class BrandingView(BaseModel):
    """The tenant's co-branding as reports use it."""

    display_name: str
    primary_color: str
    accent_color: str
    contact: ContactView
    logo: LogoView | None
    updated_at: datetime
