"""The self-assessment's shapes: the questionnaire (versioned data), an insured's session, and the page's port.

The questionnaire service (`chalicelib.selfassessment.service`) and the public page
(`chalicelib.selfassessment.page`, routes in `chalicelib.api.sa_routes`) meet here.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.core.errors import Conflict, NotFound, Unprocessable


class AnswerOption(BaseModel):
    """One answer a question offers, worth `points` of the question's best answer."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    value: str = Field(pattern=r"^[a-z0-9_]{1,40}$")
    label: str
    points: int = Field(ge=0, le=100)


class Question(BaseModel):
    """One single-choice question (radio buttons on the page)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str = Field(pattern=r"^[a-z0-9_]{1,60}$")
    text: str
    help: str = ""
    options: tuple[AnswerOption, ...]
    required: bool = True


class Section(BaseModel):
    """A group of questions (one fieldset per question, one heading per section on the page)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    id: str
    title: str
    description: str = ""
    questions: tuple[Question, ...]


class Questionnaire(BaseModel):
    """A versioned questionnaire (selfassessment/questionnaires/<version>.json)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    version: str
    title: str
    introduction: str = ""
    sections: tuple[Section, ...]

    def questions(self) -> list[Question]:
        """Every question, in page order."""
        return [q for s in self.sections for q in s.questions]


class SaStatus(StrEnum):
    OPEN = "open"  # answers may still change (saved as the insured goes)
    SUBMITTED = "submitted"  # locked for good


class PageBranding(BaseModel):
    """What the page shows of the partner: its name, logo and colour; nothing else of the tenant."""

    model_config = ConfigDict(frozen=True)
    partner_name: str
    logo_data_uri: str | None = None  # data:image/png;base64,... (the CSP allows data: images only)
    primary_color: str = "#1f4e79"


class SaSession(BaseModel):
    """What the public page may know: the domain, the partner's branding, the questionnaire and the answers."""

    model_config = ConfigDict(frozen=True)
    domain: str
    branding: PageBranding
    questionnaire: Questionnaire
    answers: dict[str, str] = Field(default_factory=dict)
    status: SaStatus = SaStatus.OPEN
    expires_at: datetime
    saved_at: datetime | None = None
    submitted_at: datetime | None = None
    sa_score: int | None = None


class SelfAssessmentNotFound(NotFound):
    """An unknown, expired or malformed self-assessment token (all answer the same)."""

    code, title = "self-assessment-not-found", "No such self-assessment"


class SelfAssessmentSubmitted(Conflict):
    """The self-assessment was submitted and is locked."""

    code, title = "self-assessment-submitted", "The self-assessment was already submitted"


class InvalidAnswers(Unprocessable):
    """Answers naming unknown questions or values, or (on submit) leaving required questions open.

    `errors=[{"field": question_id, "message": ...}]` ties each problem to its question.
    """

    code, title = "invalid-answers", "Some answers are missing or not allowed"


class SelfAssessmentPort(Protocol):
    """What the public page needs of the self-assessment service."""

    def open(self, sa_token: str) -> SaSession:
        """The session behind a token; raises SelfAssessmentNotFound."""
        ...

    def save(self, sa_token: str, answers: Mapping[str, str], *, submit: bool = False) -> SaSession:
        """Merge `answers` into the saved ones; with `submit`, check completeness, score and lock.

        Raises SelfAssessmentNotFound, SelfAssessmentSubmitted, InvalidAnswers (nothing saved then).
        """
        ...
