"""Typed views of the API's answers (tests/clients checks each field against the served OpenAPI document).

Every model keeps the decoded JSON it was built from in `raw` (not part of the API schema), so fields a
newer server adds are not lost, and `--json` output is the server's own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Generic, TypeVar

T = TypeVar("T")

SEVERITIES = ("critical", "high", "medium", "low", "info")  # most severe first
GRADES = ("A", "B", "C", "D", "F")  # best first
TERMINAL_STATUSES = frozenset({"complete", "failed", "cancelled"})


SDK_ONLY = {"sdk_only": True}  # field metadata: not part of the API's schema


def parse_time(value: Any) -> datetime | None:
    """An RFC 3339 timestamp (a trailing `Z` accepted on every Python) or None."""
    if not value:
        return None
    text = str(value)
    return datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith("Z") else text)


def _time(value: Any) -> datetime:
    parsed = parse_time(value)
    if parsed is None:
        raise ValueError("a required timestamp is missing")
    return parsed


def _opt_str(value: Any) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


@dataclass(frozen=True)
class Finding:
    """One observation of a signal, with its evidence and, where they apply, product and CVE intelligence."""

    id: str
    signal: str
    code: str
    severity: str
    title: str
    detail: str = ""
    remediation: str = ""
    cwe: str | None = None
    evidence: dict[str, Any] = field(default_factory=dict)
    product: str | None = None
    version: str | None = None
    cpe: str | None = None
    cve: str | None = None
    kev: bool | None = None
    ransomware: bool | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Finding:
        """Build from the API's JSON."""
        return cls(
            id=str(data["id"]), signal=str(data["signal"]), code=str(data["code"]), severity=str(data["severity"]),
            title=str(data["title"]), detail=str(data.get("detail") or ""),
            remediation=str(data.get("remediation") or ""), cwe=_opt_str(data.get("cwe")),
            evidence=dict(data.get("evidence") or {}), product=_opt_str(data.get("product")),
            version=_opt_str(data.get("version")), cpe=_opt_str(data.get("cpe")), cve=_opt_str(data.get("cve")),
            kev=_opt_bool(data.get("kev")), ransomware=_opt_bool(data.get("ransomware")), raw=data)

    def at_least(self, severity: str) -> bool:
        """True when this finding is `severity` or worse."""
        return severity_rank(self.severity) <= severity_rank(severity)


@dataclass(frozen=True)
class Signal:
    """One signal's outcome (scan, breach, reputation, mail, layer, web)."""

    status: str
    max_score: int
    score: int | None = None
    findings: list[Finding] = field(default_factory=list)
    error: str | None = None
    intel_version: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Signal:
        """Build from the API's JSON."""
        return cls(status=str(data["status"]), max_score=int(data["max_score"]), score=_opt_int(data.get("score")),
                   findings=[Finding.from_dict(f) for f in data.get("findings") or []],
                   error=_opt_str(data.get("error")), intel_version=_opt_str(data.get("intel_version")), raw=data)


@dataclass(frozen=True)
class Cap:
    """A critical exposure that holds the grade at `max_grade` whatever the score."""

    code: str
    max_grade: str
    reason: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Cap:
        """Build from the API's JSON."""
        return cls(code=str(data["code"]), max_grade=str(data["max_grade"]), reason=str(data["reason"]), raw=data)


@dataclass(frozen=True)
class ScanError:
    """Why a scan failed or was cancelled."""

    code: str
    message: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanError:
        """Build from the API's JSON."""
        return cls(code=str(data["code"]), message=str(data["message"]), raw=data)


@dataclass(frozen=True)
class Gate:
    """The server's CI gate of a `webapp` or `container` scan: fails when any finding is at or above `fail_on`."""

    passed: bool | None  # None until the scan is scored
    fail_on: str
    counts: dict[str, int] = field(default_factory=dict)
    not_checked: dict[str, str] = field(default_factory=dict)  # signal -> why it could not run (fails the gate)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Gate:
        """Build from the API's JSON."""
        return cls(passed=_opt_bool(data.get("passed")), fail_on=str(data["fail_on"]),
                   counts={str(k): int(v) for k, v in (data.get("counts") or {}).items()},
                   not_checked={str(k): str(v) for k, v in (data.get("not_checked") or {}).items()}, raw=data)


