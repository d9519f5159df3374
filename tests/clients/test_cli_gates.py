"""The CLI's gates, JUnit XML, Markdown summary, progress output and exit codes, over a fake session."""

from __future__ import annotations

import argparse
import io
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from perimeter_client import Client, Finding, RetryPolicy, Scan
from perimeter_client.ci import ProgressBar, evaluate, junit_xml, markdown_summary
from perimeter_client.cli import main

from tests.clients.fakes import FakeSession, finding_json, response, scan_json

FINDINGS = [finding_json("rce", "critical", cve="CVE-2024-1", kev=True), finding_json("hsts", "high"),
            finding_json("cookie", "medium"), finding_json("banner", "info")]


def scan(grade: str | None = "B", score: int | None = 80, **extra: Any) -> Scan:
    return Scan.from_dict(scan_json(grade=grade, score=score, findings=FINDINGS, **extra))


def findings() -> list[Finding]:
    return [Finding.from_dict(f) for f in FINDINGS]


@pytest.mark.parametrize(("grade", "fail_under", "passed"), [
    ("B", "B", True), ("A", "B", True), ("C", "B", False), ("F", "D", False), ("B", "a", False),
])
def test_fail_under_compares_grades(grade: str, fail_under: str, passed: bool) -> None:
    assert evaluate(scan(grade), findings(), fail_under=fail_under).passed is passed


def test_an_ungraded_scan_fails_the_grade_gate() -> None:
    verdict = evaluate(scan(None, None), findings(), fail_under="F")
    assert not verdict.passed and "no grade" in verdict.gates[0].message


@pytest.mark.parametrize(("fail_on", "flagged", "passed"), [
    ("critical", 1, False), ("high", 2, False), ("medium", 3, False), ("info", 4, False),
])
def test_fail_on_counts_findings_at_or_above_the_severity(fail_on: str, flagged: int, passed: bool) -> None:
    verdict = evaluate(scan(), findings(), fail_on=fail_on)
    assert len(verdict.flagged) == flagged and verdict.passed is passed and verdict.exit_code == 1


def test_fail_on_passes_without_such_findings() -> None:
    only_low = [Finding.from_dict(finding_json("banner", "info"))]
    verdict = evaluate(scan(), only_low, fail_on="low")
    assert verdict.passed and verdict.exit_code == 0 and verdict.flagged == []


def test_junit_has_a_testcase_per_gate_and_flagged_finding() -> None:
    verdict = evaluate(scan("C"), findings(), fail_under="B", fail_on="high")
    root = ET.fromstring(junit_xml(verdict))
    suite = root.find("testsuite")
    assert suite is not None
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "grade B or better", "no high or worse findings", "critical: rce: rce title", "high: hsts: hsts title"]
    assert all(c.find("failure") is not None for c in cases)
    assert (suite.get("tests"), suite.get("failures")) == ("4", "4")
    assert "CVE-2024-1" in (cases[2].findtext("failure") or "")


def test_junit_without_fail_on_lists_high_findings_as_passing() -> None:
    suite = ET.fromstring(junit_xml(evaluate(scan("A"), findings(), fail_under="B"))).find("testsuite")
    assert suite is not None and (suite.get("tests"), suite.get("failures")) == ("3", "0")


def test_markdown_summary_names_the_verdict_gates_and_findings() -> None:
    text = markdown_summary(evaluate(scan("C", caps=[{"code": "kev", "max_grade": "C", "reason": "a | KEV"}]),
                                     findings(), fail_under="B", fail_on="high"))
    assert text.startswith("## Perimeter: example.com: FAILED")
    assert "| grade B or better | FAIL | grade C (score 80) |" in text
    assert "| critical | web | `rce` | rce title |" in text and "cookie" not in text
    assert "a \\| KEV" in text  # table-safe


def test_progress_is_a_bar_on_a_tty_and_lines_elsewhere() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty, plain = Tty(), io.StringIO()
    for stream in (tty, plain):
        bar = ProgressBar(stream, width=10)
        for status, progress in [("pending", 0), ("scanning", 50), ("scanning", 50), ("complete", 100)]:
            bar(Scan.from_dict(scan_json(status=status, progress=progress)))
    assert tty.getvalue() == ("\r[..........]   0% pending   \r[#####.....]  50% scanning  "
                              "\r[##########] 100% complete  \n")
    assert plain.getvalue().splitlines() == ["scan scn_1: pending 0%", "scan scn_1: scanning 50%",
                                             "scan scn_1: complete 100%"]


