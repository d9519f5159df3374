"""The questionnaire data: valid, complete, scored as documented, with contradiction rules that name real things."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from chalicelib.scanners import base, checks
from chalicelib.scans.models import Finding, Severity, SignalKey
from chalicelib.selfassessment import questionnaire
from chalicelib.selfassessment.models import InvalidAnswers
from tests.unit.selfassessment.conftest import answers

DATA = questionnaire.load()
ESSENTIAL_EIGHT = {"application_control", "patch_applications", "office_macros", "user_application_hardening",
                   "restrict_admin_privileges", "patch_operating_systems", "mfa", "regular_backups"}
STAPLES = {"incident_response", "backup_recovery", "edr", "email_filtering"}


def real_codes() -> set[str]:
    assert checks.CHECKS  # importing checks registers every catalog
    return {code for catalog in base.CATALOGS for code in catalog.specs}


def test_every_questionnaire_file_loads_and_is_cached() -> None:
    for path in questionnaire.QUESTIONNAIRES.glob("*.json"):
        loaded = questionnaire.load(path.stem)
        assert loaded.version == path.stem and questionnaire.load(path.stem) is loaded


def test_the_questionnaire_covers_the_essential_eight_and_the_insurer_staples() -> None:
    assert {s.id for s in DATA.sections} == ESSENTIAL_EIGHT | STAPLES


def test_every_question_offers_distinct_options_with_points_in_range() -> None:
    for question in DATA.questions():
        values = [o.value for o in question.options]
        assert len(values) >= 2 and len(set(values)) == len(values), question.id
        assert all(0 <= o.points <= 100 for o in question.options), question.id
        assert min(o.points for o in question.options) == 0 < max(o.points for o in question.options), question.id
        assert question.text and all(o.label for o in question.options)


def test_every_contradiction_names_a_real_finding_code_question_and_answer() -> None:
    codes = real_codes()
    by_id = {q.id: q for q in DATA.questions()}
    assert DATA.contradictions
    for rule in DATA.contradictions:
        assert set(rule.finding_codes) <= codes, (rule.id, set(rule.finding_codes) - codes)
        assert rule.question_id in by_id
        assert set(rule.answers) <= {o.value for o in by_id[rule.question_id].options}


def test_the_contradictions_the_brief_names_are_there() -> None:
    pairs = {(r.question_id, code) for r in DATA.contradictions for code in r.finding_codes}
    assert {("mfa_coverage", "rdp-exposed"), ("mfa_coverage", "appliance-portal-exposed"),
            ("mfa_coverage", "login-panel-exposed"), ("patch_applications", "known-exploited-version"),
            ("patch_applications", "eol-software"), ("patch_applications", "outdated-software"),
            ("email_filtering", "dmarc-missing"), ("email_filtering", "spf-missing")} <= pairs


def test_a_rule_naming_an_unknown_answer_is_refused() -> None:
    raw = json.loads((questionnaire.QUESTIONNAIRES / "2026-12.json").read_text())
    raw["contradictions"][0]["answers"] = ["always"]
    with pytest.raises(ValidationError, match="unknown answers"):
        questionnaire.QuestionnaireData.model_validate(raw)


def test_an_unknown_version_is_not_found() -> None:
    with pytest.raises(FileNotFoundError):
        questionnaire.load("../settings")


@pytest.mark.parametrize(("given", "expected"), [("best", 100), ("worst", 0)])
def test_all_best_scores_100_and_all_worst_scores_0(given: str, expected: int) -> None:
    assert questionnaire.score_answers(DATA, answers(given)) == expected


def test_a_partial_score_is_points_over_the_maximum_rounded_half_up() -> None:
    given = answers("worst")
    given["mfa_coverage"] = "ml3"  # 3 of 39 points: 7.69 -> 8
    assert DATA.max_points() == 39
    assert questionnaire.score_answers(DATA, given) == 8
    given["backups"] = "ml2"  # 5 of 39: 12.8 -> 13
    assert questionnaire.score_answers(DATA, given) == 13


def test_half_points_round_up() -> None:
    small = questionnaire.QuestionnaireData.model_validate({
        "version": "t", "title": "t", "sections": [{"id": "s", "title": "s", "questions": [
            {"id": "a", "text": "a", "options": [{"value": "n", "label": "n", "points": 0},
                                                 {"value": "y", "label": "y", "points": 1}]},
            {"id": "b", "text": "b", "options": [{"value": "n", "label": "n", "points": 0},
                                                 {"value": "y", "label": "y", "points": 7}]}]}]})
    assert questionnaire.score_answers(small, {"a": "y", "b": "n"}) == 13  # 12.5 -> 13


def test_unknown_questions_and_values_and_open_required_questions_are_refused() -> None:
    with pytest.raises(InvalidAnswers) as refused:
        questionnaire.check_answers(DATA, {"mfa_coverage": "sometimes", "favourite_colour": "blue"}, complete=False)
    assert {e["field"] for e in refused.value.extra["errors"]} == {"mfa_coverage", "favourite_colour"}
    with pytest.raises(InvalidAnswers) as incomplete:
        questionnaire.check_answers(DATA, {"mfa_coverage": "ml3"}, complete=True)
    assert len(incomplete.value.extra["errors"]) == len(DATA.questions()) - 1


def test_a_claim_and_a_contradicting_finding_make_a_contradiction() -> None:
    finding = Finding(id="f1", signal=SignalKey.SCAN, code="rdp-exposed", severity=Severity.HIGH, title="RDP")
    claimed = {"mfa_coverage": "ml2"}
    found = questionnaire.contradictions(DATA, claimed, [finding])
    assert [(c.rule, c.question_id, c.answer, c.finding_id) for c in found] == [
        ("mfa-vs-remote-desktop", "mfa_coverage", "ml2", "f1")]
    assert questionnaire.contradictions(DATA, {"mfa_coverage": "ml1"}, [finding]) == []
