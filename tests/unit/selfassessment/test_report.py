"""The reports of a scan with a submitted self-assessment: answers, scores and contradictions in JSON and PDF."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from chalicelib.bootstrap import Services
from chalicelib.pipeline.steps import Pipeline
from chalicelib.scans.models import Scan
from chalicelib.selfassessment.service import SelfAssessmentService
from tests.unit.selfassessment.conftest import answers, rdp, run_to


def pdf_text(body: bytes, tmp_path: Path) -> str:
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext not installed (poppler-utils)")
    path = tmp_path / "report.pdf"
    path.write_bytes(body)
    done = subprocess.run([exe, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60)
    return " ".join(done.stdout.decode("utf-8").split())


def stored(services: Services, scan_id: str, fmt: str) -> bytes:
    return services.reports.read("t1", scan_id, fmt).body


@pytest.fixture
def submitted(sa: SelfAssessmentService, scan: Scan, services: Services, pipeline: Pipeline) -> Scan:
    """A complete scan with RDP exposed whose insured claimed MFA on all remote access (and every best answer)."""
    url = sa.offer(scan)
    assert url is not None
    run_to(pipeline, services, scan, scan_findings=[rdp()])
    sa.save(url.rsplit("/", 1)[1], answers("best"), submit=True)
    return services.scans.get("t1", scan.scan_id)


def test_the_json_report_carries_the_answers_scores_and_the_contradiction(submitted: Scan,
                                                                           services: Services) -> None:
    report = json.loads(stored(services, submitted.scan_id, "json"))
    section = report["self_assessment"]
    assert (report["score"], report["grade"]) == (79, "C")
    assert {k: section[k] for k in ("sa_score", "external_score", "external_grade", "combined_score",
                                    "combined_grade", "external_weight", "self_assessment_weight")} == {
        "sa_score": 100, "external_score": 79, "external_grade": "C", "combined_score": 79,
        "combined_grade": "C", "external_weight": 70, "self_assessment_weight": 30}
    assert len(section["answers"]) == 13
    mfa = next(a for a in section["answers"] if a["question_id"] == "mfa_coverage")
    assert (mfa["answer"], mfa["points"], mfa["max_points"], mfa["contradicted"]) == ("ml3", 3, 3, True)
    [contradiction] = section["contradictions"]
    assert (contradiction["control"], contradiction["finding_code"], contradiction["signal"]) == (
        "Multi-factor authentication", "rdp-exposed", "scan")
    assert contradiction["answer_label"].startswith("Everywhere above, plus privileged actions")


def test_the_pdf_has_a_self_assessment_section_naming_the_finding_and_the_answer(
        submitted: Scan, services: Services, tmp_path: Path) -> None:
    text = pdf_text(stored(services, submitted.scan_id, "pdf"), tmp_path)
    assert "COMBINED GRADE" in text and "Combined score 79 meets the threshold of 65" in text
    assert "Self-assessment" in text and "Contradicted by the scan" in text
    assert "Multi-factor authentication: contradicted by" in text and "(rdp-exposed)" in text
    assert "Answer: Everywhere above, plus privileged actions" in text
    assert "Answers per control" in text and "Incident response" in text


def test_a_scan_without_a_self_assessment_reports_none(scan: Scan, services: Services, pipeline: Pipeline,
                                                       tmp_path: Path) -> None:
    run_to(pipeline, services, scan, scan_findings=[rdp()])
    assert json.loads(stored(services, scan.scan_id, "json"))["self_assessment"] is None
    text = pdf_text(stored(services, scan.scan_id, "pdf"), tmp_path)
    assert "Contradicted by the scan" not in text and "COMBINED GRADE" not in text
