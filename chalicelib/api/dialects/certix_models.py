"""Cert-IX's request and response shapes (camelCase, `{"success", "data"}` envelopes) and their renderings.

Fields are snake_case in Python and camelCase on the wire (`CamelModel`); a response is sent with
`wire(model)`. The views turn Perimeter's records into these shapes with Cert-IX's words for
statuses and scan types (chalicelib/webhooks/formats/certix.py holds that vocabulary).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel

from chalicelib.api.dialects.base import unchecked
from chalicelib.api.dialects.certix_options import to_vendor
from chalicelib.scans.models import Finding, Scan, Severity
from chalicelib.templates.service import Template
from chalicelib.webhooks.formats.certix import vendor_scan_type, vendor_status
from chalicelib.webhooks.models import WebhookEndpoint

T = TypeVar("T")
Text = Annotated[str, Field(min_length=1, max_length=2048)]
Name = Annotated[str, Field(min_length=1, max_length=200)]


class CamelModel(BaseModel):
    """camelCase on the wire, snake_case in Python."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


def wire(model: BaseModel) -> dict[str, Any]:
    """The JSON-ready camelCase body of a response model."""
    return model.model_dump(mode="json", by_alias=True)


# -- errors and envelopes -------------------------------------------------------------------------


class CertixError(BaseModel):
    """Every Cert-IX error: `error` (a sentence) and `code` (UPPER_SNAKE); `field`/`value` name what was refused."""

    success: bool = False
    error: str
    code: str
    field: str | None = None
    value: Any = None
    details: list[dict[str, str]] | None = Field(default=None, description="Each refused field, for VALIDATION_ERROR.")
    retry_after: int | None = Field(default=None, alias="retryAfter")
    verify_url: str | None = Field(default=None, alias="verifyUrl",
                                   description="TARGET_NOT_VERIFIED: where to prove control of the host.")


class Envelope(CamelModel, Generic[T]):
    """`{"success": true, "data": ...}`."""

    success: bool = True
    data: T


class Pagination(CamelModel):
    """Page-number pagination: `page` (from 1), `limit` (at most 100), whether another page follows."""

    page: int
    limit: int
    has_more: bool


class PageEnvelope(CamelModel, Generic[T]):
    """`{"success": true, "data": [...], "pagination": {...}}`."""

    success: bool = True
    data: list[T]
    pagination: Pagination


# -- requests ---------------------------------------------------------------------------------------


class CertixOptions(CamelModel):
    """Options of each scanType (certix_options); one another scan type has, or nobody has, is UNSUPPORTED_OPTION."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="allow")
    ports: str | None = Field(default=None, description="nmap: port syntax `1-1024`, `22,80,443`, or `top-N`.")
    timing: str | None = Field(default=None, description="nmap: timing template `T0` (slowest) to `T5`; default T4.")
    service_detection: bool | None = Field(default=None, description="nmap: identify the service on each open port.")
    scanners: list[str] | None = Field(default=None, description="trivy: any of `vuln`, `misconfig`, `secret` "
                                                                 "(default all three).")
    severity: list[str] | None = Field(default=None, description="trivy: the severities to report, e.g. "
                                                                 "`[\"CRITICAL\", \"HIGH\"]` (high and above).")
    ignore_unfixed: bool | None = Field(default=None, description="trivy: leave out vulnerabilities with no fix.")
    rate_limit: float | None = Field(default=None, description="zap: requests per second (default 10, at most 50).")
    max_requests: int | None = Field(default=None, description="zap: requests in all (default 2000).")
    max_pages: int | None = Field(default=None, description="zap: pages the spider fetches (default 200).")
    max_depth: int | None = Field(default=None, description="zap: link depth from the start URL (default 5).")
    time_budget: float | None = Field(default=None, description="zap: seconds for the whole test (default 600).")
    time_based: bool | None = Field(default=None, description="zap: send the few time-based (sleep) probes.")


class ScanRequest(CamelModel):
    """`POST /scans`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    target: Text
    scan_type: str = Field(description="`nmap` (network), `trivy` (container image: target `registry/path:tag`) "
                                       "or `zap` (web application: a URL on a host your organization verified).")
    name: Name | None = None
    priority: str | None = Field(default=None, description="`low`, `normal` (default) or `high`.")
    options: CertixOptions | None = None
    tags: list[str] | None = None
    timeout: int | None = Field(default=None, description="Seconds, 30 to 3600; default 900.")


