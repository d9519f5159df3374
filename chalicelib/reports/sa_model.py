"""The report's self-assessment section: the insured's answers per control, the scores, and the answers the
scan contradicts, built from a scan's submitted self-assessment and its questionnaire (versioned data)."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.scans import scoring
from chalicelib.scans.models import Scan, SignalKey
from chalicelib.selfassessment import questionnaire


class SaAnswerRow(BaseModel):
    """One question as answered."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    control: str = Field(description="The section (control) the question belongs to.")
    question_id: str
    question: str
    answer: str | None = Field(description="The answer value; null for an optional question left open.")
    answer_label: str
    points: int
    max_points: int
    contradicted: bool = Field(description="True when a finding of the scan contradicts this answer.")


class SaContradictionRow(BaseModel):
    """An answer a finding of the scan contradicts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    control: str
    question_id: str
    question: str
    answer_label: str
    finding_id: str
    finding_code: str
    finding_title: str
    signal: SignalKey
    message: str


class SelfAssessmentSection(BaseModel):
    """What the report shows of a submitted self-assessment."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    questionnaire_version: str
    submitted_at: datetime
    sa_score: int = Field(ge=0, le=100)
    external_score: int | None = Field(description="The scan's own score (`score`).")
    external_grade: str | None = Field(description="The grade of the external score alone (caps applied).")
    combined_score: int | None
    combined_grade: str | None
    external_weight: int | None = Field(description="The scoring table's weight of the external score.")
    self_assessment_weight: int | None
    answers: list[SaAnswerRow]
    contradictions: list[SaContradictionRow]


def self_assessment_section(scan: Scan) -> SelfAssessmentSection | None:
    """The section of a scan whose self-assessment was submitted; None otherwise.

    Raises FileNotFoundError for a questionnaire version this build does not ship.
    """
    record = scan.self_assessment
    if not scan.sa_complete or record is None or scan.sa_score is None:
        return None
    data = questionnaire.load(record.questionnaire_version)
    titles = {f.id: f.title for result in scan.signals.values() for f in result.findings}
    contradicted = {c.question_id for c in record.contradictions}
    answers: list[SaAnswerRow] = []
    where: dict[str, tuple[str, str, str]] = {}  # question id -> (control, question, answer label)
    for section in data.sections:
        for q in section.questions:
            chosen = record.answers.get(q.id)
            option = next((o for o in q.options if o.value == chosen), None)
            label = option.label if option is not None else "Not answered"
            where[q.id] = (section.title, q.text, label)
            answers.append(SaAnswerRow(control=section.title, question_id=q.id, question=q.text, answer=chosen,
                                       answer_label=label, points=option.points if option else 0,
                                       max_points=max(o.points for o in q.options),
                                       contradicted=q.id in contradicted))
    rows: list[SaContradictionRow] = []
    for c in record.contradictions:
        control, question, label = where.get(c.question_id, ("", c.question_id, c.answer))
        rows.append(SaContradictionRow(control=control, question_id=c.question_id, question=question,
                                       answer_label=label, finding_id=c.finding_id, finding_code=c.finding_code,
                                       finding_title=titles.get(c.finding_id, c.finding_code), signal=c.signal,
                                       message=c.message))
    weights = scoring.COMBINED
    return SelfAssessmentSection(
        questionnaire_version=record.questionnaire_version, submitted_at=record.submitted_at.astimezone(UTC),
        sa_score=scan.sa_score, external_score=scan.score,
        external_grade=scoring.grade_for(scan.score)[0] if scan.score is not None else None,
        combined_score=scan.combined_score, combined_grade=scan.combined_grade,
        external_weight=weights.external_weight if weights else None,
        self_assessment_weight=weights.self_assessment_weight if weights else None,
        answers=answers, contradictions=rows)
