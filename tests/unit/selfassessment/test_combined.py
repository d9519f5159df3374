"""The combined score: the scoring table's weights, rounding, and grade caps that still hold."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from chalicelib.scans import scoring
from chalicelib.scans.models import GradeCap

RDP = GradeCap(code="rdp-exposed", max_grade="C", reason="RDP")
KEV = GradeCap(code="known-exploited-version", max_grade="D", reason="KEV")


def test_the_current_table_weighs_the_external_score_70_to_30() -> None:
    assert scoring.COMBINED is not None
    assert (scoring.COMBINED.external_weight, scoring.COMBINED.self_assessment_weight) == (70, 30)
    assert scoring.COMBINED.rationale


@pytest.mark.parametrize(("external", "sa", "combined", "grade"), [
    (100, 100, 100, "A"), (0, 0, 0, "F"), (100, 0, 70, "C"), (0, 100, 30, "F"), (80, 50, 71, "C"),
    (85, 90, 87, "B"),  # 86.5 rounds half up
])
def test_the_combined_score_is_the_weighted_mean_rounded_half_up(external: int, sa: int, combined: int,
                                                                  grade: str) -> None:
    effective = scoring.combine(external, sa, [], 65)
    assert effective is not None
    assert (effective.combined_score, effective.combined_grade) == (combined, grade)


def test_readiness_follows_the_combined_score() -> None:
    low = scoring.combine(70, 40, [], 65)
    high = scoring.combine(60, 100, [], 65)
    assert low is not None and high is not None
    assert (low.combined_score, low.ready) == (61, False)
    assert (high.combined_score, high.ready) == (72, True)


def test_a_capped_scan_never_combines_above_its_cap() -> None:
    effective = scoring.combine(79, 100, [RDP], 65)  # 85.3 uncapped
    assert effective is not None and (effective.combined_score, effective.combined_grade) == (79, "C")
    strictest = scoring.combine(79, 100, [RDP, KEV], 65)
    assert strictest is not None and strictest.combined_grade == "D" and strictest.combined_score == 69


def test_a_cap_above_the_combined_score_changes_nothing() -> None:
    effective = scoring.combine(60, 20, [RDP], 65)
    assert effective is not None and (effective.combined_score, effective.combined_grade) == (48, "F")


def test_a_table_without_combined_weights_has_no_combined_score() -> None:
    raw = json.loads((scoring.TABLES / "2026-12.json").read_text())
    raw.pop("combined")
    table = scoring.ScoringTable.model_validate(raw)
    assert table.combined is None
    assert scoring.load_table("2025-01.1").combined is None


def test_weights_that_are_both_zero_are_refused() -> None:
    with pytest.raises(ValidationError, match="cannot both be 0"):
        scoring.CombinedWeights(external_weight=0, self_assessment_weight=0)


def test_scores_outside_0_to_100_are_refused() -> None:
    with pytest.raises(ValueError, match="0-100"):
        scoring.combine(101, 50, [], 65)
