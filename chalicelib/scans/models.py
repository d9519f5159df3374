"""Scan records, states and transitions, findings and signals: the pure domain."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from chalicelib.core.errors import IllegalTransition


class ScanType(StrEnum):
    POSTURE = "posture"
    PORTS = "ports"
    TLS = "tls"
    MAIL = "mail"
    WEB = "web"
    WEBAPP = "webapp"  # active: attack payloads against a verified host (DESIGN.md section 10)
    CONTAINER = "container"  # an image reference or OCI archive: SBOM and known vulnerabilities


class Priority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


class ScanStatus(StrEnum):
    PENDING = "pending"
    SCANNING = "scanning"
    SCORING = "scoring"
    COMPLETE = "complete"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        """True for complete, failed and cancelled."""
        return self in TERMINAL_STATUSES


TERMINAL_STATUSES = frozenset({ScanStatus.COMPLETE, ScanStatus.FAILED, ScanStatus.CANCELLED})

# DESIGN.md section 5: pending -> scanning -> scoring -> complete; any non-terminal -> failed | cancelled.
TRANSITIONS: dict[ScanStatus, frozenset[ScanStatus]] = {
    ScanStatus.SCANNING: frozenset({ScanStatus.PENDING}),
    ScanStatus.SCORING: frozenset({ScanStatus.SCANNING}),
    ScanStatus.COMPLETE: frozenset({ScanStatus.SCORING}),
    ScanStatus.FAILED: frozenset({ScanStatus.PENDING, ScanStatus.SCANNING, ScanStatus.SCORING}),
    ScanStatus.CANCELLED: frozenset({ScanStatus.PENDING, ScanStatus.SCANNING, ScanStatus.SCORING}),
}


def allowed_sources(target: ScanStatus) -> frozenset[ScanStatus]:
    """The states a scan may move to `target` from."""
    return TRANSITIONS.get(target, frozenset())


def check_transition(current: ScanStatus, target: ScanStatus) -> None:
    """Raise IllegalTransition unless `current -> target` is allowed."""
    if current not in allowed_sources(target):
        raise IllegalTransition(f"A {current.value} scan cannot become {target.value}.")


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class SignalKey(StrEnum):
    SCAN = "scan"
    BREACH = "breach"
    REPUTATION = "reputation"
    MAIL = "mail"
    LAYER = "layer"
    WEB = "web"
    WEBAPP = "webapp"
    CONTAINER = "container"


class SignalStatus(StrEnum):
    COMPLETE = "complete"
    ERROR = "error"
    NOT_TESTED = "not_tested"


# Which signals each scan type runs.
SIGNALS_BY_TYPE: dict[ScanType, tuple[SignalKey, ...]] = {
    ScanType.POSTURE: (
        SignalKey.SCAN, SignalKey.BREACH, SignalKey.REPUTATION, SignalKey.MAIL, SignalKey.LAYER, SignalKey.WEB,
    ),
    ScanType.PORTS: (SignalKey.SCAN,),
    ScanType.TLS: (SignalKey.LAYER,),
    ScanType.MAIL: (SignalKey.MAIL,),
    ScanType.WEB: (SignalKey.WEB,),
    ScanType.WEBAPP: (SignalKey.WEBAPP,),
    ScanType.CONTAINER: (SignalKey.CONTAINER,),
}

ESTIMATED_SECONDS: dict[ScanType, int] = {
    ScanType.POSTURE: 20, ScanType.PORTS: 10, ScanType.TLS: 5, ScanType.MAIL: 5, ScanType.WEB: 5,
    ScanType.WEBAPP: 120, ScanType.CONTAINER: 60,
}

# Units billed when a scan completes (failed and cancelled scans are not billed).
BILLABLE_UNITS: dict[ScanType, int] = {
    ScanType.POSTURE: 5, ScanType.PORTS: 1, ScanType.TLS: 1, ScanType.MAIL: 1, ScanType.WEB: 1,
    ScanType.WEBAPP: 10, ScanType.CONTAINER: 2,
}


class Finding(BaseModel):
    """One observation a signal makes, with the evidence it rests on."""

    model_config = ConfigDict(extra="forbid")

    id: str
    signal: SignalKey
    code: str
    severity: Severity
    title: str
    detail: str = ""
    remediation: str = ""
    cwe: str | None = None
    evidence: dict[str, Any] = Field(default_factory=dict)
    # Exposure intelligence (scoring version 2026-12), set where they apply.
    product: str | None = Field(default=None, description="The product the finding is about, e.g. `OpenSSH`.")
    version: str | None = Field(default=None, description="The product version observed.")
    cpe: str | None = Field(default=None, description="CPE 2.2 URI of the product (and version), as nmap names it.")
    cve: str | None = Field(default=None, description="The CVE the finding names.")
    kev: bool | None = Field(default=None, description="True when the CVE (or product family) is in CISA KEV.")
    ransomware: bool | None = Field(default=None, description="True when KEV records known ransomware use.")


class SignalResult(BaseModel):
    """A signal's outcome: status, score out of max_score, and its findings."""

    model_config = ConfigDict(extra="forbid")

    status: SignalStatus
    score: int | None = None
    max_score: int
    findings: list[Finding] = Field(default_factory=list)
    error: str | None = None
    intel_version: str | None = None  # the exposure-intelligence data the check matched against
    severity_counts: dict[Severity, int] | None = Field(
        default=None, description="Findings of the signal per severity, over all of them (set when scored; "
                                  "`findings` may list only the most severe when the scan has many).")
    # Documents a check produces beside its findings (a container scan's CycloneDX SBOM under "sbom"). Never
    # dumped (not in the table item, not in views): the scanner task carries them in the evidence document
    # explicitly and the pipeline stores them as objects of their own.
    attachments: dict[str, Any] = Field(default_factory=dict, exclude=True)


