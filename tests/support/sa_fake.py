"""An in-memory SelfAssessmentPort for the page's tests, and a small questionnaire to render.

It keeps the port's contract (chalicelib/selfassessment/models.py): unknown or expired tokens are
SelfAssessmentNotFound, a submitted one is SelfAssessmentSubmitted, unknown questions or values and
(on submit) unanswered required questions are InvalidAnswers with one error per field, and nothing
is saved when answers are refused.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from chalicelib.selfassessment.models import (
    AnswerOption,
    InvalidAnswers,
    PageBranding,
    Question,
    Questionnaire,
    SaSession,
    SaStatus,
    Section,
    SelfAssessmentNotFound,
    SelfAssessmentSubmitted,
)

MATURITY = (
    AnswerOption(value="no", label="No", points=0),
    AnswerOption(value="partly", label="Partly, on some systems", points=50),
    AnswerOption(value="yes", label="Yes, on every system", points=100),
)


def questionnaire() -> Questionnaire:
    """Two sections, four questions (one optional), three answers each."""
    return Questionnaire(version="test-1", title="Test questionnaire",
                         introduction="It takes about five minutes.", sections=(
        Section(id="essentials", title="Essential controls", description="Controls that stop most attacks.",
                questions=(
                    Question(id="mfa", text="Do staff use multi-factor authentication for email?",
                             help="For example a code from an app or a security key.", options=MATURITY),
                    Question(id="patching", text="Are security updates installed within two weeks?",
                             options=MATURITY),
                )),
        Section(id="recovery", title="Recovery", questions=(
            Question(id="backups", text="Are backups kept offline and tested?", options=MATURITY),
            Question(id="training", text="Do staff get phishing training?", options=MATURITY, required=False),
        )),
    ))


def session(domain: str = "example.com", *, partner: str = "Acme Insurance", color: str = "#1f4e79",
            logo: str | None = None, **changes: object) -> SaSession:
    """An open session expiring in a week (unless `changes` say otherwise)."""
    fields: dict[str, object] = {"expires_at": datetime.now(UTC) + timedelta(days=7), **changes}
    return SaSession(domain=domain, branding=PageBranding(partner_name=partner, logo_data_uri=logo,
                                                          primary_color=color),
                     questionnaire=questionnaire(), **fields)  # type: ignore[arg-type]


class FakeSelfAssessment:
    """The port over a dict of sessions by token."""

    def __init__(self) -> None:
        self.sessions: dict[str, SaSession] = {}
        self.saves: list[tuple[str, dict[str, str], bool]] = []
        self._lock = threading.Lock()

    def add(self, token: str, sa_session: SaSession) -> None:
        """Make `token` open `sa_session`."""
        self.sessions[token] = sa_session

    def open(self, sa_token: str) -> SaSession:
        """The session behind a live token; raises SelfAssessmentNotFound."""
        found = self.sessions.get(sa_token)
        if found is None or found.expires_at <= datetime.now(UTC):
            raise SelfAssessmentNotFound("No such self-assessment.")
        return found

    def save(self, sa_token: str, answers: Mapping[str, str], *, submit: bool = False) -> SaSession:
        """Merge answers, or submit and lock; raises SelfAssessmentNotFound, SelfAssessmentSubmitted, InvalidAnswers."""
        with self._lock:
            current = self.open(sa_token)
            if current.status is SaStatus.SUBMITTED:
                raise SelfAssessmentSubmitted("Already submitted.")
            questions = {q.id: q for q in current.questionnaire.questions()}
            errors = []
            for qid, value in answers.items():
                question = questions.get(qid)
                if question is None:
                    errors.append({"field": qid, "message": f"There is no question {qid!r}."})
                elif value not in {o.value for o in question.options}:
                    errors.append({"field": qid, "message": f"{value!r} is not an answer to this question."})
            merged = {**current.answers, **answers}
            if submit:
                errors.extend({"field": q.id, "message": f"Answer the question: {q.text}"}
                              for q in questions.values() if q.required and q.id not in merged
                              and not any(e["field"] == q.id for e in errors))
            if errors:
                raise InvalidAnswers(errors[0]["message"], errors=errors)
            now = datetime.now(UTC)
            updated = current.model_copy(update={
                "answers": merged, "saved_at": now,
                **({"status": SaStatus.SUBMITTED, "submitted_at": now} if submit else {})})
            self.sessions[sa_token] = updated
            self.saves.append((sa_token, dict(answers), submit))
            return updated
