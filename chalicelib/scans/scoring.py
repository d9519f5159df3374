"""Scoring as data: a versioned table (scoring_tables/<version>.json) of deductions per finding code,
signal weights, grade bands and grade caps, and `score()`.

`score()` is pure: the same signal results always give the same score, whatever the finding order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.scans.models import GradeCap, SignalKey, SignalResult, SignalStatus

SCORING_VERSION = "2026-12"
TABLES = Path(__file__).with_name("scoring_tables")
GRADE_ORDER = ("A", "B", "C", "D", "F")


# Signals younger than some tables; never weighted (DESIGN.md section 6: max_score 0).
_UNWEIGHTED_LATER = frozenset({SignalKey.WEBAPP, SignalKey.CONTAINER})


class GradeCapRule(BaseModel):
    """A finding code that keeps a scan at or below `max_grade`, with the reason shown to partners."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    signal: SignalKey
    code: str
    max_grade: Literal["A", "B", "C", "D", "F"]
    reason: str


class GradeBandRow(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    min_score: int
    grade: str
    label: str


class CombinedWeights(BaseModel):
    """How the external score and the self-assessment score mix into the combined score (relative weights)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    external_weight: int = Field(ge=0, le=100)
    self_assessment_weight: int = Field(ge=0, le=100)
    rationale: str = ""

    @model_validator(mode="after")
    def _some_weight(self) -> CombinedWeights:
        if self.external_weight + self.self_assessment_weight == 0:
            raise ValueError("the combined weights cannot both be 0")
        return self


class ScoringTable(BaseModel):
    """One scoring version: signal weights, deductions per finding code, grade bands, grade caps."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    description: str
    max_scores: dict[SignalKey, int]
    grade_bands: tuple[GradeBandRow, ...]
    deductions: dict[SignalKey, dict[str, int]]
    caps: tuple[GradeCapRule, ...] = ()
    combined: CombinedWeights | None = None  # absent: no combined score in this version

    @model_validator(mode="before")
    @classmethod
    def _later_signals_score_nothing(cls, data: Any) -> Any:
        """A signal added after a table was written (webapp, container) has max 0 and no deductions in it."""
        if isinstance(data, dict):
            later = [k.value for k in SignalKey if k in _UNWEIGHTED_LATER]  # SignalKey order: a stable page
            data = {**data, "max_scores": {**data.get("max_scores", {}), **{k: 0 for k in later
                                                                           if k not in data.get("max_scores", {})}},
                    "deductions": {**data.get("deductions", {}), **{k: {} for k in later
                                                                    if k not in data.get("deductions", {})}}}
        return data

    @model_validator(mode="after")
    def _consistent(self) -> ScoringTable:
        if set(self.max_scores) != set(SignalKey) or set(self.deductions) != set(SignalKey):
            raise ValueError("every signal needs a max score and a deduction table")
        for cap in self.caps:
            if cap.code not in self.deductions[cap.signal]:
                raise ValueError(f"cap on unknown code {cap.signal.value}/{cap.code}")
        return self


def load_table(version: str) -> ScoringTable:
    """The scoring table `version` (scoring_tables/<version>.json); raises FileNotFoundError, ValidationError."""
    return ScoringTable.model_validate_json((TABLES / f"{version}.json").read_text())


TABLE = load_table(SCORING_VERSION)

# Points each signal can contribute; the total is out of 100 (DESIGN.md section 6).
MAX_SCORES: dict[SignalKey, int] = dict(TABLE.max_scores)

# Finding code -> points deducted from its signal, per finding. A signal never goes below zero.
DEDUCTIONS: dict[SignalKey, dict[str, int]] = {key: dict(codes) for key, codes in TABLE.deductions.items()}

# (lowest score, grade, label), best first.
GRADE_BANDS: tuple[tuple[int, str, str], ...] = tuple((b.min_score, b.grade, b.label) for b in TABLE.grade_bands)

CAPS: tuple[GradeCapRule, ...] = TABLE.caps

COMBINED: CombinedWeights | None = TABLE.combined


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
    caps: list[GradeCap] = Field(default_factory=list)  # the caps that lowered this scan's grade
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
    applied = caps_for(signals)
    if applied:
        total = min(total, ceiling_of(applied[0].max_grade))
    grade, label = grade_for(total)
    return ScoreResult(score=total, grade=grade, grade_label=label, ready=total >= ready_threshold,
                       coverage=coverage, signal_scores=per_signal, caps=applied)


class Effective(BaseModel):
    """The combined score of a scan with a completed self-assessment, and the verdict it implies."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    combined_score: int
    combined_grade: str
    grade_label: str
    ready: bool


def combine(external: int, sa_score: int, caps: Sequence[GradeCap], ready_threshold: int,
            weights: CombinedWeights | None = None) -> Effective | None:
    """The weighted hybrid of the external and self-assessment scores (0-100, rounded half up).

    Grade caps hold the combined score and grade down exactly as they hold the external ones: a
    self-attested control never lifts a grade a critical exposure capped. None when the table has no
    `combined` weights. Raises ValueError for scores outside 0-100.
    """
    weights = weights or COMBINED
    if weights is None:
        return None
    if not (0 <= external <= 100 and 0 <= sa_score <= 100):
        raise ValueError("scores must be within 0-100")
    total = weights.external_weight + weights.self_assessment_weight
    mixed = external * weights.external_weight + sa_score * weights.self_assessment_weight
    value = (2 * mixed + total) // (2 * total)  # round half up
    if caps:
        value = min(value, min(ceiling_of(cap.max_grade) for cap in caps))
    grade, label = grade_for(value)
    return Effective(combined_score=value, combined_grade=grade, grade_label=label, ready=value >= ready_threshold)


def caps_for(signals: Mapping[str, SignalResult]) -> list[GradeCap]:
    """The grade caps the findings of complete signals trigger, one per code, strictest first."""
    present = {(key, f.code) for key, result in signals.items() if result.status is SignalStatus.COMPLETE
               for f in result.findings}
    hits = [c for c in CAPS if (c.signal.value, c.code) in present]
    hits.sort(key=lambda c: (-GRADE_ORDER.index(c.max_grade), c.code))
    return [GradeCap(code=c.code, max_grade=c.max_grade, reason=c.reason) for c in hits]


def ceiling_of(grade: str) -> int:
    """The highest score a scan capped at `grade` may keep: one below the next better grade's floor.

    A capped score moves down with its grade so that `ready` (score >= threshold) follows the cap too.
    """
    floors = {g: floor for floor, g, _ in GRADE_BANDS}
    better = GRADE_ORDER[: GRADE_ORDER.index(grade)]
    return min((floors[g] - 1 for g in better), default=100)


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