class GradeCap(BaseModel):
    """A critical exposure that keeps a scan below a grade whatever its score."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    code: str
    max_grade: str
    reason: str


class ScanError(BaseModel):
    """Why a scan failed or was cancelled."""

    code: str
    message: str


Timing = Literal["T0", "T1", "T2", "T3", "T4", "T5"]


WebappEngine = Literal["builtin", "wapiti", "sqlmap"]


class WebappOptions(BaseModel):
    """Options of a `webapp` scan: the engines it runs, its politeness and its budgets (each with a hard ceiling)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    engines: tuple[WebappEngine, ...] | None = Field(
        default=None, min_length=1, max_length=3,
        description="Engines to run; default: the built-in engine plus wapiti and sqlmap when installed.")
    rate_limit: float = Field(default=10.0, gt=0, le=50, description="Requests per second sent to the target.")
    max_requests: int = Field(default=2000, ge=10, le=20000, description="Total requests sent to the target.")
    max_pages: int = Field(default=200, ge=1, le=2000, description="Pages the crawler fetches.")
    max_depth: int = Field(default=5, ge=0, le=10, description="Link depth from the start URL.")
    time_budget: float = Field(default=600.0, gt=0, le=3600, description="Seconds for the whole check.")
    time_based: bool = Field(default=True, description="Send the few time-based (sleep) probes.")


class RegistryAuth(BaseModel):
    """Credentials of a private registry; write-only (the password is sealed at submission, never shown)."""

    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=256)
    # Never dumped (not stored in options, not in views): the pipeline input carries the scan's sealed
    # blob here for the scanner task, which unwraps it with `registry_auth_context(tenant, scan)`.
    password_sealed: SkipJsonSchema[str | None] = Field(default=None, exclude=True)  # in no OpenAPI schema


class ContainerOptions(BaseModel):
    """Options of a `container` scan: what to report and how to pull the image."""

    model_config = ConfigDict(extra="forbid")

    severity: list[Severity] | None = Field(default=None, min_length=1, max_length=5,
                                            description="Report only findings of these severities.")
    ignore_unfixed: bool = Field(default=False, description="Leave out vulnerabilities with no fixed version.")
    scanners: tuple[Literal["vuln", "secret", "misconfig"], ...] = Field(
        default=("vuln", "secret", "misconfig"), min_length=1, max_length=3,
        description="What to look for: known-vulnerable packages, secrets in files, image misconfiguration.")
    platform: str | None = Field(default=None, max_length=64, pattern=r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$",
                                 description="`os/arch[/variant]` of a multi-platform image, e.g. `linux/amd64`.")
    registry_auth: RegistryAuth | None = Field(default=None, description="Write-only registry credentials.")


def registry_auth_context(tenant_id: str, scan_id: str) -> str:
    """The SecretBox context a scan's registry password is sealed under (binds it to tenant and scan)."""
    return f"perimeter/registry-auth/{tenant_id}/{scan_id}"


