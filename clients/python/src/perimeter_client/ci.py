"""CI gates on a finished scan, and what a CI page shows of it: JUnit XML, a Markdown summary, a progress bar.

Exit codes of the `perimeter` CLI (README.md): 0 pass, 1 gate failed (or not tested), 2 usage error, 3 API or auth
error, 4 scan failed, cancelled or timed out.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import TextIO
from xml.etree import ElementTree

from perimeter_client.models import SEVERITIES, Finding, Scan, grade_rank, severity_rank

EXIT_OK, EXIT_GATE, EXIT_USAGE, EXIT_API, EXIT_SCAN = 0, 1, 2, 3, 4
SUMMARY_ROWS = 50  # findings listed in the Markdown summary


@dataclass
class Gate:
    """One gate's verdict."""

    name: str
    passed: bool
    message: str


@dataclass
class Verdict:
    """The gates applied to a scan, and the findings at or above the severity threshold."""

    scan: Scan
    gates: list[Gate] = field(default_factory=list)
    flagged: list[Finding] = field(default_factory=list)
    fail_on: str | None = None

    @property
    def passed(self) -> bool:
        """True when every gate passed."""
        return all(g.passed for g in self.gates)

    @property
    def exit_code(self) -> int:
        """0 when every gate passed, 1 otherwise."""
        return EXIT_OK if self.passed else EXIT_GATE


def evaluate(scan: Scan, findings: list[Finding], *, fail_under: str | None = None, fail_on: str | None = None,
             list_from: str = "high") -> Verdict:
    """Apply `--fail-under GRADE` (fails when the grade is worse, or absent) and `--fail-on SEVERITY`
    (fails when any finding is that severe or worse). Findings at or above `fail_on` (else `list_from`)
    are kept for the reports."""
    threshold = fail_on or list_from
    verdict = Verdict(scan, flagged=[f for f in findings if f.at_least(threshold)], fail_on=fail_on)
    if fail_under is not None:
        if scan.grade is None:
            verdict.gates.append(Gate(f"grade {fail_under.upper()} or better", False,
                                      f"the scan has no grade (status {scan.status})"))
        else:
            ok = grade_rank(scan.grade) <= grade_rank(fail_under)
            verdict.gates.append(Gate(f"grade {fail_under.upper()} or better", ok,
                                      f"grade {scan.grade} (score {scan.score})"))
    if fail_on is not None and scan.gate is not None:
        verdict.gates.append(server_gate(scan, fail_on.lower()))
    elif fail_on is not None:
        count = len(verdict.flagged)
        verdict.gates.append(Gate(f"no {fail_on.lower()} or worse findings", count == 0,
                                  f"{count} finding(s) {fail_on.lower()} or worse"))
    return verdict


def server_gate(scan: Scan, fail_on: str) -> Gate:
    """`--fail-on` for a `webapp` or `container` scan: the server's counts over every finding, and its own
    gate when it was set to the same severity (a gate the server failed never passes here). A signal that
    did not complete (an image that could not be pulled, a site that could not be reached) fails it: zero
    findings from nothing tested is no pass."""
    name = f"no {fail_on} or worse findings"
    untested = {k: s for k, s in scan.signals.items() if s.status != "complete"}
    if untested or not scan.signals:
        why = "; ".join(f"{k} {s.status}: {s.error or 'no reason given'}" for k, s in untested.items())
        return Gate(name, False, f"not tested ({why or 'no signal reported'})")
    count = scan.count_at_least(fail_on)
    passed = count == 0
    note = ""
    if scan.gate is not None and scan.gate.fail_on == fail_on and scan.gate.passed is not None:
        passed = passed and scan.gate.passed
        note = f"; server gate {'passed' if scan.gate.passed else 'failed'}"
    return Gate(name, passed, f"{count} finding(s) {fail_on} or worse{note}")