class TemplateRequest(CamelModel):
    """`POST /scan-templates`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    name: Name
    scan_type: str
    description: Annotated[str, Field(max_length=1000)] = ""
    priority: str | None = None
    options: CertixOptions | None = None
    tags: list[str] | None = None
    timeout: int | None = None


class LaunchRequest(CamelModel):
    """`POST /scan-templates/{templateId}/launch`: a target and optional overrides."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    target: Text
    name: Name | None = None
    priority: str | None = None
    options: CertixOptions | None = None
    tags: list[str] | None = None
    timeout: int | None = None


class WebhookRequest(CamelModel):
    """`POST /webhooks`."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")
    name: Annotated[str, Field(min_length=1, max_length=500)]
    url: Text
    events: list[str] | None = Field(default=None, description="Default: every scan event.")
    secret: SecretStr | None = Field(default=None, description="Keep your current signing secret (16-256 visible "
                                                               "ASCII characters): it signs X-Webhook-Signature.")


# -- responses --------------------------------------------------------------------------------------


class CertixScan(CamelModel):
    """A scan in Cert-IX's words."""

    id: str
    scan_type: str
    name: str | None
    target: str
    status: str = Field(description="queued, running, completed, failed or cancelled.")
    progress: int
    priority: str
    tags: list[str]
    options: dict[str, Any]
    result_count: int
    duration_ms: int | None
    error: str | None
    error_code: str | None
    score: int | None
    grade: str | None
    ready: bool | None
    template_id: str | None
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class CertixFinding(CamelModel):
    """One finding."""

    id: str
    signal: str
    code: str
    severity: Severity
    title: str
    description: str
    remediation: str
    cwe: str | None
    evidence: dict[str, Any]
    product: str | None
    version: str | None
    cpe: str | None
    cve: str | None
    kev: bool | None
    ransomware: bool | None


class CertixService(CamelModel):
    """An open port and what answers on it."""

    port: int
    protocol: str
    service: str
    product: str | None
    version: str | None
    cpe: str | None
    addresses: list[str]


class Summary(BaseModel):
    """Findings per severity."""

    critical: int = 0
    high: int = 0
    medium: int = 0
    low: int = 0
    info: int = 0
    total: int = 0


class CertixResults(CamelModel):
    """A completed scan's results."""

    scan_id: str
    scan_type: str
    target: str
    status: str
    score: int | None
    grade: str | None
    ready: bool | None
    summary: Summary
    findings: list[CertixFinding]
    services: list[CertixService]
    completed_at: datetime | None


class CertixTemplate(CamelModel):
    """A scan template."""

    id: str
    name: str
    description: str
    scan_type: str
    priority: str
    options: dict[str, Any]
    tags: list[str]
    timeout: int
    created_at: datetime


class CertixUsage(CamelModel):
    """Usage over a period."""

    period: str
    from_: str = Field(alias="from")
    to: str
    total_scans: int
    scans_by_type: dict[str, int]
    scans_by_status: dict[str, int]
    billable_units: int


class CertixWebhook(CamelModel):
    """A webhook endpoint."""

    id: str
    name: str
    url: str
    events: list[str]
    active: bool
    format: str
    created_at: datetime
    secret: str | None = Field(default=None, description="Only when created: the whsec_ secret of the Standard "
                                                         "Webhooks headers; it also signs X-Webhook-Signature "
                                                         "unless you chose a secret of your own.")


class ReportLink(CamelModel):
    """A short-lived report download link (with `Accept: application/json`; otherwise a 302 to it)."""

    url: str
    expires_at: datetime
    sha256: str
    format: str


class Deleted(CamelModel):
    """What a delete answers."""

    id: str
    deleted: bool = True


