"""The embedded stack on its durable adapters: a real scan with PERIMETER_DATA_DIR set keeps its table in
SQLite and its evidence and reports in files (none in the moto bucket), its report downloads byte for byte
through the API's signed link, and a second stack on the same directory still has the scan and its report.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import boto3
import pytest
import requests

from tests.e2e.conftest import E2E_PORTS
from tests.e2e.test_pipeline_e2e import auth, run_scan
from tests.support.lab import Lab
from tests.support.stack import RunningStack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
PEPPER = "e2e-durable-pepper-0123456789abcdef"


def _start(lab: Lab, data_dir: Path) -> RunningStack:
    return start_stack(lab.stack_env(PERIMETER_SCAN_PORTS=E2E_PORTS, PERIMETER_RATE_LIMIT="100000",
                                     PERIMETER_DATA_DIR=str(data_dir), PERIMETER_KEY_PEPPER=PEPPER))


def _download(stack: RunningStack, scan_id: str) -> tuple[bytes, str]:
    """The report's bytes through the 302 link (no API key on the second request), and the recorded digest."""
    described = requests.get(f"{stack.base_url}/v1/scans/{scan_id}/report", timeout=10,
                             headers={**auth(stack), "Accept": "application/json"}).json()
    redirect = requests.get(f"{stack.base_url}/v1/scans/{scan_id}/report", headers=auth(stack),
                            allow_redirects=False, timeout=10)
    assert redirect.status_code == 302, redirect.text
    link = redirect.headers["Location"]
    assert link.startswith(f"{stack.base_url}/v1/downloads/"), link
    downloaded = requests.get(link, timeout=10)
    assert downloaded.status_code == 200, downloaded.text
    assert downloaded.headers["Content-Type"] == "application/pdf"
    return downloaded.content, str(described["sha256"])


def test_a_scan_lives_in_the_data_directory_and_survives_a_restart(lab: Lab, tmp_path: Path) -> None:
    data_dir = tmp_path / "perimeter-data"
    stack = _start(lab, data_dir)
    try:
        scan = run_scan(stack, {"domain": "good.test"})
        assert scan["status"] == "complete", scan.get("error")
        pdf, digest = _download(stack, scan["scan_token"])
        assert pdf.startswith(b"%PDF-") and hashlib.sha256(pdf).hexdigest() == digest
        objects = data_dir / "objects"
        stored = sorted(str(p.relative_to(objects)) for p in objects.rglob("*") if p.is_file()
                        and ".meta" not in p.parts)
        assert any(key.endswith("/evidence/network.json") for key in stored), stored  # written by scanner tasks
        assert any(key.endswith("/report.pdf") for key in stored), stored
        s3 = boto3.client("s3", endpoint_url=stack.aws_endpoint, region_name="us-east-1")
        for bucket in s3.list_buckets()["Buckets"]:
            assert s3.list_objects_v2(Bucket=bucket["Name"]).get("KeyCount", 0) == 0, bucket["Name"]
    finally:
        assert stack.stop() == 0, "\n".join(stack.output[-40:])
    with sqlite3.connect(data_dir / "perimeter.sqlite3") as db:
        assert db.execute("SELECT count(*) FROM items WHERE sk LIKE 'SCAN#%'").fetchone()[0] >= 1
    again = _start(lab, data_dir)
    try:
        kept = requests.get(f"{again.base_url}/v1/scans/{scan['scan_token']}", headers=auth(again), timeout=10)
        assert kept.status_code == 200 and kept.json()["status"] == "complete" and kept.json()["grade"] == "A"
        assert _download(again, scan["scan_token"]) == (pdf, digest)
    finally:
        assert again.stop() == 0, "\n".join(again.output[-40:])
