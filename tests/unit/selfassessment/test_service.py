"""SelfAssessmentService: links, save and resume, submit once and lock, and what a submission does to its scan."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest

from chalicelib.access.auth import Tenant
from chalicelib.bootstrap import Services
from chalicelib.core.clock import utcnow
from chalicelib.core.store import KeyValueStore, Record
from chalicelib.pipeline.steps import Pipeline
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import Scan, ScanType
from chalicelib.selfassessment.models import InvalidAnswers, SaStatus, SelfAssessmentNotFound, SelfAssessmentSubmitted
from chalicelib.selfassessment.service import SelfAssessmentService
from tests.support.memory import RecordingPublisher
from tests.unit.selfassessment.conftest import answers, rdp, run_to


def token_of(url: str | None) -> str:
    assert url is not None
    return url.rsplit("/", 1)[1]


def test_a_posture_scan_gets_a_link_with_a_fresh_capability_token(sa: SelfAssessmentService, scan: Scan,
                                                                  services: Services) -> None:
    url = sa.offer(scan)
    assert url is not None and url.startswith(f"{services.settings.public_base_url}/sa/sa_")
    token = token_of(url)
    assert len(token) == 46 and token != token_of(sa.offer(scan))  # 256 random bits each time


def test_the_token_is_stored_only_as_its_keyed_hash(sa: SelfAssessmentService, scan: Scan,
                                                    services: Services) -> None:
    token = token_of(sa.offer(scan))
    dumped = repr(services.store.__dict__)
    assert token not in dumped and token[3:] not in dumped
    assert sa.hash_token(token) in dumped


def test_other_scan_types_get_no_link(sa: SelfAssessmentService, services: Services, tenant: Tenant) -> None:
    ports = services.scans.create(tenant, CreateScan(target="example.com", scan_type=ScanType.PORTS))
    assert sa.offer(ports) is None


@pytest.mark.parametrize("token", ["", "sa_short", "pmk_" + "a" * 43, "sa_" + "A" * 43, "sa_" + "é" * 43])
def test_unknown_and_malformed_tokens_answer_the_same_not_found(sa: SelfAssessmentService, scan: Scan,
                                                                token: str) -> None:
    sa.offer(scan)
    with pytest.raises(SelfAssessmentNotFound) as opened:
        sa.open(token)
    with pytest.raises(SelfAssessmentNotFound) as saved:
        sa.save(token, {"mfa_coverage": "ml3"})
    assert opened.value.status == saved.value.status == 404
    assert opened.value.detail == saved.value.detail == "No such self-assessment, or the link has expired."


def test_an_expired_link_answers_not_found(sa: SelfAssessmentService, scan: Scan, services: Services) -> None:
    token = token_of(sa.offer(scan))
    assert sa.open(token).expires_at == scan.created_at + timedelta(days=services.settings.sa_link_days)
    sa._clock = lambda: scan.created_at + timedelta(days=services.settings.sa_link_days, seconds=1)
    with pytest.raises(SelfAssessmentNotFound):
        sa.open(token)


def test_answers_save_as_the_insured_goes_and_resume(sa: SelfAssessmentService, scan: Scan) -> None:
    token = token_of(sa.offer(scan))
    first = sa.open(token)
    assert (first.domain, first.status, first.answers, first.branding.partner_name) == (
        "example.com", SaStatus.OPEN, {}, "Broker One")
    sa.save(token, {"mfa_coverage": "ml1"})
    sa.save(token, {"backups": "ml2", "mfa_coverage": "ml3"})
    resumed = sa.open(token)
    assert resumed.answers == {"mfa_coverage": "ml3", "backups": "ml2"}
    assert resumed.saved_at is not None and resumed.sa_score is None and resumed.status is SaStatus.OPEN


def test_invalid_answers_save_nothing(sa: SelfAssessmentService, scan: Scan) -> None:
    token = token_of(sa.offer(scan))
    sa.save(token, {"backups": "ml1"})
    with pytest.raises(InvalidAnswers) as refused:
        sa.save(token, {"backups": "ml3", "mfa_coverage": "always"})
    assert refused.value.extra["errors"] == [{"field": "mfa_coverage", "message": "Not one of the offered answers."}]
    assert sa.open(token).answers == {"backups": "ml1"}


def test_an_incomplete_submit_names_the_open_questions_and_locks_nothing(sa: SelfAssessmentService,
                                                                          scan: Scan) -> None:
    token = token_of(sa.offer(scan))
    given = answers("best")
    given.pop("edr_coverage")
    with pytest.raises(InvalidAnswers) as refused:
        sa.save(token, given, submit=True)
    assert [e["field"] for e in refused.value.extra["errors"]] == ["edr_coverage"]
    assert sa.open(token).status is SaStatus.OPEN and sa.open(token).answers == {}


def test_submit_scores_and_locks(sa: SelfAssessmentService, scan: Scan, services: Services) -> None:
    token = token_of(sa.offer(scan))
    sa.save(token, {"mfa_coverage": "ml0"})
    done = sa.save(token, {k: v for k, v in answers("best").items() if k != "mfa_coverage"}, submit=True)
    assert (done.status, done.sa_score) == (SaStatus.SUBMITTED, 92)  # 36 of 39 points
    with pytest.raises(SelfAssessmentSubmitted):
        sa.save(token, {"mfa_coverage": "ml3"})
    with pytest.raises(SelfAssessmentSubmitted):
        sa.save(token, {}, submit=True)
    stored = services.scans.get("t1", scan.scan_id)
    assert (stored.sa_score, stored.sa_complete) == (92, True)
    assert stored.self_assessment is not None and stored.self_assessment.answers["mfa_coverage"] == "ml0"


class RacingStore:
    """The table, except that the first read of the session by each of two threads waits for the other."""

    def __init__(self, inner: KeyValueStore) -> None:
        self._inner = inner
        self._barrier = threading.Barrier(2, timeout=5)
        self._seen: set[int] = set()

    def get(self, pk: str, sk: str) -> Record | None:
        record = self._inner.get(pk, sk)
        me = threading.get_ident()
        if sk.startswith("SA#") and me not in self._seen:
            self._seen.add(me)
            self._barrier.wait()
        return record

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_of_two_concurrent_submits_exactly_one_wins(sa: SelfAssessmentService, scan: Scan,
                                                    publisher: RecordingPublisher) -> None:
    token = token_of(sa.offer(scan))
    table = sa._store
    sa._store = RacingStore(table)  # type: ignore[assignment]
    outcomes: list[str] = []

    def submit(choice: str) -> None:
        try:
            sa.save(token, answers(choice), submit=True)
            outcomes.append(f"won:{choice}")
        except SelfAssessmentSubmitted:
            outcomes.append("locked")

    threads = [threading.Thread(target=submit, args=(c,)) for c in ("best", "worst")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    sa._store = table
    assert sorted(o.split(":")[0] for o in outcomes) == ["locked", "won"]
    winner = next(o for o in outcomes if o.startswith("won:"))
    assert sa.open(token).sa_score == (100 if winner == "won:best" else 0)


def test_a_submission_on_a_complete_scan_combines_contradicts_announces_rerenders_and_audits(
        sa: SelfAssessmentService, scan: Scan, services: Services, pipeline: Pipeline,
        publisher: RecordingPublisher, audit_log: list[Any]) -> None:
    token = token_of(sa.offer(scan))
    before = run_to(pipeline, services, scan, scan_findings=[rdp()])
    assert (before.score, before.grade, before.caps[0].code) == (79, "C", "rdp-exposed")
    rendered_before = dict(before.report_sha256)
    sa.save(token, answers("best"), submit=True)
    after = services.scans.get("t1", scan.scan_id)
    assert after.score == 79  # the external score stays
    assert (after.sa_score, after.combined_score, after.combined_grade) == (100, 79, "C")  # 85 capped at C
    assert (after.grade, after.ready) == ("C", True)
    assert after.self_assessment is not None
    assert [(c.question_id, c.finding_code) for c in after.self_assessment.contradictions] == [
        ("mfa_coverage", "rdp-exposed")]
    assert after.report_sha256 != rendered_before  # the reports were rendered again
    sent = [data for _, event, data in publisher.events if event == "scan.self_assessment_completed"]
    assert len(sent) == 1
    assert {k: sent[0][k] for k in ("scan_token", "sa_complete", "sa_score", "combined_score", "combined_grade",
                                    "score", "grade")} == {
        "scan_token": scan.scan_id, "sa_complete": True, "sa_score": 100, "combined_score": 79,
        "combined_grade": "C", "score": 79, "grade": "C"}
    assert audit_log == [("t1", "self_assessment.submitted", scan.scan_id,
                          {"sa_score": 100, "questionnaire_version": "2026-12"})]


def test_a_poor_self_assessment_lowers_grade_and_readiness(sa: SelfAssessmentService, scan: Scan,
                                                            services: Services, pipeline: Pipeline) -> None:
    token = token_of(sa.offer(scan))
    assert run_to(pipeline, services, scan).grade == "A"
    sa.save(token, answers("worst"), submit=True)
    after = services.scans.get("t1", scan.scan_id)
    assert (after.score, after.combined_score, after.grade, after.grade_label, after.ready) == (
        100, 70, "C", "Moderate risk", True)


def test_a_submission_while_the_scan_runs_is_combined_by_the_score_step(
        sa: SelfAssessmentService, scan: Scan, services: Services, pipeline: Pipeline,
        publisher: RecordingPublisher) -> None:
    token = token_of(sa.offer(scan))
    run_to(pipeline, services, scan, until="scanning")
    sa.save(token, answers("worst"), submit=True)
    running = services.scans.get("t1", scan.scan_id)
    assert (running.sa_complete, running.sa_score, running.combined_score) == (True, 0, None)
    assert "scan.self_assessment_completed" not in publisher.names(scan.scan_id)
    scored = run_to_score(pipeline, services, running)
    assert (scored.score, scored.combined_score, scored.combined_grade, scored.grade) == (79, 55, "F", "F")
    assert scored.self_assessment is not None and scored.self_assessment.contradictions == []  # ML0 claims nothing
    assert publisher.names(scan.scan_id).count("scan.self_assessment_completed") == 1


def run_to_score(pipeline: Pipeline, services: Services, scan: Scan) -> Scan:
    """Score a scan that is already scanning (RDP exposed)."""
    from tests.unit.selfassessment.conftest import INTEL, NETWORK, _complete, _evidence

    evidence = [_evidence(services, scan, "network", {k: _complete(k, [rdp()] if k == "scan" else [])
                                                      for k in NETWORK}),
                _evidence(services, scan, "intel", {k: _complete(k, []) for k in INTEL})]
    pipeline.score_scan({"scan_id": scan.scan_id, "tenant_id": scan.tenant_id, "signals": [*NETWORK, *INTEL],
                         "evidence": evidence})
    return services.scans.get(scan.tenant_id, scan.scan_id)


def test_a_submitted_session_whose_scan_missed_the_write_is_repaired(sa: SelfAssessmentService, scan: Scan,
                                                                      services: Services) -> None:
    token = token_of(sa.offer(scan))
    applied = sa._apply
    sa._apply = lambda *_: (_ for _ in ()).throw(RuntimeError("crash"))  # type: ignore[method-assign]
    with pytest.raises(RuntimeError):
        sa.save(token, answers("best"), submit=True)
    assert services.scans.get("t1", scan.scan_id).sa_complete is False
    sa._apply = applied  # type: ignore[method-assign]
    with pytest.raises(SelfAssessmentSubmitted):
        sa.save(token, {}, submit=True)
    assert services.scans.get("t1", scan.scan_id).sa_score == 100


def test_the_session_expires_with_its_link_not_with_the_clock_of_the_save(sa: SelfAssessmentService,
                                                                          scan: Scan) -> None:
    token = token_of(sa.offer(scan))
    session = sa.save(token, {"backups": "ml3"})
    assert session.expires_at > utcnow() and session.saved_at is not None
