"""What a report shows: `ReportData` built from a scored Scan, and the partner's `Branding`."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any, Literal

import idna
from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.reports.branding import Branding
from chalicelib.reports.sa_model import SelfAssessmentSection, self_assessment_section
from chalicelib.scans import scoring
from chalicelib.scans.models import (
    SIGNALS_BY_TYPE,
    Finding,
    GradeCap,
    Scan,
    ScanStatus,
    ScanType,
    Severity,
    SignalKey,
    SignalStatus,
)

SIGNAL_ORDER: tuple[SignalKey, ...] = (
    SignalKey.SCAN, SignalKey.BREACH, SignalKey.REPUTATION, SignalKey.MAIL, SignalKey.LAYER, SignalKey.WEB,
    SignalKey.WEBAPP, SignalKey.CONTAINER,
)
SIGNAL_LABELS: dict[SignalKey, str] = {
    SignalKey.SCAN: "Exposed services",
    SignalKey.BREACH: "Credential breaches",
    SignalKey.REPUTATION: "Domain reputation",
    SignalKey.MAIL: "Email security",
    SignalKey.LAYER: "TLS configuration",
    SignalKey.WEB: "Web security headers",
    SignalKey.WEBAPP: "Web application testing",
    SignalKey.CONTAINER: "Container image",
}
SIGNAL_DESCRIPTIONS: dict[SignalKey, str] = {
    SignalKey.SCAN: "Ports and services reachable from the internet.",
    SignalKey.BREACH: "Accounts of the domain found in known credential breaches.",
    SignalKey.REPUTATION: "Listings of the domain and its addresses on DNS blocklists.",
    SignalKey.MAIL: "SPF, DKIM, DMARC, MX, MTA-STS and TLS-RPT records.",
    SignalKey.LAYER: "Certificate validity, chain, hostname, key strength, protocol versions.",
    SignalKey.WEB: "HTTP security headers; reported for information, not scored.",
    SignalKey.WEBAPP: "Injection, cross-site scripting, traversal and redirects found by crawling and testing the app.",
    SignalKey.CONTAINER: "Packages of the image with known vulnerabilities, secrets and misconfigurations.",
}
# The points per signal of the current scoring table, shown when a scan lacks a signal.
DEFAULT_SIGNAL_MAX: dict[SignalKey, int] = {key: scoring.MAX_SCORES[key] for key in SIGNAL_ORDER}
SEVERITY_ORDER: tuple[Severity, ...] = (
    Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO,
)


class GradeBand(BaseModel):
    """A grade, the lowest score that earns it, and its plain-language label."""

    model_config = ConfigDict(frozen=True)

    grade: str
    min_score: int
    label: str


# The scoring table is the one source of grade bands; reports only reshape it.
GRADE_BANDS: tuple[GradeBand, ...] = tuple(
    GradeBand(grade=grade, min_score=floor, label=label) for floor, grade, label in scoring.GRADE_BANDS
)

def grade_for(score: int) -> GradeBand:
    """The band a 0-100 score falls in."""
    for band in GRADE_BANDS:
        if score >= band.min_score:
            return band
    return GRADE_BANDS[-1]


def _label_for(grade: str) -> str:
    return next((band.label for band in GRADE_BANDS if band.grade == grade), "")


class SignalRow(BaseModel):
    """One line of the score breakdown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: SignalKey
    label: str
    description: str
    status: SignalStatus
    score: int | None
    max_score: int
    informational: bool
    findings_count: int
    error: str | None = None


class ReportFinding(BaseModel):
    """A finding as the report shows it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str
    signal: SignalKey
    code: str
    severity: Severity
    title: str
    detail: str
    remediation: str
    cwe: str | None
    evidence: dict[str, Any]
    product: str | None = None
    version: str | None = None
    cpe: str | None = None
    cve: str | None = None
    kev: bool | None = None
    ransomware: bool | None = None

    @property
    def subject(self) -> str:
        """`product version · CVE` as far as known ('' when the finding names no product or CVE)."""
        named = " ".join(p for p in (self.product, self.version) if p)
        return " · ".join(p for p in (named, self.cve) if p)


class CoverageItem(BaseModel):
    """Whether a signal was tested and, when it was not, why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signal: SignalKey
    label: str
    status: SignalStatus
    tested: bool
    reason: str | None = None


