"""What a submitted self-assessment changes on its scan: contradictions, the combined score and the verdict.

One function, `assessment_fields`, used both when the insured submits (the scan may already be scored)
and by the pipeline's Score step (the insured submitted while the scan was running).
"""

from __future__ import annotations

from typing import Any

from chalicelib.scans import scoring
from chalicelib.scans.models import Scan, SignalStatus
from chalicelib.selfassessment import questionnaire

COMPLETED_EVENT = "scan.self_assessment_completed"


def assessment_fields(scan: Scan) -> dict[str, Any]:
    """The Scan fields a completed self-assessment sets, recomputed from the scan as it is now.

    Contradictions are matched against the findings of complete signals. With an external score,
    `combined_score` and `combined_grade` are the weighted hybrid (caps still apply) and `grade`,
    `grade_label` and `ready` follow it; `score` stays the external score. Idempotent. Empty when the
    scan has no submitted self-assessment. Raises FileNotFoundError for an unknown questionnaire version.
    """
    record = scan.self_assessment
    if record is None or scan.sa_score is None:
        return {}
    data = questionnaire.load(record.questionnaire_version)
    findings = [f for result in scan.signals.values() if result.status is SignalStatus.COMPLETE
                for f in result.findings]
    fields: dict[str, Any] = {
        "self_assessment": record.model_copy(update={
            "contradictions": questionnaire.contradictions(data, record.answers, findings)}),
        "sa_complete": True,
    }
    if scan.score is None:
        return {**fields, "combined_score": None, "combined_grade": None}
    effective = scoring.combine(scan.score, scan.sa_score, scan.caps, scan.ready_threshold)
    if effective is None:  # this scoring version defines no combined score
        return {**fields, "combined_score": None, "combined_grade": None}
    return {**fields, "combined_score": effective.combined_score, "combined_grade": effective.combined_grade,
            "grade": effective.combined_grade, "grade_label": effective.grade_label, "ready": effective.ready}
