"""The questionnaire as versioned data (questionnaires/<version>.json), its scoring and its contradiction rules.

Pure: loaded once per version, no I/O after that. `score_answers` turns answers into a 0-100 score;
`contradictions` names the answers a scan's findings contradict.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.scans.models import Contradiction, Finding
from chalicelib.selfassessment.models import InvalidAnswers, Question, Questionnaire, Section

CURRENT_VERSION = "2026-12"
QUESTIONNAIRES = Path(__file__).with_name("questionnaires")


class ContradictionRule(BaseModel):
    """Answers that claim a control (`question_id` in `answers`) x finding codes that show it missing."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str = Field(pattern=r"^[a-z0-9-]{1,60}$")
    question_id: str
    answers: tuple[str, ...] = Field(min_length=1)
    finding_codes: tuple[str, ...] = Field(min_length=1)
    message: str = Field(min_length=1)


class QuestionnaireData(BaseModel):
    """The whole versioned file: the questionnaire the page shows, plus the contradiction table."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str
    title: str
    introduction: str = ""
    sections: tuple[Section, ...]
    contradictions: tuple[ContradictionRule, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> QuestionnaireData:
        """Unique ids, options per question, and rules that name real questions and answers."""
        questions = [q for s in self.sections for q in s.questions]
        ids = [q.id for q in questions]
        if len(set(ids)) != len(ids):
            raise ValueError("question ids must be unique")
        if len({s.id for s in self.sections}) != len(self.sections):
            raise ValueError("section ids must be unique")
        by_id = {q.id: q for q in questions}
        for question in questions:
            values = [o.value for o in question.options]
            if len(values) < 2 or len(set(values)) != len(values):
                raise ValueError(f"question {question.id} needs at least two distinct options")
            if max(o.points for o in question.options) == 0:
                raise ValueError(f"question {question.id} has no option worth points")
        if len({r.id for r in self.contradictions}) != len(self.contradictions):
            raise ValueError("contradiction ids must be unique")
        for rule in self.contradictions:
            claimed = by_id.get(rule.question_id)
            if claimed is None:
                raise ValueError(f"contradiction {rule.id} names unknown question {rule.question_id}")
            unknown = set(rule.answers) - {o.value for o in claimed.options}
            if unknown:
                raise ValueError(f"contradiction {rule.id} names unknown answers {sorted(unknown)}")
        return self

    @property
    def questionnaire(self) -> Questionnaire:
        """What the page shows (no contradiction rules)."""
        return Questionnaire(version=self.version, title=self.title, introduction=self.introduction,
                             sections=self.sections)

    def questions(self) -> list[Question]:
        """Every question, in page order."""
        return [q for s in self.sections for q in s.questions]

    def max_points(self) -> int:
        """The points of the best answer to every question."""
        return sum(max(o.points for o in q.options) for q in self.questions())


@cache
def load(version: str = CURRENT_VERSION) -> QuestionnaireData:
    """The questionnaire `version`, read and validated once; raises FileNotFoundError, ValidationError."""
    if not version.replace("-", "").replace(".", "").isalnum():
        raise FileNotFoundError(version)
    return QuestionnaireData.model_validate_json((QUESTIONNAIRES / f"{version}.json").read_text())


def check_answers(data: QuestionnaireData, answers: Mapping[str, str], *, complete: bool) -> None:
    """Raise InvalidAnswers (with `errors` per question) for unknown questions or values, or, when
    `complete`, for required questions left open."""
    by_id = {q.id: q for q in data.questions()}
    errors: list[dict[str, str]] = []
    for question_id, value in answers.items():
        question = by_id.get(question_id)
        if question is None:
            errors.append({"field": str(question_id)[:60], "message": "No such question."})
        elif value not in {o.value for o in question.options}:
            errors.append({"field": question_id, "message": "Not one of the offered answers."})
    if complete:
        errors += [{"field": q.id, "message": "This question needs an answer."}
                   for q in data.questions() if q.required and q.id not in answers]
    if errors:
        raise InvalidAnswers(f"{len(errors)} answer(s) need attention.", errors=errors)


def score_answers(data: QuestionnaireData, answers: Mapping[str, str]) -> int:
    """Points earned over the best possible, as 0-100 rounded half up (unanswered questions earn 0)."""
    earned = 0
    for question in data.questions():
        chosen = answers.get(question.id)
        earned += next((o.points for o in question.options if o.value == chosen), 0)
    best = data.max_points()
    return (2 * earned * 100 + best) // (2 * best)


def contradictions(data: QuestionnaireData, answers: Mapping[str, str],
                   findings: Iterable[Finding]) -> list[Contradiction]:
    """Each (rule, finding) where an answer claims a control that the finding shows missing, in rule order."""
    found = list(findings)
    out: list[Contradiction] = []
    for rule in data.contradictions:
        answer = answers.get(rule.question_id)
        if answer is None or answer not in rule.answers:
            continue
        for finding in sorted((f for f in found if f.code in rule.finding_codes), key=lambda f: (f.code, f.id)):
            out.append(Contradiction(rule=rule.id, question_id=rule.question_id, answer=answer,
                                     finding_id=finding.id, finding_code=finding.code, signal=finding.signal,
                                     message=rule.message))
    return out
