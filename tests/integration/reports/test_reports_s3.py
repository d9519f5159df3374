"""Reports end to end on moto: DynamoDB scan record, S3 objects with SSE, presigned download, PDF content."""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.aws.s3 import S3ObjectStore
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.settings import Settings
from chalicelib.local.provision import ensure_bucket, ensure_table
from chalicelib.reports.model import SIGNAL_LABELS
from chalicelib.reports.service import BrandingUpdate
from chalicelib.scans.models import SIGNALS_BY_TYPE, ScanStatus, ScanType, SignalKey
from tests.conftest import PEPPER, PUBLIC_DOMAINS
from tests.support.fakes import FakeResolver
from tests.support.memory import RecordingWorkflow
from tests.unit.reports.factories import make_findings, make_scan, png_bytes

TENANT = "acme"
TABLE, BUCKET = "perimeter-reports-test", "perimeter-reports-test"


@pytest.fixture
def resources(aws: dict[str, Any]) -> dict[str, str]:
    """Only what reports need (the table and the SSE-by-default bucket), as the embedded stack creates them."""
    ensure_table(aws["dynamodb"], TABLE)
    ensure_bucket(aws["s3"], BUCKET, "us-east-1")
    return {"table": TABLE, "bucket": BUCKET}


def _services(aws: dict[str, Any], resources: dict[str, str], bucket: str) -> Services:
    settings = Settings.from_env({}, key_pepper=PEPPER, table_name=resources["table"], bucket_name=bucket,
                                 report_link_seconds=900)
    return Services(settings, store=DynamoDBStore(resources["table"], aws["dynamodb"]), workflow=RecordingWorkflow(),
                    resolver=FakeResolver(PUBLIC_DOMAINS), objects=S3ObjectStore(bucket, aws["s3"]))


@pytest.fixture
def wired(aws: dict[str, Any], resources: dict[str, str]) -> Iterator[Services]:
    services = _services(aws, resources, resources["bucket"])
    set_services(services)
    yield services
    set_services(None)


def _complete_scan(services: Services, **kwargs: Any) -> str:
    scan = make_scan(**kwargs).model_copy(update={"tenant_id": TENANT, "completed_at": None})
    services.scans.repo.add(scan)
    services.reports.render_and_store(TENANT, scan.scan_id)
    services.scans.transition(TENANT, scan.scan_id, ScanStatus.COMPLETE)
    return scan.scan_id


def test_reports_are_stored_with_sse_and_the_link_downloads_the_recorded_bytes(
    wired: Services, aws: dict[str, Any], resources: dict[str, str],
) -> None:
    scan_id = _complete_scan(wired)
    scan = wired.scans.get(TENANT, scan_id)
    for fmt, key in scan.report_keys.items():
        head = aws["s3"].head_object(Bucket=resources["bucket"], Key=key)
        assert head["ServerSideEncryption"] == "AES256", fmt
        url, _, digest = wired.reports.link(TENANT, scan_id, fmt)
        downloaded = requests.get(url, timeout=10)
        assert downloaded.status_code == 200
        assert hashlib.sha256(downloaded.content).hexdigest() == digest == scan.report_sha256[fmt]
        assert f'filename="perimeter-example.com-{scan_id}.{fmt}"' in downloaded.headers["Content-Disposition"]
    before = time.time()
    link = wired.reports.link(TENANT, scan_id, "pdf")
    assert 0 < _lifetime(link.url, before) <= 900
    assert abs(link.expires_at.timestamp() - (before + 900)) < 5


def _lifetime(url: str, signed_at: float) -> float:
    """Seconds a presigned URL stays valid: SigV4 `X-Amz-Expires`, or SigV2's absolute `Expires`."""
    query = parse_qs(urlsplit(url).query)
    if "X-Amz-Expires" in query:
        return float(query["X-Amz-Expires"][0])
    return float(query["Expires"][0]) - signed_at


def test_the_adapter_encrypts_even_without_bucket_default_encryption(
    aws: dict[str, Any], resources: dict[str, str],
) -> None:
    aws["s3"].create_bucket(Bucket="perimeter-bare-bucket")
    services = _services(aws, resources, "perimeter-bare-bucket")
    services.reports.branding.put(TENANT, BrandingUpdate(display_name="Harbour",
                                                         logo=base64.b64encode(png_bytes()).decode()))
    scan_id = _complete_scan(services)
    keys = [o["Key"] for o in aws["s3"].list_objects_v2(Bucket="perimeter-bare-bucket")["Contents"]]
    assert len(keys) == 4  # logo, pdf, json, manifest
    for key in keys:
        assert key.startswith((f"tenants/{TENANT}/", f"branding/{TENANT}/"))
        head = aws["s3"].head_object(Bucket="perimeter-bare-bucket", Key=key)
        assert head["ServerSideEncryption"] == "AES256", key
    assert services.scans.get(TENANT, scan_id).report_keys


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install poppler-utils): PDF content checks skipped")
    return path


def test_the_stored_pdf_shows_domain_score_grade_and_every_finding(
    wired: Services, aws: dict[str, Any], resources: dict[str, str], tmp_path: Path,
) -> None:
    pdftotext, pdftoppm, pdfinfo = _tool("pdftotext"), _tool("pdftoppm"), _tool("pdfinfo")
    scan_id = _complete_scan(wired, target="xn--bcher-kva.example", findings=make_findings(40))
    scan = wired.scans.get(TENANT, scan_id)
    body = aws["s3"].get_object(Bucket=resources["bucket"], Key=scan.report_keys["pdf"])["Body"].read()
    path = tmp_path / "report.pdf"
    path.write_bytes(body)
    text = subprocess.run([pdftotext, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True,
                          timeout=60).stdout.decode()
    flat = " ".join(text.split())
    assert "bücher.example" in flat and "xn--bcher-kva.example" in flat
    assert str(scan.score) in flat and "out of 100" in flat
    assert f"GRADE {scan.grade}" in text.replace("\n", " ") or scan.grade is None
    for signal in scan.signals.values():
        for finding in signal.findings:
            assert finding.title in flat, finding.title
    # a posture report shows the posture signals; webapp and container sections belong to their scan types
    assert all(SIGNAL_LABELS[key] in flat for key in SIGNALS_BY_TYPE[ScanType.POSTURE])
    assert SIGNAL_LABELS[SignalKey.WEBAPP] not in flat
    pages = int(next(line.split()[-1] for line in subprocess.run(
        [pdfinfo, str(path)], capture_output=True, text=True, check=True, timeout=60).stdout.splitlines()
        if line.startswith("Pages:")))
    done = subprocess.run([pdftoppm, "-png", "-r", "40", str(path), str(tmp_path / "page")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and not done.stderr.strip(), done.stderr
    rendered = sorted(tmp_path.glob("page-*.png"))
    assert len(rendered) == pages >= 5
    assert all(p.stat().st_size > 1000 for p in rendered)