# -- views ------------------------------------------------------------------------------------------

def status_of(scan: Scan) -> str:
    """Cert-IX's status; `failed` for a completed trivy or zap scan whose check could not run (base.unchecked)."""
    return "failed" if unchecked(scan) else vendor_status(scan.status.value)


def scan_view(scan: Scan) -> CertixScan:
    """A stored scan as Cert-IX shows it."""
    duration = None
    if scan.started_at is not None and scan.completed_at is not None:
        duration = int((scan.completed_at - scan.started_at).total_seconds() * 1000)
    error = unchecked(scan) or scan.error
    return CertixScan(
        id=scan.scan_id, scan_type=vendor_scan_type(scan.scan_type.value), name=scan.name, target=scan.target,
        status=status_of(scan), progress=100 if scan.status.terminal else scan.progress,
        priority=scan.priority.value, tags=scan.tags, options=to_vendor(scan.scan_type, scan.options),
        result_count=scan.findings_count, duration_ms=duration, error=error.message if error else None,
        error_code=error.code if error else None, score=scan.score, grade=scan.grade, ready=scan.ready,
        template_id=scan.template_id, created_at=scan.created_at, updated_at=scan.updated_at,
        started_at=scan.started_at, completed_at=scan.completed_at)


def finding_view(finding: Finding) -> CertixFinding:
    """One finding in camelCase; `detail` is Cert-IX's `description`."""
    return CertixFinding(
        id=finding.id, signal=finding.signal.value, code=finding.code, severity=finding.severity,
        title=finding.title, description=finding.detail, remediation=finding.remediation, cwe=finding.cwe,
        evidence=finding.evidence, product=finding.product, version=finding.version, cpe=finding.cpe,
        cve=finding.cve, kev=finding.kev, ransomware=finding.ransomware)


def services_of(findings: list[Finding]) -> list[CertixService]:
    """The open ports the network scan reported (one per port), with what was identified on each."""
    by_port: dict[int, CertixService] = {}
    for f in findings:
        port, addresses = f.evidence.get("port"), f.evidence.get("addresses")
        if f.signal.value != "scan" or not isinstance(port, int) or not isinstance(addresses, list):
            continue
        by_port.setdefault(port, CertixService(
            port=port, protocol=str(f.evidence.get("protocol", "tcp")), service=str(f.evidence.get("service", "")),
            product=f.product, version=f.version, cpe=f.cpe, addresses=[str(a) for a in addresses]))
    return [by_port[p] for p in sorted(by_port)]


def results_view(scan: Scan, findings: list[Finding]) -> CertixResults:
    """Results: the severity summary, every finding (most severe first) and the open services."""
    counts = {s.value: 0 for s in Severity}
    for f in findings:
        counts[f.severity.value] += 1
    return CertixResults(
        scan_id=scan.scan_id, scan_type=vendor_scan_type(scan.scan_type.value), target=scan.target,
        status=status_of(scan), score=scan.score, grade=scan.grade, ready=scan.ready,
        summary=Summary(**counts, total=len(findings)), findings=[finding_view(f) for f in findings],
        services=services_of(findings), completed_at=scan.completed_at)


def template_view(template: Template) -> CertixTemplate:
    """A template in Cert-IX's words."""
    return CertixTemplate(
        id=template.template_id, name=template.name, description=template.description,
        scan_type=vendor_scan_type(template.scan_type.value), priority=template.priority.value,
        options=to_vendor(template.scan_type, template.options), tags=template.tags, timeout=template.timeout_seconds,
        created_at=template.created_at)


def webhook_view(endpoint: WebhookEndpoint, events: dict[str, str], secret: str | None = None) -> CertixWebhook:
    """An endpoint in Cert-IX's words; `events` maps Perimeter's event names to Cert-IX's."""
    return CertixWebhook(
        id=endpoint.webhook_id, name=endpoint.description, url=endpoint.url,
        events=[events.get(e, e) for e in endpoint.events], active=endpoint.status.value == "active",
        format=endpoint.format, created_at=endpoint.created_at, secret=secret)