def fake_cli(answers: list[Any]) -> tuple[FakeSession, Any]:
    session = FakeSession(answers)

    def factory(args: argparse.Namespace, env: Mapping[str, str]) -> Client:
        return Client("k", "http://api.test", session=session, env=env, retry=RetryPolicy(sleep=lambda _: None),
                      sleep=lambda _: None)
    return session, factory


def run(argv: list[str], answers: list[Any], env: dict[str, str] | None = None) -> tuple[int, str, str, FakeSession]:
    session, factory = fake_cli(answers)
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, env=env or {}, stdout=out, stderr=err, client_factory=factory)
    return code, out.getvalue(), err.getvalue(), session


def page(*items: dict[str, Any]) -> Any:
    return response(200, {"scan_token": "scn_1", "scan_status": "complete", "items": list(items),
                          "total": len(items), "next_cursor": None})


def test_scan_get_with_gates_writes_junit_summary_and_the_step_summary(tmp_path: Path) -> None:
    step = tmp_path / "step.md"
    step.write_text("earlier\n")
    code, out, err, session = run(
        ["scan", "get", "scn_1", "--fail-under", "B", "--fail-on", "high", "--junit", str(tmp_path / "j.xml"),
         "--summary", str(tmp_path / "s.md"), "--no-progress"],
        [response(200, scan_json(findings=FINDINGS)), page(FINDINGS[0]), page(FINDINGS[1])],
        {"GITHUB_STEP_SUMMARY": str(step)})
    assert code == 1, err
    assert [c["params"].get("severity") for c in session.calls[1:]] == ["critical", "high"]
    assert "gate no high or worse findings: FAIL (2 finding(s) high or worse)" in err
    assert "grade B" in out
    summary = (tmp_path / "s.md").read_text()
    assert step.read_text() == "earlier\n" + summary
    assert ET.parse(tmp_path / "j.xml").getroot().find("testsuite").get("failures") == "3"  # type: ignore[union-attr]


def test_a_failed_scan_exits_4_and_a_timeout_too() -> None:
    failed = scan_json(status="failed", grade=None, score=None, error={"code": "scan-timeout", "message": "slow"})
    assert run(["scan", "get", "scn_1", "--wait", "--no-progress"], [response(200, failed)])[0] == 4
    pending = scan_json(status="pending", progress=0, grade=None, score=None)
    created = {"scan_token": "scn_1", "status": "pending", "status_url": "u", "self_assessment_url": None,
               "estimated_seconds": 60, "created_at": "2026-12-07T10:00:00Z"}
    code, _, err, _ = run(["scan", "example.com", "--wait", "--timeout", "0", "--no-progress"],
                          [response(202, created), response(200, pending)])
    assert code == 4 and "still pending" in err


def test_usage_and_api_errors_have_their_exit_codes() -> None:
    assert run(["scan", "example.com", "--fail-under", "Z"], [])[0] == 2
    assert run(["frobnicate"], [])[0] == 2
    assert main(["scans", "list"], env={}, stdout=io.StringIO(), stderr=io.StringIO()) == 2  # no API key
    unauthorized = {"type": "t", "title": "t", "status": 401, "detail": "bad key", "code": "unauthorized",
                    "error": "bad key"}
    code, _, err, _ = run(["scans", "list"], [response(401, unauthorized)])
    assert code == 3 and "401 unauthorized" in err
    assert run(["webhooks", "delete"], [])[0] == 2


def test_findings_severity_means_that_severity_or_worse_and_json_is_the_apis() -> None:
    code, out, _, session = run(["findings", "scn_1", "--severity", "high", "--json"],
                                [page(FINDINGS[0]), page(FINDINGS[1])])
    assert code == 0
    assert [f["code"] for f in __import__("json").loads(out)] == ["rce", "hsts"]
    assert [c["params"]["severity"] for c in session.calls] == ["critical", "high"]
