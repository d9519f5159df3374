"""A container scan with 1,500 findings kept beyond its item: the JSON report lists all of them, the PDF the
most severe and a line saying how many more are in the JSON report."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import timedelta

from chalicelib.bootstrap import Services
from chalicelib.core.ids import new_id
from chalicelib.reports.pdf.findings import PDF_MAX_FINDINGS
from chalicelib.scans.findings import split_findings
from chalicelib.scans.models import Finding, Scan, ScanStatus, ScanType, Severity, SignalKey, SignalResult, SignalStatus
from tests.unit.reports.conftest import squash
from tests.unit.reports.factories import T0

SEVERITIES = list(Severity)


def _stored_container_scan(services: Services, count: int) -> Scan:
    """A scored container scan whose `count` findings live in the findings object, as Score leaves it."""
    services.auth.create_tenant("acme", "Acme")
    scan_id = new_id("scn")
    findings = [Finding(id=f"cv-{i:05d}", signal=SignalKey.CONTAINER, severity=SEVERITIES[i % 5],
                        code="container-vulnerability", title=f"CVE-2026-{i:05d} in libexample 1.{i}",
                        remediation="Upgrade libexample.") for i in range(count)]
    signals = {"container": SignalResult(status=SignalStatus.COMPLETE, max_score=0, findings=findings)}
    split = split_findings("acme", scan_id, signals)
    services.scans.findings_store.write(split)
    scan = Scan(scan_id=scan_id, tenant_id="acme", target="example.com/team/app:1.0", scan_type=ScanType.CONTAINER,
                timeout_seconds=600, status=ScanStatus.SCORING, created_at=T0, updated_at=T0,
                started_at=T0 + timedelta(seconds=1), signals=split.signals, ready_threshold=65,
                scoring_version="2026-12", findings_count=split.findings_count,
                severity_counts=split.severity_counts, findings_key=split.object_key,
                findings_sha256=split.object_sha256)
    services.scans.repo.add(scan)
    return scan


def test_the_reports_of_a_1500_finding_scan_read_every_finding(services: Services,
                                                               pdf_text: Callable[[bytes], list[str]]) -> None:
    scan = _stored_container_scan(services, 1500)
    assert scan.findings_key is not None and len(scan.signals["container"].findings) < 1500
    done = services.reports.render_and_store("acme", scan.scan_id)
    report = json.loads(services.objects.get(done["report_keys"]["json"]))
    assert len(report["findings"]) == 1500 and len({f["id"] for f in report["findings"]}) == 1500
    assert report["severity_counts"] == {s.value: 300 for s in Severity}
    assert report["signals"][0]["findings_count"] == 1500
    text = squash("\n".join(pdf_text(services.objects.get(done["report_keys"]["pdf"]))))
    assert f"{1500 - PDF_MAX_FINDINGS:,} more findings in the JSON report" in text
    assert "CVE-2026-00000" in text  # the most severe are listed
    assert "CVE-2026-01499" not in text  # an info finding past the cap is not