class ReportData(BaseModel):
    """Everything a report renders, independent of the output format."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    format: Literal["perimeter.report"] = "perimeter.report"
    format_version: Literal[1] = 1
    scan_token: str
    target: str = Field(description="The target as scanned (ASCII, IDNA xn-- form for Unicode domains).")
    target_unicode: str = Field(description="The target for humans (Unicode form).")
    scan_type: ScanType
    scan_name: str | None
    tags: list[str]
    status: ScanStatus
    score: int | None = Field(ge=0, le=100, description="None when not scored: see not_scored_reason.")
    max_score: int = 100
    grade: str | None
    grade_label: str | None
    ready: bool | None
    not_scored_reason: str | None = Field(
        default=None, description="Why the scan has no score (e.g. 'not scored: no signal could be tested').")
    ready_threshold: int
    scoring_version: str
    caps: list[GradeCap] = Field(default_factory=list, description="Grade caps applied, strictest first.")
    intel_version: str | None = None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    generated_at: datetime
    signals: list[SignalRow]
    findings: list[ReportFinding]
    severity_counts: dict[Severity, int]
    coverage: list[CoverageItem]
    coverage_details: dict[str, Any]
    branding: Branding | None
    self_assessment: SelfAssessmentSection | None = Field(
        default=None, description="The insured's submitted self-assessment: answers per control, the scores, and "
                                  "the answers the scan contradicts. `grade` and `ready` follow the combined score "
                                  "when there is one; `score` stays the external score.")

    @model_validator(mode="after")
    def _counts_match(self) -> ReportData:
        if self.severity_counts != _severity_counts(self.findings):
            raise ValueError("severity_counts does not match the findings")
        return self

    @property
    def has_unicode_target(self) -> bool:
        """True when the human form differs from the scanned (IDNA) form."""
        return self.target_unicode != self.target


def _severity_counts(findings: list[ReportFinding]) -> dict[Severity, int]:
    counts = Counter(f.severity for f in findings)
    return {severity: counts.get(severity, 0) for severity in SEVERITY_ORDER}


def target_forms(target: str) -> tuple[str, str]:
    """(ASCII/IDNA form, Unicode form) of a target; non-domain targets come back unchanged."""
    try:
        if target.isascii():
            return target, idna.decode(target)
        return idna.encode(target, uts46=True).decode("ascii"), target
    except (idna.IDNAError, UnicodeError, ValueError):
        return target, target


def _aware(value: datetime, name: str) -> datetime:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC)


def _coverage_reason(key: SignalKey, status: SignalStatus, error: str | None, details: dict[str, Any]) -> str:
    """Why a signal was not tested: the signal's own error, else the scan's coverage note, else a default."""
    note = details.get(key.value)
    if isinstance(note, dict):
        note = note.get("reason")
    if error:
        return error
    if isinstance(note, str) and note:
        return note
    if status is SignalStatus.ERROR:
        return "The check failed to complete."
    return "The check could not run."


def shown_signals(scan: Scan) -> list[SignalKey]:
    """The signals a report covers, in order: the posture signals (tested or not) and the scan's own."""
    posture = set(SIGNALS_BY_TYPE[ScanType.POSTURE])
    return [k for k in SIGNAL_ORDER if k in posture or k.value in scan.signals]


