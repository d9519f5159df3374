"""The ASL file against its validators and its contract with app.py and the pipeline contract table."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

import app as app_module
from chalicelib.core.contract import ASL_PLACEHOLDERS, PIPELINE_LAMBDAS, SCANNER_CONTAINER, SCANNER_TASK_ENV
from chalicelib.local.provision import ASL_PATH, render_asl

ROOT = Path(__file__).resolve().parents[2]
VALIDATOR = ROOT / ".tools" / "node_modules" / ".bin" / "asl-validator"
SAMPLE = {p: (f"arn:aws:lambda:us-east-1:123456789012:function:perimeter-{p.removesuffix('_arn')}"
              if p.endswith("_arn") and p not in ("cluster_arn", "scanner_task_definition_arn") else
              {"cluster_arn": "arn:aws:ecs:us-east-1:123456789012:cluster/perimeter-scanners",
               "scanner_task_definition_arn": "arn:aws:ecs:us-east-1:123456789012:task-definition/perimeter-scanner:1",
               }.get(p, f"{p.replace('_', '-')}-0123")) for p in ASL_PLACEHOLDERS}


def states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Every state, including those inside Parallel branches."""
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        found[name] = state
        for branch in state.get("Branches", []):
            found.update(states(branch))
    return found


@pytest.fixture
def rendered(tmp_path: Path) -> Path:
    path = tmp_path / "scan-pipeline.json"
    path.write_text(render_asl(SAMPLE))
    return path


def run_validator(path: Path) -> subprocess.CompletedProcess[str]:
    if not VALIDATOR.exists():
        pytest.skip("npm asl-validator is not installed (scripts/setup.sh installs it where npm exists)")
    return subprocess.run([str(VALIDATOR), "--json-path", str(path)], capture_output=True, text=True, timeout=60,
                          check=False)


def test_asl_validator_accepts_the_pipeline(rendered: Path) -> None:
    result = run_validator(rendered)
    assert result.returncode == 0, result.stdout + result.stderr


def test_asl_validator_rejects_a_pipeline_with_a_dangling_transition(rendered: Path, tmp_path: Path) -> None:
    broken = json.loads(rendered.read_text())
    broken["States"]["Score"]["Next"] = "NoSuchState"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(broken))
    assert run_validator(path).returncode != 0


def test_moto_parser_accepts_the_pipeline() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    program, _ = AmazonStateLanguageParser.parse(render_asl(SAMPLE))
    assert program is not None


def test_moto_parser_rejects_a_bad_resource_arn() -> None:
    from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

    broken = json.loads(render_asl(SAMPLE))
    broken["States"]["RunScanners"]["Branches"][0]["States"]["RunNetworkScanner"]["Resource"] = \
        "arn:aws:states:::ecs:runTaskz.waitForTaskToken"
    with pytest.raises(Exception):  # noqa: B017 - any parse error will do
        AmazonStateLanguageParser.parse(json.dumps(broken))


def test_every_placeholder_in_the_file_is_in_the_contract_and_back() -> None:
    in_file = set(re.findall(r"\$\{(\w+)\}", ASL_PATH.read_text()))
    assert in_file == set(ASL_PLACEHOLDERS)


def test_render_refuses_a_missing_placeholder() -> None:
    partial = dict(SAMPLE)
    partial.pop("cluster_arn")
    with pytest.raises(ValueError, match="cluster_arn"):
        render_asl(partial)


def test_every_lambda_task_names_a_handler_registered_in_app() -> None:
    definition = json.loads(ASL_PATH.read_text())
    lambda_placeholders = {s["Resource"][2:-1] for s in states(definition).values()
                           if s.get("Type") == "Task" and s["Resource"].startswith("${")}
    by_placeholder = {spec.asl_placeholder: spec for spec in PIPELINE_LAMBDAS}
    assert lambda_placeholders == set(by_placeholder)
    registered = app_module.app.handler_map
    for placeholder in lambda_placeholders:
        spec = by_placeholder[placeholder]
        module, _, function = spec.handler.partition(".")
        assert module == "app"
        assert function in registered, f"{spec.handler} is not a Lambda function in app.py"
        assert callable(getattr(app_module, function))


def test_every_task_has_a_timeout_and_scanner_tasks_a_heartbeat() -> None:
    for name, state in states(json.loads(ASL_PATH.read_text())).items():
        if state.get("Type") != "Task":
            continue
        assert "TimeoutSeconds" in state or "TimeoutSecondsPath" in state, name
        if "ecs:runTask" in state["Resource"]:
            assert state["Resource"].endswith(".waitForTaskToken"), name
            assert "HeartbeatSeconds" in state or "HeartbeatSecondsPath" in state, name


def test_every_step_before_the_end_catches_into_mark_failed() -> None:
    definition = json.loads(ASL_PATH.read_text())
    for name in ("MarkScanning", "RunScanners", "Score", "RenderReport", "Finalize"):
        catchers = definition["States"][name]["Catch"]
        assert any(c["ErrorEquals"] == ["States.ALL"] and c["Next"] == "MarkFailed" for c in catchers), name
    assert definition["States"]["MarkFailed"]["Next"] == "ScanFailed"


def test_scanner_tasks_pass_the_whole_environment_contract() -> None:
    for name, state in states(json.loads(ASL_PATH.read_text())).items():
        if "ecs:runTask" not in state.get("Resource", ""):
            continue
        overrides = state["Parameters"]["Overrides"]["ContainerOverrides"]
        assert [o["Name"] for o in overrides] == [SCANNER_CONTAINER]
        passed = {e["Name"] for e in overrides[0]["Environment"]}
        assert passed == set(SCANNER_TASK_ENV), name