def junit_xml(verdict: Verdict) -> str:
    """JUnit XML: one testcase per gate and per finding at or above the threshold (failures under `--fail-on`)."""
    suite = ElementTree.Element("testsuite", name=f"perimeter {verdict.scan.target}")
    failures = 0
    for gate in verdict.gates:
        case = ElementTree.SubElement(suite, "testcase", classname="perimeter.gates", name=gate.name)
        if not gate.passed:
            failures += 1
            ElementTree.SubElement(case, "failure", message=gate.message, type="gate").text = gate.message
        else:
            ElementTree.SubElement(case, "system-out").text = gate.message
    for finding in verdict.flagged:
        case = ElementTree.SubElement(suite, "testcase", classname=f"perimeter.{finding.signal}",
                                      name=f"{finding.severity}: {finding.code}: {finding.title}")
        text = "\n".join(p for p in (finding.detail, finding.remediation and f"Fix: {finding.remediation}",
                                     finding.cwe and f"CWE: {finding.cwe}", finding.cve and f"CVE: {finding.cve}") if p)
        if verdict.fail_on is not None:
            failures += 1
            ElementTree.SubElement(case, "failure", message=finding.title, type=finding.severity).text = text
        else:
            ElementTree.SubElement(case, "system-out").text = text
    suite.set("tests", str(len(suite)))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    suites = ElementTree.Element("testsuites")
    suites.append(suite)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ElementTree.tostring(suites, encoding="unicode") + "\n"


def _cell(text: object) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def markdown_summary(verdict: Verdict) -> str:
    """A Markdown page: grade, gates, caps and the flagged findings."""
    scan = verdict.scan
    mark = "passed" if verdict.passed else "FAILED"
    if scan.gate is not None:  # webapp and container scans have no grade: their counts instead
        counts = ", ".join(f"{scan.severity_counts.get(s, 0)} {s}" for s in SEVERITIES)
        head = f"{scan.scan_type.capitalize()} scan, status {scan.status}: {counts}."
    else:
        head = (f"Grade **{scan.grade or '-'}** (score {scan.score if scan.score is not None else '-'}/100), "
                f"ready: {'yes' if scan.ready else 'no'}, status {scan.status},")
    lines = [f"## Perimeter: {_cell(scan.target)}: {mark}", "",
             f"{head} {scan.findings_count} finding(s). Scan `{scan.scan_token}`.", ""]
    if scan.sbom_url:
        lines += [f"SBOM (CycloneDX): `perimeter sbom {scan.scan_token} -o sbom.cdx.json`", ""]
    if verdict.gates:
        lines += ["| Gate | Result | Detail |", "|---|---|---|"]
        lines += [f"| {_cell(g.name)} | {'pass' if g.passed else 'FAIL'} | {_cell(g.message)} |" for g in verdict.gates]
        lines.append("")
    if scan.caps:
        lines += ["Grade caps:", *(f"- max {c.max_grade}: {_cell(c.reason)} (`{c.code}`)" for c in scan.caps), ""]
    if verdict.flagged:
        lines += ["| Severity | Signal | Code | Finding |", "|---|---|---|---|"]
        lines += [f"| {f.severity} | {f.signal} | `{_cell(f.code)}` | {_cell(f.title)} |"
                  for f in verdict.flagged[:SUMMARY_ROWS]]
        if len(verdict.flagged) > SUMMARY_ROWS:
            lines.append(f"\n... and {len(verdict.flagged) - SUMMARY_ROWS} more.")
    return "\n".join(lines) + "\n"


def failure_summary(scan: Scan, why: str) -> str:
    """The Markdown page for a scan that did not finish."""
    return f"## Perimeter: {_cell(scan.target)}: FAILED\n\nScan `{scan.scan_token}` {_cell(why)}.\n"


class ProgressBar:
    """A progress bar on a TTY (redrawn in place); plain lines on anything else, one per change."""

    def __init__(self, stream: TextIO | None = None, width: int = 30) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last: tuple[str, int] | None = None

    def __call__(self, scan: Scan) -> None:
        """Show the scan's status and progress."""
        state = (scan.status, scan.progress)
        if state == self._last:
            return
        self._last = state
        if self.tty:
            done = self.width * max(0, min(100, scan.progress)) // 100
            bar = "#" * done + "." * (self.width - done)
            end = "\n" if scan.terminal else ""
            self.stream.write(f"\r[{bar}] {scan.progress:3d}% {scan.status:<10}{end}")
        else:
            self.stream.write(f"scan {scan.scan_token}: {scan.status} {scan.progress}%\n")
        self.stream.flush()


def check_severity(value: str) -> str:
    """A valid severity, lower-cased; raises ValueError."""
    severity_rank(value)
    return value.lower()


def check_grade(value: str) -> str:
    """A valid grade, upper-cased; raises ValueError."""
    grade_rank(value)
    return value.upper()
