"""SecuScan's request and response bodies (the `secuscan` dialect), as its documentation shapes them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.scans.groups import MAX_GROUP_TARGETS

Target = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class SecuScanError(BaseModel):
    """Every SecuScan error: RFC 9457 problem details with a snake_case `code`."""

    type: str = Field(description="`https://docs.secuaas.com/errors/<code>` (a stable URI per code).")
    title: str
    status: int
    detail: str
    code: str = Field(description="snake_case, stable: e.g. `invalid_token`, `scan_not_found`, "
                                  "`unsupported_value`, `rate_limit_exceeded`.")
    instance: str | None = None
    field: str | None = Field(default=None, description="With `unsupported_value`: the field or resource.")
    value: Any = Field(default=None, description="With `unsupported_value`: the value Perimeter cannot serve.")
    errors: list[dict[str, Any]] | None = Field(default=None, description="Field problems of a validation error.")
    retry_after: int | None = Field(default=None, description="With `rate_limit_exceeded`: seconds to wait.")


class CreateScanBody(BaseModel):
    """`POST /scans`: a scope of targets, the scan type and a priority. Unknown fields are refused by name."""

    model_config = ConfigDict(extra="allow")
    scope: Annotated[list[Target], Field(min_length=1, max_length=MAX_GROUP_TARGETS,
                                         description="Domains; one scan covers them all.")]
    scan_type: str = Field(default="easm", description="`easm` (external attack surface).")
    priority: str = Field(default="normal", description="`low`, `normal` (or `medium`), `high`.")
    name: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None


class ScanCreated(BaseModel):
    """`202` to `POST /scans`."""

    scan_id: str
    status: str
    eta_seconds: int
    scope: list[str]
    created_at: datetime


class TargetView(BaseModel):
    """One target of a scan: its own status, score and report id."""

    target: str
    status: str
    score: int | None
    grade: str | None
    findings_count: int
    report_id: str = Field(description="This target's report: `GET /reports/{report_id}.pdf|.html|.json`.")
    error: str | None = None


class ScanView(BaseModel):
    """`GET /scans/{id}`: the scan across its scope (score and grade: its weakest target)."""

    scan_id: str
    status: str = Field(description="queued, running, completed, partial (some targets failed), failed, cancelled.")
    scan_type: str
    priority: str
    name: str | None
    scope: list[str]
    eta_seconds: int | None = Field(description="Seconds until the estimated end; null once the scan ended.")
    progress: int
    score: int | None
    grade: str | None
    findings_count: int
    created_at: datetime
    completed_at: datetime | None
    targets: list[TargetView]
    reports: dict[str, str] | None = Field(description="Report paths by format once a target completed.")


class FindingItem(BaseModel):
    """One finding of one target."""

    id: str
    target: str
    status: str = Field(description="`open` (seen in this scan) or `resolved` (seen in the target's previous "
                                    "complete scan, gone now).")
    severity: str
    title: str
    description: str
    remediation: str
    cwe: str | None
    category: str | None
    rule_id: str | None
    cve: str | None = None
    product: str | None = None
    version: str | None = None
    cpe: str | None = None
    kev: bool | None = None
    ransomware: bool | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)


class PageMeta(BaseModel):
    """Page-number pagination."""

    page: int
    per_page: int
    total: int
    total_pages: int


class FindingPage(BaseModel):
    """`GET /scans/{id}/findings`."""

    data: list[FindingItem]
    meta: PageMeta
    links: dict[str, str | None]


class FindingsQuery(BaseModel):
    """Filters and page of `GET /scans/{id}/findings` (values checked in the dialect's own vocabulary)."""

    model_config = ConfigDict(extra="ignore")
    severity: str | None = None
    cwe: Annotated[str, Field(pattern=r"^(?i:cwe-)?[0-9]{1,5}$")] | None = None
    target: Annotated[str, Field(max_length=2048)] | None = None
    status: str | None = None
    page: Annotated[int, Field(ge=1, le=10_000)] = 1
    per_page: Annotated[int, Field(ge=1, le=200)] = 50


class CreateWebhookBody(BaseModel):
    """`POST /webhooks`: a URL, SecuScan event names and, optionally, a secret of your own."""

    model_config = ConfigDict(extra="allow")
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    events: Annotated[list[str], Field(min_length=1, max_length=10)]
    secret: Annotated[str, Field(min_length=16, max_length=256)] | None = None
    description: Annotated[str, Field(max_length=500)] = ""


class WebhookCreated(BaseModel):
    """`201` to `POST /webhooks`: the secret that signs `X-Secuscan-Signature` (shown once)."""

    id: str
    url: str
    events: list[str]
    secret: str | None = Field(description="The generated secret (shown once); null when you chose your own.")
    status: str
    created_at: datetime