@dataclass(frozen=True)
class ScanCreated:
    """The 202 answer to a new scan."""

    scan_token: str
    status: str
    status_url: str
    self_assessment_url: str | None
    estimated_seconds: int
    created_at: datetime
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScanCreated:
        """Build from the API's JSON."""
        return cls(scan_token=str(data["scan_token"]), status=str(data["status"]), status_url=str(data["status_url"]),
                   self_assessment_url=_opt_str(data.get("self_assessment_url")),
                   estimated_seconds=int(data["estimated_seconds"]), created_at=_time(data["created_at"]), raw=data)


@dataclass(frozen=True)
class Scan:
    """A scan: status and progress, then score, grade, signals with findings, and caps."""

    scan_token: str
    target: str
    scan_type: str
    status: str
    progress: int
    created_at: datetime
    updated_at: datetime
    domain: str | None = None
    name: str | None = None
    priority: str = "normal"
    tags: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    template_id: str | None = None
    signals: dict[str, Signal] = field(default_factory=dict)
    score: int | None = None
    grade: str | None = None
    grade_label: str | None = None
    ready: bool | None = None
    ready_threshold: int = 0
    scoring_version: str | None = None
    caps: list[Cap] = field(default_factory=list)
    intel_version: str | None = None
    coverage: dict[str, Any] | None = None
    findings_count: int = 0
    timeout_seconds: int = 0
    started_at: datetime | None = None
    completed_at: datetime | None = None
    report_url: str | None = None
    error: ScanError | None = None
    severity_counts: dict[str, int] = field(default_factory=dict)  # over every finding, not only those inline
    gate: Gate | None = None  # webapp and container scans only
    sbom_url: str | None = None  # container scans, once complete: `Client.get_sbom(token)` reads it
    # The insured's self-assessment: null until submitted; `grade` and `ready` follow `combined_score` when set.
    sa_score: int | None = None
    sa_complete: bool = False
    combined_score: int | None = None
    combined_grade: str | None = None
    self_assessment: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Scan:
        """Build from the API's JSON."""
        error = data.get("error")
        return cls(
            scan_token=str(data["scan_token"]), target=str(data["target"]), scan_type=str(data["scan_type"]),
            status=str(data["status"]), progress=int(data["progress"]), created_at=_time(data["created_at"]),
            updated_at=_time(data["updated_at"]), domain=_opt_str(data.get("domain")),
            name=_opt_str(data.get("name")), priority=str(data.get("priority") or "normal"),
            tags=[str(t) for t in data.get("tags") or []], options=dict(data.get("options") or {}),
            template_id=_opt_str(data.get("template_id")),
            signals={str(k): Signal.from_dict(v) for k, v in (data.get("signals") or {}).items()},
            score=_opt_int(data.get("score")), grade=_opt_str(data.get("grade")),
            grade_label=_opt_str(data.get("grade_label")), ready=_opt_bool(data.get("ready")),
            ready_threshold=int(data.get("ready_threshold") or 0),
            scoring_version=_opt_str(data.get("scoring_version")),
            caps=[Cap.from_dict(c) for c in data.get("caps") or []], intel_version=_opt_str(data.get("intel_version")),
            coverage=data.get("coverage"), findings_count=int(data.get("findings_count") or 0),
            timeout_seconds=int(data.get("timeout_seconds") or 0), started_at=parse_time(data.get("started_at")),
            completed_at=parse_time(data.get("completed_at")), report_url=_opt_str(data.get("report_url")),
            error=ScanError.from_dict(error) if isinstance(error, dict) else None,
            severity_counts={str(k): int(v) for k, v in (data.get("severity_counts") or {}).items()},
            gate=Gate.from_dict(gate) if isinstance(gate := data.get("gate"), dict) else None,
            sbom_url=_opt_str(data.get("sbom_url")),
            sa_score=_opt_int(data.get("sa_score")), sa_complete=bool(data.get("sa_complete", False)),
            combined_score=_opt_int(data.get("combined_score")), combined_grade=_opt_str(data.get("combined_grade")),
            self_assessment=assessment if isinstance(assessment := data.get("self_assessment"), dict) else None,
            raw=data)

    @property
    def terminal(self) -> bool:
        """True once complete, failed or cancelled."""
        return self.status in TERMINAL_STATUSES

    @property
    def findings(self) -> list[Finding]:
        """Every finding of every signal, most severe first."""
        every = [f for s in self.signals.values() for f in s.findings]
        return sorted(every, key=lambda f: severity_rank(f.severity))

    def count_at_least(self, severity: str) -> int:
        """Findings of `severity` or worse over all of them (`severity_counts`, else the inline findings)."""
        if self.severity_counts:
            return sum(n for s, n in self.severity_counts.items()
                       if s in SEVERITIES and severity_rank(s) <= severity_rank(severity))
        return sum(1 for f in self.findings if f.at_least(severity))


