"""Scoring as data: a versioned table of deductions per finding code, grade bands, and `score()`.

`score()` is pure: the same signal results always give the same score, whatever the finding order.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, ConfigDict

from chalicelib.scans.models import SignalKey, SignalResult, SignalStatus

SCORING_VERSION = "2025-01.1"

# Points each signal can contribute; the total is out of 100 (DESIGN.md section 6).
MAX_SCORES: dict[SignalKey, int] = {
    SignalKey.SCAN: 25,
    SignalKey.BREACH: 20,
    SignalKey.REPUTATION: 20,
    SignalKey.MAIL: 20,
    SignalKey.LAYER: 15,
    SignalKey.WEB: 0,
}

# Finding code -> points deducted from its signal, per finding. A signal never goes below zero.
DEDUCTIONS: dict[SignalKey, dict[str, int]] = {
    SignalKey.SCAN: {
        "docker-api-exposed": 25,
        "database-exposed": 15,
        "rdp-exposed": 15,
        "smb-exposed": 15,
        "telnet-exposed": 12,
        "vnc-exposed": 12,
        "ftp-exposed": 6,
        "admin-panel-exposed": 6,
        "cleartext-mail-access": 2,
        "ssh-exposed": 2,
        "open-port": 0,
    },
    SignalKey.BREACH: {
        "credentials-exposed": 10,
        "accounts-exposed": 5,
    },
    SignalKey.REPUTATION: {
        "domain-listed": 15,
        "address-listed": 10,
        "zone-error": 0,
    },
    SignalKey.MAIL: {
        "spf-missing": 6,
        "spf-multiple": 6,
        "spf-syntax-error": 6,
        "spf-plus-all": 8,
        "spf-neutral-all": 4,
        "spf-no-all": 4,
        "spf-softfail-all": 1,
        "spf-too-many-lookups": 4,
        "spf-include-broken": 4,
        "spf-ptr": 1,
        "dmarc-missing": 8,
        "dmarc-multiple": 6,
        "dmarc-invalid": 6,
        "dmarc-policy-none": 5,
        "dmarc-partial-pct": 2,
        "dmarc-no-rua": 1,
        "dkim-not-found": 3,
        "dkim-weak-key": 4,
        "dkim-short-key": 1,
        "dkim-key-revoked": 0,
        "no-mx": 0,
        "null-mx": 0,
        "mx-unresolvable": 2,
        "mta-sts-missing": 1,
        "mta-sts-policy-unreachable": 3,
        "mta-sts-policy-invalid": 3,
        "mta-sts-testing": 1,
        "mta-sts-mode-none": 1,
        "mta-sts-mx-mismatch": 3,
        "mta-sts-policy-not-checked": 0,
        "tlsrpt-missing": 1,
        "tlsrpt-invalid": 1,
        "mail-summary": 0,
    },
    SignalKey.LAYER: {
        "cert-expired": 15,
        "cert-not-yet-valid": 10,
        "cert-expiring-soon": 5,
        "cert-expiring": 2,
        "cert-self-signed": 10,
        "cert-untrusted": 10,
        "cert-hostname-mismatch": 10,
        "weak-key": 8,
        "weak-signature": 8,
        "tls10-enabled": 4,
        "tls11-enabled": 3,
        "no-tls13": 0,
        "tls-summary": 0,
    },
    SignalKey.WEB: {
        "no-https-redirect": 0,
        "https-unavailable": 0,
        "hsts-missing": 0,
        "hsts-short-max-age": 0,
        "csp-missing": 0,
        "csp-unsafe-inline": 0,
        "clickjacking-unprotected": 0,
        "xcto-missing": 0,
        "referrer-policy-missing": 0,
        "cookie-not-secure": 0,
        "cookie-not-httponly": 0,
        "cookie-no-samesite": 0,
        "server-version-disclosed": 0,
        "redirect-not-followed": 0,
        "headers-observed": 0,
    },
}

# (lowest score, grade, label), best first.
GRADE_BANDS: tuple[tuple[int, str, str], ...] = (
    (90, "A", "Low risk"),
    (80, "B", "Low-moderate risk"),
    (70, "C", "Moderate risk"),
    (60, "D", "Elevated risk"),
    (0, "F", "High risk"),
)


class UnknownFindingCode(ValueError):
    """A finding code (or signal) that this scoring version has no deduction for."""


class ScoreResult(BaseModel):
    """The outcome of scoring one scan's signals."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    scoring_version: str = SCORING_VERSION
    score: int | None
    grade: str | None
    grade_label: str | None
    ready: bool | None
    coverage: dict[str, list[str]]
    signal_scores: dict[str, int | None]
    not_scored: str | None = None  # why score and grade are None (recorded as coverage["not_scored"])