class ScanOptions(BaseModel):
    """Per-scan options a partner may set; anything else is refused."""

    model_config = ConfigDict(extra="forbid")

    ports: str | None = Field(
        default=None, max_length=200, pattern=r"^(top-\d{1,5}|\d{1,5}(-\d{1,5})?(,\d{1,5}(-\d{1,5})?)*)$",
        description="nmap port syntax (`22,80,443`, `1-1024`) or `top-N`.",
    )
    dkim_selectors: list[str] | None = Field(
        default=None, max_length=20, description="Extra DKIM selectors to probe.",
    )
    service_detection: bool = Field(default=False, description="Grab banners of open ports.")
    timing: Timing | None = Field(
        default=None, description="Port-scan speed, nmap's `-T0` (slowest) to `-T5` (fastest); default `T4`. "
                                  "The built-in scanner maps it to its concurrency and connect timeout.",
    )
    webapp: WebappOptions | None = Field(default=None, description="`webapp` scans only.")
    container: ContainerOptions | None = Field(default=None, description="`container` scans only.")
    fail_on: Severity | None = Field(
        default=None, description="`webapp` and `container` scans: the CI gate fails when any finding is at or "
                                  "above this severity (default `high`).")


class Contradiction(BaseModel):
    """A self-assessment answer that a finding of the scan contradicts (selfassessment questionnaire data)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str = Field(description="The contradiction rule of the questionnaire that matched.")
    question_id: str
    answer: str = Field(description="The answer value given.")
    finding_id: str
    finding_code: str
    signal: SignalKey
    message: str = Field(description="Why the finding contradicts the answer, in plain language.")


class SelfAssessmentResult(BaseModel):
    """A submitted self-assessment as the scan records it: the answers and where the scan contradicts them."""

    model_config = ConfigDict(extra="forbid")

    questionnaire_version: str
    answers: dict[str, str] = Field(description="Question id -> answer value, as submitted.")
    submitted_at: datetime
    contradictions: list[Contradiction] = Field(
        default_factory=list, description="Answers a finding of this scan contradicts; empty until the scan is "
                                          "scored or when nothing contradicts them.")


class Scan(BaseModel):
    """The stored scan record (one item in DynamoDB)."""

    model_config = ConfigDict(extra="forbid")

    scan_id: str
    tenant_id: str
    target: str
    scan_type: ScanType
    name: str | None = None
    priority: Priority = Priority.NORMAL
    options: ScanOptions = Field(default_factory=ScanOptions)
    tags: list[str] = Field(default_factory=list)
    timeout_seconds: int
    status: ScanStatus = ScanStatus.PENDING
    progress: int = 0
    template_id: str | None = None
    group_id: str | None = None  # the scan group (one request, several targets) it belongs to
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    completed_at: datetime | None = None
    execution_arn: str | None = None
    signals: dict[str, SignalResult] = Field(default_factory=dict)
    score: int | None = None
    grade: str | None = None
    grade_label: str | None = None
    ready: bool | None = None
    ready_threshold: int
    scoring_version: str | None = None
    caps: list[GradeCap] = Field(default_factory=list)
    intel_version: str | None = None
    coverage: dict[str, Any] | None = None
    findings_count: int = 0
    report_keys: dict[str, str] = Field(default_factory=dict)
    report_sha256: dict[str, str] = Field(default_factory=dict)
    error: ScanError | None = None
    # -- findings beyond the item, SBOM and sealed registry credentials (issue 14) --------------------
    severity_counts: dict[Severity, int] | None = None  # over every finding; None until scored
    findings_key: str | None = None  # set when the full findings live in the reports bucket (findings.py)
    findings_sha256: str | None = None
    sbom_key: str | None = None  # a container scan's CycloneDX SBOM in the reports bucket
    sbom_sha256: str | None = None
    registry_auth_sealed: str | None = None  # SecretBox blob; never in a view, log, webhook or report
    # -- the self-assessment (DESIGN.md section 9): `score` stays the external score; `grade`, `grade_label`
    # and `ready` follow the effective score (combined when present).
    sa_score: int | None = None
    sa_complete: bool = False
    combined_score: int | None = None
    combined_grade: str | None = None
    self_assessment: SelfAssessmentResult | None = None
