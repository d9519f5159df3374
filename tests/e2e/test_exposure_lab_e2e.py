"""A posture scan of the exposure lab's known-exploited host through the whole embedded stack: the API's
scan view carries the grade cap, a finding with its CVE and KEV flag and the intel version, and the PDF
report's first page names the cap.

The host (Apache 2.4.49 on port 80) needs port 80 on loopback, so the test skips without root, as the
other e2e tests do.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from tests.e2e.test_pipeline_e2e import auth, run_scan
from tests.support.exposure_lab import BY_NAME, ExposureLab
from tests.support.stack import RunningStack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
KEV = BY_NAME["kev"]


@pytest.fixture(scope="module")
def xlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExposureLab]:
    built = ExposureLab(Path(tmp_path_factory.mktemp("xlab-e2e")))
    try:
        built.start()
        if built.hosts[KEV.name].ports.get("http") != 80:
            pytest.skip("the exposure lab e2e needs port 80 on loopback (run as root)")
        yield built
    finally:
        built.stop()


@pytest.fixture(scope="module")
def xstack(xlab: ExposureLab) -> Iterator[RunningStack]:
    running = start_stack(xlab.stack_env(PERIMETER_SCAN_PORTS="22,80,443", PERIMETER_RATE_LIMIT="100000"))
    yield running
    assert running.stop() == 0, "\n".join(running.output[-40:])


def first_page(pdf: bytes, directory: Path) -> str:
    """The first page's text (poppler's pdftotext); skips when it is not installed."""
    exe = shutil.which("pdftotext")
    if exe is None:
        pytest.skip("pdftotext not installed (apt-get install poppler-utils)")
    path = directory / "report.pdf"
    path.write_bytes(pdf)
    done = subprocess.run([exe, "-enc", "UTF-8", "-f", "1", "-l", "1", str(path), "-"], capture_output=True,
                          check=True, timeout=30)
    return done.stdout.decode()


def test_a_known_exploited_version_caps_the_scan_and_its_report(xstack: RunningStack, tmp_path: Path) -> None:
    scan = run_scan(xstack, {"domain": KEV.domain}, timeout=90)
    assert scan["status"] == "complete", scan.get("error")
    assert scan["caps"] and scan["caps"][0]["code"] == "known-exploited-version"
    assert scan["caps"][0]["max_grade"] == "D" and scan["grade"] in ("D", "F")
    assert scan["intel_version"]
    kev = [f for f in scan["signals"]["scan"]["findings"] if f["code"] == "known-exploited-version"]
    assert {f["cve"] for f in kev} >= {"CVE-2021-41773"}
    assert all(f["kev"] is True and f["product"] == "Apache httpd" and f["version"] == "2.4.49" for f in kev)

    redirect = requests.get(f"{xstack.base_url}/v1/scans/{scan['scan_token']}/report", headers=auth(xstack),
                            allow_redirects=False, timeout=10)
    assert redirect.status_code == 302, redirect.text
    pdf = requests.get(redirect.headers["Location"], timeout=30)
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    text = " ".join(first_page(pdf.content, tmp_path).split())
    assert "GRADE CAPPED AT D" in text, text[:1500]