def grade_for(score: int) -> tuple[str, str]:
    """The (grade, label) band a 0-100 score falls in."""
    for floor, grade, label in GRADE_BANDS:
        if score >= floor:
            return grade, label
    return GRADE_BANDS[-1][1], GRADE_BANDS[-1][2]


def signal_score(key: SignalKey, result: SignalResult) -> int | None:
    """Points a complete signal earns (max minus deductions, floor 0); None when not complete.

    Raises UnknownFindingCode for a finding code missing from DEDUCTIONS.
    """
    if result.status is not SignalStatus.COMPLETE:
        return None
    table = DEDUCTIONS[key]
    lost = 0
    for finding in result.findings:
        if finding.code not in table:
            raise UnknownFindingCode(f"{key.value}: no deduction for finding code {finding.code!r}")
        lost += table[finding.code]
    return max(0, MAX_SCORES[key] - lost)


def score(signals: Mapping[str, SignalResult], ready_threshold: int) -> ScoreResult:
    """Score a scan from its signal results.

    Signals that are `not_tested` or `error` are never scored as failures: the total is the points
    earned by the complete signals scaled to 100 over their combined maximum, because that keeps the
    grade a statement about what was observed instead of granting points for checks that never ran.
    With no complete signal carrying weight the score, grade, label and `ready` are None: the scan still
    completes, and its coverage and report say why it was not scored (docs/decisions.md, 2026-12-06).
    Raises UnknownFindingCode for an unknown signal key or finding code.
    """
    coverage: dict[str, list[str]] = {"tested": [], "not_tested": [], "error": []}
    per_signal: dict[str, int | None] = {}
    earned = possible = 0
    for key in sorted(signals, key=_signal_order):
        result = signals[key]
        try:
            signal = SignalKey(key)
        except ValueError:
            raise UnknownFindingCode(f"unknown signal {key!r}") from None
        bucket = {SignalStatus.COMPLETE: "tested", SignalStatus.NOT_TESTED: "not_tested"}.get(result.status, "error")
        coverage[bucket].append(key)
        points = signal_score(signal, result)
        per_signal[key] = points
        if points is not None:
            earned += points
            possible += MAX_SCORES[signal]
    if possible == 0:
        return ScoreResult(score=None, grade=None, grade_label=None, ready=None, coverage=coverage,
                           signal_scores=per_signal, not_scored=not_scored_reason(coverage["tested"]))
    total = (earned * 100 + possible // 2) // possible
    grade, label = grade_for(total)
    return ScoreResult(score=total, grade=grade, grade_label=label, ready=total >= ready_threshold,
                       coverage=coverage, signal_scores=per_signal)


def not_scored_reason(tested: list[str]) -> str:
    """Why a scan has no score: nothing could be tested, or what was tested carries no points."""
    if not tested:
        return "not scored: no signal could be tested"
    weights = ", ".join(f"{key} 0" for key in tested)
    return f"not scored: none of the tested signals carries points ({weights} in scoring version {SCORING_VERSION})"


def apply_scores(signals: Mapping[str, SignalResult]) -> dict[str, SignalResult]:
    """Copies of the signal results with `score` and `max_score` filled in from this table."""
    out: dict[str, SignalResult] = {}
    for key, result in signals.items():
        signal = SignalKey(key)
        out[key] = result.model_copy(update={"score": signal_score(signal, result),
                                             "max_score": MAX_SCORES[signal]})
    return out


def _signal_order(key: str) -> tuple[int, str]:
    order = [k.value for k in SignalKey]
    return (order.index(key) if key in order else len(order), key)
