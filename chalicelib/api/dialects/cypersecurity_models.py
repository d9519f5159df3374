"""CyperSecurity's request and response bodies, as its API documentation shows them (its OpenAPI schemas)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.access.roles import Role
from chalicelib.organizations.models import Contact, InviteMember, UpdateOrganization
from chalicelib.scans.commands import TargetText
from chalicelib.webhooks.url_guard import MAX_URL_LENGTH

Status = Literal["pending", "running", "completed", "failed"]


# -- errors -------------------------------------------------------------------------------------------------------
class ErrorObject(BaseModel):
    """The nested error: a snake_case code, a message and details (the field, the refused value)."""

    code: Literal["invalid_request", "authentication_failed", "insufficient_quota", "not_found",
                  "rate_limit_exceeded", "internal_error"]
    message: str
    details: dict[str, Any] = Field(default_factory=dict, description="`field` (and `value` when Perimeter does "
                                                                      "not support it; `required_role` when the "
                                                                      "key's role is too low).")


class CyperError(BaseModel):
    """`{"error": {"code", "message", "details"}}`."""

    error: ErrorObject


# -- scans -------------------------------------------------------------------------------------------------------
class ScanOptionsIn(BaseModel):
    """`options` of a scan: `ports`, `service_detection`, `os_detection` for nmap, `spider`, `active_scan` for zap,
    none for sqlmap; any other is refused naming the option."""

    model_config = ConfigDict(extra="allow")
    ports: str | None = Field(default=None, description="nmap port syntax (`1-1000`, `22,80,443`) or `top-N`.")
    service_detection: bool = Field(default=False, description="Deeper service and version identification.")
    os_detection: bool = Field(default=False, description="Accepted and ignored: Perimeter does no OS "
                                                          "fingerprinting (the response says so in `warnings`).")
    spider: bool | None = Field(default=None, description="zap: crawl from the target (default); `false` tests the "
                                                          "start page only.")
    active_scan: bool | None = Field(default=None, description="zap: send test payloads (always; `false` is "
                                                               "refused, Perimeter has no passive-only zap scan).")


class CreateScanIn(BaseModel):
    """`POST /scans`."""

    model_config = ConfigDict(extra="forbid")
    target: TargetText
    type: Annotated[str, Field(max_length=64, description="`nmap` (network), `zap` (web application) or `sqlmap` "
                                                          "(SQL injection); zap and sqlmap need a target whose "
                                                          "control your organization has proven.")]
    options: ScanOptionsIn = Field(default_factory=ScanOptionsIn)


class ListScansQuery(BaseModel):
    """`GET /scans` query."""

    model_config = ConfigDict(extra="ignore")
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    status: str | None = Field(default=None, description="pending, running, completed or failed.")


class IgnoredOption(BaseModel):
    """Something of the request Perimeter accepted but does not act on."""

    field: str
    message: str


class ScanOut(BaseModel):
    """A scan as listed and created."""

    id: str
    target: str
    type: str
    status: Status
    created_at: str
    completed_at: str | None = None
    findings_count: int = 0
    critical_count: int = 0
    error: dict[str, str] | None = None


class ScanCreatedOut(ScanOut):
    """The created scan; `warnings` lists what of the request Perimeter accepted but ignores."""

    warnings: list[IgnoredOption] | None = None


class ServiceOut(BaseModel):
    """An open port and what answers on it."""

    port: int
    protocol: str
    service: str
    version: str | None = Field(default=None, description="Product and version, e.g. `Apache httpd 2.4.41`.")


class VulnerabilityOut(BaseModel):
    """A finding that names a CVE (nmap), or any finding above info (zap, sqlmap); `cvss_score` only where the check
    recorded one, else null."""

    title: str
    severity: str
    cvss_score: float | None = None
    cve_id: str | None = None


class ResultsOut(BaseModel):
    """What a completed scan found."""

    services: list[ServiceOut]
    vulnerabilities: list[VulnerabilityOut]


class ScanDetailsOut(ScanOut):
    """`GET /scans/{scan_id}`: the scan and, once completed, its results."""

    results: ResultsOut | None = None


class ScanListOut(BaseModel):
    """Offset pagination with the total count."""

    scans: list[ScanOut]
    total: int
    limit: int
    offset: int


# -- reports ------------------------------------------------------------------------------------------------------
class ReportIn(BaseModel):
    """`POST /scans/{scan_id}/report`."""

    model_config = ConfigDict(extra="forbid")
    format: Annotated[str, Field(max_length=32, description="`pdf` or `json`.")] = "pdf"
    type: Annotated[str, Field(max_length=32, description="`technical`.")] = "technical"


class ReportOut(BaseModel):
    """The report: `generating` until the scan completes, then `completed` with its download URL."""

    report_id: str
    status: Literal["generating", "completed"]
    download_url: str | None


# -- webhooks -----------------------------------------------------------------------------------------------------
class CreateWebhookIn(BaseModel):
    """`POST /webhooks`."""

    model_config = ConfigDict(extra="forbid")
    url: Annotated[str, Field(min_length=1, max_length=MAX_URL_LENGTH)]
    events: Annotated[list[Annotated[str, Field(max_length=64)]], Field(min_length=1, max_length=16)]
    secret: Annotated[str, Field(max_length=256, description="Your secret (16-256 visible ASCII characters): "
                                                             "X-Webhook-Signature is keyed with it.")]
    signature_style: Literal["python", "node"] = Field(
        default="python", description="Which documented verification snippet the body is serialised for: `python` "
                                      "(json.dumps with sort_keys=True) or `node` (JSON.stringify).")


class WebhookOut(BaseModel):
    """A webhook endpoint."""

    id: str
    url: str
    events: list[str]
    created_at: str
    signature_style: Literal["python", "node"]


class WebhookCreatedOut(WebhookOut):
    """The created endpoint, with the `whsec_` secret of its Standard Webhooks headers (shown once)."""

    standard_webhooks_secret: str


class WebhookListOut(BaseModel):
    """Every endpoint created through this API."""

    webhooks: list[WebhookOut]
    total: int


# -- organization and team ----------------------------------------------------------------------------------------
class UpdateOrganizationIn(UpdateOrganization):
    """`PATCH /organization`: `name` and `industry` as documented, and Perimeter's other settings; only the fields
    given change, null clears an optional one, any other field is refused naming it."""


class InviteMemberIn(InviteMember):
    """`POST /team/members`: `email` and `role` (`owner`, `admin`, `member` or `viewer`) as documented, and an
    optional `name`; the invitation token goes only to that address."""


class OrganizationOut(BaseModel):
    """The caller's organization: the documented `name` and `industry`, and Perimeter's other settings."""

    id: str = Field(description="The organization id.")
    name: str
    industry: str | None
    contact: Contact
    default_ready_threshold: int = Field(description="New scans are ready at this score or above.")
    branding_url: str | None = Field(description="The partner's site (https), as given; never fetched.")
    created_at: str
    updated_at: str | None


class MemberOut(BaseModel):
    """A team member, invited or active; never their invitation token or keys."""

    id: str
    email: str
    name: str
    role: Role
    status: Literal["invited", "active"] = Field(description="`invited` until the invitation is accepted.")
    invited_at: str
    invitation_expires_at: str | None = Field(description="While invited: when the invitation lapses.")
    joined_at: str | None


class ListMembersQuery(BaseModel):
    """`GET /team/members` query."""

    model_config = ConfigDict(extra="ignore")
    limit: Annotated[int, Field(ge=1, le=100)] = 20
    offset: Annotated[int, Field(ge=0, le=1_000_000)] = 0


class MemberListOut(BaseModel):
    """Offset pagination with the total count, oldest member first."""

    members: list[MemberOut]
    total: int
    limit: int
    offset: int
