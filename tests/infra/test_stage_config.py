"""scripts/stage_config.py: Terraform outputs -> .chalice/config.json, never a secret."""

from __future__ import annotations

import importlib.util
import json
import shutil
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.infra.terraform_config import ROOT


def _module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("perimeter_stage_config", ROOT / "scripts" / "stage_config.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


stage_config = _module()

ENVIRONMENT = {
    "PERIMETER_STAGE": "prod",
    "PERIMETER_TABLE": "perimeter",
    "PERIMETER_BUCKET": "perimeter-reports-123456789012-us-east-1",
    "PERIMETER_WEBHOOK_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/perimeter-webhook-events",
    "PERIMETER_WEBHOOK_DLQ_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/perimeter-webhook-events-dlq",
    "PERIMETER_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:perimeter-scan-pipeline",
    "PERIMETER_CLUSTER": "perimeter-scanners",
    "PERIMETER_PUBLIC_BASE_URL": "https://abc123.execute-api.us-east-1.amazonaws.com/api",
}


def _outputs(env: dict[str, Any] | None = None, *, sensitive: bool = False) -> dict[str, Any]:
    """The shape of `terraform output -json`."""
    return {
        "api_url": {"sensitive": False, "type": "string", "value": ENVIRONMENT["PERIMETER_PUBLIC_BASE_URL"]},
        "lambda_environment": {"sensitive": sensitive, "type": ["object", {}], "value": env or ENVIRONMENT},
    }


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "config.json"
    shutil.copy2(ROOT / ".chalice" / "config.json", path)
    return path


def _run(tmp_path: Path, config: Path, outputs: dict[str, Any], stage: str = "prod") -> int:
    fixture = tmp_path / "outputs.json"
    fixture.write_text(json.dumps(outputs))
    return int(stage_config.main(["--stage", stage, "--outputs-json", str(fixture), "--config", str(config)]))


def test_stage_config_writes_terraform_outputs_into_the_stage(tmp_path: Path, config: Path) -> None:
    before = json.loads(config.read_text())
    assert _run(tmp_path, config, _outputs()) == 0
    after = json.loads(config.read_text())
    assert after["stages"]["prod"]["environment_variables"] == ENVIRONMENT
    assert after["stages"]["local"] == before["stages"]["local"], "other stages are left alone"
    assert after["stages"]["prod"]["api_gateway_stage"] == "api"


def test_stage_config_creates_a_missing_stage_and_keeps_its_other_keys(tmp_path: Path, config: Path) -> None:
    assert _run(tmp_path, config, _outputs(), stage="staging") == 0
    staging = json.loads(config.read_text())["stages"]["staging"]
    assert staging["environment_variables"]["PERIMETER_TABLE"] == "perimeter"
    assert staging["environment_variables"]["PERIMETER_STAGE"] == "prod", "Terraform's stage value wins"
    assert staging["api_gateway_stage"] == "api"


@pytest.mark.parametrize("name", ["PERIMETER_KEY_PEPPER", "PERIMETER_WEBHOOK_SECRET_KEY", "PERIMETER_BREACH_API_KEY"])
def test_stage_config_refuses_secrets(tmp_path: Path, config: Path, name: str) -> None:
    original = config.read_text()
    assert _run(tmp_path, config, _outputs({**ENVIRONMENT, name: "s3cr3t-s3cr3t-s3cr3t-s3cr3t"})) == 1
    assert config.read_text() == original


def test_stage_config_refuses_unknown_and_local_only_variables(tmp_path: Path, config: Path) -> None:
    assert _run(tmp_path, config, _outputs({**ENVIRONMENT, "PERIMETER_TABEL": "typo"})) == 1
    assert _run(tmp_path, config, _outputs({**ENVIRONMENT, "AWS_ENDPOINT_URL": "http://127.0.0.1:5000"})) == 1


def test_stage_config_refuses_a_sensitive_output_and_the_local_stage(tmp_path: Path, config: Path) -> None:
    assert _run(tmp_path, config, _outputs(sensitive=True)) == 1
    assert _run(tmp_path, config, _outputs(), stage="local") == 1
    assert _run(tmp_path, config, {"api_url": {"sensitive": False, "value": "x"}}) == 1


def test_outputs_fixture_matches_terraform_output_names() -> None:
    pytest.importorskip("hcl2", reason="python-hcl2 is not installed (requirements-dev.txt)")
    from tests.infra.terraform_config import load

    assert stage_config.OUTPUT_NAME in load().outputs
