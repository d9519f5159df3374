"""The self-assessment service behind the public page (`SelfAssessmentPort`): capability tokens, saved
answers, submit-once-and-lock, and what a submission changes on the scan.

Storage (the shared table):
- `SATOKEN#<keyed hash>` / `SATOKEN`: the token's tenant, scan and expiry (TTL `expires_at`); the token
  itself is never stored, only an HMAC of it under a subkey of the key pepper.
- `TENANT#<tenant>` / `SA#<scan id>`: the session (questionnaire version, answers, status, times, score),
  written under optimistic versions: of two concurrent submits exactly one wins.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.core.clock import utcnow
from chalicelib.core.errors import NotFound, Unsupported
from chalicelib.core.store import ConditionFailed, KeyValueStore
from chalicelib.scans.models import Scan, ScanStatus, ScanType, SelfAssessmentResult
from chalicelib.scans.ports import EventPublisher
from chalicelib.scans.service import ScanService, publish_scan_event
from chalicelib.selfassessment import questionnaire
from chalicelib.selfassessment.combine import COMPLETED_EVENT, assessment_fields
from chalicelib.selfassessment.models import (
    PageBranding,
    SaSession,
    SaStatus,
    SelfAssessmentNotFound,
    SelfAssessmentSubmitted,
)

log = logging.getLogger(__name__)

TOKEN_PREFIX = "sa_"  # noqa: S105 (a prefix, not a secret)
_TOKEN_SHAPE = re.compile(r"^sa_[A-Za-z0-9_-]{43}$")  # prefix + 256 bits, base64url
_ATTEMPTS = 8
# Scan types that get a self-assessment: the organisation-level posture scan only (docs/decisions.md).
OFFERED_TYPES = frozenset({ScanType.POSTURE})


class AuditHook(Protocol):
    """Records an audit event (the audit feature, when wired); must not raise."""

    def __call__(self, tenant_id: str, action: str, *, target: str, details: Mapping[str, Any]) -> None:
        """Record that `action` happened to `target` in `tenant_id`'s account."""
        ...


class StoredSession(BaseModel):
    """The session item: what the insured saved, and whether it is locked."""

    model_config = ConfigDict(extra="forbid")

    scan_id: str
    questionnaire_version: str
    answers: dict[str, str] = Field(default_factory=dict)
    status: SaStatus = SaStatus.OPEN
    expires_at: datetime
    saved_at: datetime | None = None
    submitted_at: datetime | None = None
    sa_score: int | None = None


def generate_token() -> str:
    """A new capability token: `sa_` + 256 random bits (base64url)."""
    return TOKEN_PREFIX + secrets.token_urlsafe(32)


