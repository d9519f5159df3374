"""`import app` (every Lambda's cold start) loads neither boto3/botocore nor Powertools: they load on first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

HEAVY = ("boto3", "botocore", "aws_lambda_powertools", "aws_xray_sdk")


def test_import_app_loads_no_aws_sdk_and_no_powertools() -> None:
    probe = f"import sys, app; print(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert loaded.stdout.split() == [], f"imported by `import app`: {loaded.stdout}"