def _signal_rows(scan: Scan) -> tuple[list[SignalRow], list[CoverageItem]]:
    rows: list[SignalRow] = []
    coverage: list[CoverageItem] = []
    details = scan.coverage or {}
    known = [k for k in SIGNAL_ORDER if k.value in scan.signals]
    extra = sorted(k for k in scan.signals if k not in {s.value for s in SIGNAL_ORDER})
    if extra:
        raise ValueError(f"unknown signals in scan: {', '.join(extra)}")
    for key in shown_signals(scan):
        label = SIGNAL_LABELS[key]
        if key not in known:
            coverage.append(CoverageItem(
                signal=key, label=label, status=SignalStatus.NOT_TESTED, tested=False,
                reason=f"Not part of a {scan.scan_type.value} scan.",
            ))
            continue
        result = scan.signals[key.value]
        rows.append(SignalRow(
            key=key, label=label, description=SIGNAL_DESCRIPTIONS[key], status=result.status,
            score=result.score, max_score=result.max_score, informational=result.max_score == 0,
            findings_count=sum(result.severity_counts.values()) if result.severity_counts is not None
            else len(result.findings), error=result.error,
        ))
        tested = result.status is SignalStatus.COMPLETE
        coverage.append(CoverageItem(
            signal=key, label=label, status=result.status, tested=tested,
            reason=None if tested else _coverage_reason(key, result.status, result.error, details),
        ))
    return rows, coverage


def _findings(findings: list[Finding]) -> list[ReportFinding]:
    rank = {s: i for i, s in enumerate(SEVERITY_ORDER)}
    signal_rank = {s: i for i, s in enumerate(SIGNAL_ORDER)}
    found = [
        ReportFinding(
            id=f.id, signal=f.signal, code=f.code, severity=f.severity, title=f.title, detail=f.detail,
            remediation=f.remediation, cwe=f.cwe, evidence=f.evidence, product=f.product, version=f.version,
            cpe=f.cpe, cve=f.cve, kev=f.kev, ransomware=f.ransomware,
        )
        for f in findings
    ]
    found.sort(key=lambda f: (rank[f.severity], signal_rank[f.signal], f.title.casefold(), f.id))
    return found


def report_data(scan: Scan, branding: Branding | None, generated_at: datetime,
                findings: list[Finding] | None = None) -> ReportData:
    """Build the report's data from a scan the Score step has run on; ValueError if it has not.

    `findings`: every finding of the scan (ScanService.all_findings); default: those in the scan item.

    A scan Score left without a score (no signal could be tested, or none carries points) gets a
    report too: score, grade and readiness None and `not_scored_reason` saying why.
    """
    if not scan.scoring_version:
        raise ValueError("the scan has not been scored yet (no scoring_version)")
    rows, coverage = _signal_rows(scan)
    found = _findings(findings if findings is not None else [f for r in scan.signals.values() for f in r.findings])
    ascii_form, unicode_form = target_forms(scan.target)
    return ReportData(
        scan_token=scan.scan_id,
        target=ascii_form,
        target_unicode=unicode_form,
        scan_type=scan.scan_type,
        scan_name=scan.name,
        tags=list(scan.tags),
        status=scan.status,
        **_verdict(scan, rows),
        ready_threshold=scan.ready_threshold,
        scoring_version=scan.scoring_version,
        caps=list(scan.caps),
        intel_version=scan.intel_version,
        created_at=_aware(scan.created_at, "created_at"),
        started_at=_aware(scan.started_at, "started_at") if scan.started_at else None,
        completed_at=_aware(scan.completed_at, "completed_at") if scan.completed_at else None,
        generated_at=_aware(generated_at, "generated_at"),
        signals=rows,
        findings=found,
        severity_counts=_severity_counts(found),
        coverage=coverage,
        coverage_details=dict(scan.coverage or {}),
        branding=branding,
        self_assessment=self_assessment_section(scan),
    )


def _verdict(scan: Scan, rows: list[SignalRow]) -> dict[str, Any]:
    """score, grade, grade_label, ready and not_scored_reason of the report."""
    if scan.score is None:
        note = (scan.coverage or {}).get("not_scored")
        tested = [row.key.value for row in rows if row.status is SignalStatus.COMPLETE]
        reason = note if isinstance(note, str) and note else scoring.not_scored_reason(tested)
        return {"score": None, "grade": None, "grade_label": None, "ready": None, "not_scored_reason": reason}
    grade = scan.grade or grade_for(scan.score).grade
    return {"score": scan.score, "grade": grade, "grade_label": scan.grade_label or _label_for(grade),
            "ready": scan.ready if scan.ready is not None else scan.score >= scan.ready_threshold}