class SelfAssessmentService:
    """Issues self-assessment links and serves the page's `open` and `save` (SelfAssessmentPort)."""

    def __init__(self, store: KeyValueStore, scans: ScanService, pepper: bytes, *, public_base_url: str,
                 link_days: int, branding: Callable[[str], PageBranding],
                 events: Callable[[], EventPublisher] | None = None,
                 renderer: Callable[[str, str], object] | None = None, audit: AuditHook | None = None,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self._store = store
        self._scans = scans
        self._key = hmac.new(pepper, b"perimeter/self-assessment-token/v1", hashlib.sha256).digest()
        self._base_url = public_base_url.rstrip("/")
        self._link_days = link_days
        self._branding = branding
        self._events = events
        self._renderer = renderer
        self._audit = audit
        self._clock = clock

    # -- links ------------------------------------------------------------------------------------
    def hash_token(self, token: str) -> str:
        """The keyed hash under which a token is stored."""
        return hmac.new(self._key, token.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()

    def issue(self, scan: Scan) -> str:
        """A new token for the scan's self-assessment, valid PERIMETER_SA_LINK_DAYS from the scan's creation.

        Creates the (empty) session on first issue. Raises Unsupported for scan types without one.
        """
        if scan.scan_type not in OFFERED_TYPES:
            raise Unsupported("Only posture scans have a self-assessment.", field="scan_type",
                              value=scan.scan_type.value)
        token = generate_token()
        expires_at = scan.created_at + timedelta(days=self._link_days)
        session = StoredSession(scan_id=scan.scan_id, questionnaire_version=questionnaire.CURRENT_VERSION,
                                expires_at=expires_at)
        with contextlib.suppress(ConditionFailed):  # a second link to the same session: answers are shared
            self._store.put(f"TENANT#{scan.tenant_id}", f"SA#{scan.scan_id}", session.model_dump(mode="json"),
                            expect_version=0)
        self._store.put(f"SATOKEN#{self.hash_token(token)}", "SATOKEN",
                        {"tenant_id": scan.tenant_id, "scan_id": scan.scan_id, "expires_at": expires_at.isoformat()},
                        expect_version=0, expires_at=int(expires_at.timestamp()))
        return token

    def link(self, token: str) -> str:
        """The page's public URL for a token."""
        return f"{self._base_url}/sa/{token}"

    def offer(self, scan: Scan) -> str | None:
        """The `self_assessment_url` of a new scan: a fresh link for a posture scan, None for other types.

        The scan has started by now: a failure to store the link is logged and answers None rather than
        failing a request whose retry would start a second scan.
        """
        if scan.scan_type not in OFFERED_TYPES:
            return None
        try:
            return self.link(self.issue(scan))
        except Exception:
            log.exception("could not issue the self-assessment link of %s", scan.scan_id)
            return None

    # -- the port ---------------------------------------------------------------------------------
    def open(self, sa_token: str) -> SaSession:
        """The session behind a token; raises SelfAssessmentNotFound (unknown, expired, malformed alike)."""
        tenant_id, scan_id = self._resolve(sa_token)
        scan, session, _ = self._load(tenant_id, scan_id)
        return self._view(scan, session)

    def save(self, sa_token: str, answers: Mapping[str, str], *, submit: bool = False) -> SaSession:
        """Merge `answers` into the saved ones; with `submit`, check completeness, score and lock.

        Raises SelfAssessmentNotFound, SelfAssessmentSubmitted (also to the loser of two concurrent
        submits), InvalidAnswers (nothing saved then).
        """
        tenant_id, scan_id = self._resolve(sa_token)
        given = {str(k): str(v) for k, v in answers.items()}
        for _ in range(_ATTEMPTS):
            scan, session, version = self._load(tenant_id, scan_id)
            data = questionnaire.load(session.questionnaire_version)
            if session.status is SaStatus.SUBMITTED:
                self._repair(scan, session)
                raise SelfAssessmentSubmitted("This self-assessment was submitted and can no longer change.")
            questionnaire.check_answers(data, given, complete=False)
            merged = {**session.answers, **given}
            now = self._clock()
            update: dict[str, Any] = {"answers": merged, "saved_at": now}
            if submit:
                questionnaire.check_answers(data, merged, complete=True)
                update |= {"status": SaStatus.SUBMITTED, "submitted_at": now,
                           "sa_score": questionnaire.score_answers(data, merged)}
            changed = session.model_copy(update=update)
            try:
                self._store.put(f"TENANT#{tenant_id}", f"SA#{scan_id}", changed.model_dump(mode="json"),
                                expect_version=version)
            except ConditionFailed:
                continue  # someone saved or submitted meanwhile: merge into theirs, or find it locked
            if submit:
                scan = self._submitted(scan, changed)
            return self._view(scan, changed)
        raise SelfAssessmentSubmitted("The self-assessment is being changed elsewhere; reload the page.",
                                      code="self-assessment-contention")

    # -- internals --------------------------------------------------------------------------------
    def _resolve(self, sa_token: str) -> tuple[str, str]:
        """(tenant id, scan id) of a live token; raises SelfAssessmentNotFound for every other case.

        Looked up by keyed hash (as API keys are): a malformed token costs the same hash, then answers
        the same error. Expiry is checked here as well as by the table's TTL, which deletes late.
        """
        well_formed = bool(_TOKEN_SHAPE.match(sa_token or ""))
        digest = self.hash_token(sa_token if well_formed else "sa_" + "\x00" * 43)
        record = self._store.get(f"SATOKEN#{digest}", "SATOKEN") if well_formed else None
        now = self._clock()
        if record is None or datetime.fromisoformat(str(record.data["expires_at"])) <= now:
            raise SelfAssessmentNotFound("No such self-assessment, or the link has expired.")
        return str(record.data["tenant_id"]), str(record.data["scan_id"])

    def _load(self, tenant_id: str, scan_id: str) -> tuple[Scan, StoredSession, int]:
        """The scan and the session with its version; raises SelfAssessmentNotFound when either is gone."""
        record = self._store.get(f"TENANT#{tenant_id}", f"SA#{scan_id}")
        try:
            scan = self._scans.get(tenant_id, scan_id)
        except NotFound:
            scan = None
        if record is None or scan is None:
            raise SelfAssessmentNotFound("No such self-assessment, or the link has expired.")
        return scan, StoredSession.model_validate(record.data), record.version

    def _view(self, scan: Scan, session: StoredSession) -> SaSession:
        return SaSession(domain=scan.target, branding=self._branding(scan.tenant_id),
                         questionnaire=questionnaire.load(session.questionnaire_version).questionnaire,
                         answers=dict(session.answers), status=session.status, expires_at=session.expires_at,
                         saved_at=session.saved_at, submitted_at=session.submitted_at, sa_score=session.sa_score)

    def _submitted(self, scan: Scan, session: StoredSession) -> Scan:
        """Record the submission on the scan, then announce it, re-render and audit (best effort)."""
        updated = self._apply(scan, session)
        if updated.scoring_version is not None or updated.status.terminal:
            self._publish(updated)  # still running: the Score step announces it with the combined score
        if updated.report_keys and updated.status in (ScanStatus.SCORING, ScanStatus.COMPLETE):
            self._render(updated)
        if self._audit is not None:
            try:
                self._audit(updated.tenant_id, "self_assessment.submitted", target=updated.scan_id,
                            details={"sa_score": session.sa_score,
                                     "questionnaire_version": session.questionnaire_version})
            except Exception:
                log.exception("could not record the audit event of %s's self-assessment", updated.scan_id)
        return updated

    def _apply(self, scan: Scan, session: StoredSession) -> Scan:
        """Write the submission and what it implies (contradictions, combined score) onto the scan."""
        record = SelfAssessmentResult(questionnaire_version=session.questionnaire_version,
                                      answers=dict(session.answers),
                                      submitted_at=session.submitted_at or self._clock())

        def change(current: Scan) -> dict[str, Any]:
            base: dict[str, Any] = {"self_assessment": record, "sa_score": session.sa_score, "sa_complete": True}
            return {**base, **assessment_fields(current.model_copy(update=base))}

        return self._scans.update(scan.tenant_id, scan.scan_id, change)

    def _repair(self, scan: Scan, session: StoredSession) -> None:
        """A submitted session whose scan missed the write (a crash between the two): write it now."""
        if not scan.sa_complete and session.sa_score is not None:
            log.warning("self-assessment of %s was submitted but not on the scan; recording it", scan.scan_id)
            self._submitted(scan, session)

    def _publish(self, scan: Scan) -> None:
        if self._events is None:
            return
        try:
            publisher = self._events()
        except Exception:
            log.exception("no event publisher; %s for %s not sent", COMPLETED_EVENT, scan.scan_id)
            return
        publish_scan_event(publisher, scan, COMPLETED_EVENT, self._base_url)

    def _render(self, scan: Scan) -> None:
        if self._renderer is None:
            return
        try:
            self._renderer(scan.tenant_id, scan.scan_id)
        except Exception:
            log.exception("could not re-render the reports of %s after its self-assessment", scan.scan_id)