@dataclass(frozen=True)
class Webhook:
    """A webhook endpoint (never its secret, except `secret` on the answer to a create)."""

    webhook_id: str
    url: str
    events: list[str]
    description: str
    status: str
    created_at: datetime
    updated_at: datetime
    disabled_reason: str | None = None
    disabled_at: datetime | None = None
    failing_since: datetime | None = None
    previous_secret_expires_at: datetime | None = None
    format: str = "perimeter"  # `perimeter` or a vendor dialect's delivery format
    own_secret: bool = False  # a secret of the partner's own signs the format's signature header
    secret: str | None = field(default=None, repr=False)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Webhook:
        """Build from the API's JSON."""
        return cls(
            webhook_id=str(data["webhook_id"]), url=str(data["url"]), events=[str(e) for e in data["events"]],
            description=str(data.get("description") or ""), status=str(data["status"]),
            created_at=_time(data["created_at"]), updated_at=_time(data["updated_at"]),
            disabled_reason=_opt_str(data.get("disabled_reason")), disabled_at=parse_time(data.get("disabled_at")),
            failing_since=parse_time(data.get("failing_since")),
            previous_secret_expires_at=parse_time(data.get("previous_secret_expires_at")),
            format=str(data.get("format") or "perimeter"), own_secret=bool(data.get("own_secret", False)),
            secret=_opt_str(data.get("secret")), raw={k: v for k, v in data.items() if k != "secret"})


@dataclass(frozen=True)
class DeliveryQueued:
    """The 202 answer to a test event or a redelivery."""

    delivery_id: str
    webhook_id: str
    event_id: str
    event: str
    status: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DeliveryQueued:
        """Build from the API's JSON."""
        return cls(delivery_id=str(data["delivery_id"]), webhook_id=str(data["webhook_id"]),
                   event_id=str(data["event_id"]), event=str(data["event"]), status=str(data["status"]), raw=data)


@dataclass(frozen=True)
class ReportLink:
    """A short-lived report link and the SHA-256 of the report's bytes."""

    url: str
    expires_at: datetime
    sha256: str
    format: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ReportLink:
        """Build from the API's JSON."""
        return cls(url=str(data["url"]), expires_at=_time(data["expires_at"]), sha256=str(data["sha256"]),
                   format=str(data["format"]), raw=data)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list: its items and the cursor of the next page (None on the last)."""

    items: list[T]
    next_cursor: str | None = None

    @classmethod
    def from_dict(cls, data: dict[str, Any], item: Callable[[dict[str, Any]], T]) -> Page[T]:
        """Build from the API's JSON, each item with `item`."""
        return cls(items=[item(i) for i in data["items"]], next_cursor=_opt_str(data.get("next_cursor")))


@dataclass(frozen=True)
class FindingPage(Page[Finding]):
    """A page of a scan's findings, with the scan's token and status and the matches over all pages."""

    scan_token: str = ""
    scan_status: str = ""
    total: int = 0

    @classmethod
    def from_findings(cls, data: dict[str, Any]) -> FindingPage:
        """Build from the API's JSON."""
        return cls(items=[Finding.from_dict(i) for i in data["items"]], next_cursor=_opt_str(data.get("next_cursor")),
                   scan_token=str(data["scan_token"]), scan_status=str(data["scan_status"]), total=int(data["total"]))


def severity_rank(severity: str) -> int:
    """0 for critical ... 4 for info; raises ValueError for an unknown severity."""
    try:
        return SEVERITIES.index(severity.lower())
    except ValueError:
        raise ValueError(f"unknown severity {severity!r}; one of {', '.join(SEVERITIES)}") from None


def grade_rank(grade: str) -> int:
    """0 for A ... 4 for F; raises ValueError for an unknown grade."""
    try:
        return GRADES.index(grade.upper())
    except ValueError:
        raise ValueError(f"unknown grade {grade!r}; one of {', '.join(GRADES)}") from None
