"""Scanner tasks on Fargate Spot and ARM64: the ASL's RunTask, the Terraform that fills it, the switches."""

from __future__ import annotations

import json
from typing import Any

import pytest

from chalicelib.core import contract
from chalicelib.local.provision import ASL_PATH, SCANNER_CAPACITY_PROVIDER, render_asl

pytest.importorskip("hcl2", reason="python-hcl2 is not installed (requirements-dev.txt)")

from tests.infra.terraform_config import Config, load


@pytest.fixture(scope="module")
def tf() -> Config:
    return load()


def _run_task_states(definition: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for name, state in definition["States"].items():
        if "ecs:runTask" in state.get("Resource", ""):
            found[name] = state
        for branch in state.get("Branches", []):
            found.update(_run_task_states(branch))
    return found


def test_scanner_run_tasks_use_the_capacity_provider_placeholder_not_a_launch_type() -> None:
    states = _run_task_states(json.loads(ASL_PATH.read_text()))
    assert set(states) == {f"Run{group.capitalize()}Scanner" for group in contract.SIGNAL_GROUPS}
    for name, state in states.items():
        parameters = state["Parameters"]
        assert "LaunchType" not in parameters, name  # ECS refuses a launch type next to a strategy
        assert parameters["CapacityProviderStrategy"] == [
            {"CapacityProvider": "${scanner_capacity_provider}", "Weight": 1}], name
        # An interrupted Spot task answers Scanner.Transient (chalicelib/scanners/task.py): retried.
        assert any("Scanner.Transient" in r["ErrorEquals"] and r["MaxAttempts"] >= 1 for r in state["Retry"]), name
    assert "scanner_capacity_provider" in contract.ASL_INFRA_PLACEHOLDERS


@pytest.mark.parametrize("provider", ["FARGATE_SPOT", "FARGATE"])
def test_rendered_pipeline_names_the_chosen_provider(provider: str) -> None:
    values = {p: f"arn:aws:lambda:us-east-1:123456789012:function:{p}" for p in contract.ASL_PLACEHOLDERS}
    values["scanner_capacity_provider"] = provider
    for state in _run_task_states(json.loads(render_asl(values))).values():
        assert state["Parameters"]["CapacityProviderStrategy"] == [{"CapacityProvider": provider, "Weight": 1}]


def test_terraform_defaults_to_spot_on_arm64_and_validates_the_switches(tf: Config) -> None:
    architecture, provider = tf.variables["scanner_cpu_architecture"], tf.variables["scanner_capacity_provider"]
    assert architecture["default"] == "ARM64" and provider["default"] == "FARGATE_SPOT"
    assert "X86_64" in architecture["validation"][0]["condition"]
    assert '"FARGATE"' in provider["validation"][0]["condition"].replace("'", '"')
    assert tf.locals["asl_infra_vars"]["scanner_capacity_provider"] == "${var.scanner_capacity_provider}"
    assert provider["default"] == SCANNER_CAPACITY_PROVIDER  # the embedded stack mirrors the default


def test_cluster_offers_both_fargate_providers_and_the_task_runs_on_the_chosen_architecture(tf: Config) -> None:
    providers = tf.resource("aws_ecs_cluster_capacity_providers", "scanners")
    assert set(providers["capacity_providers"]) == {"FARGATE", "FARGATE_SPOT"}
    strategy = providers["default_capacity_provider_strategy"]
    strategy = strategy[0] if isinstance(strategy, list) else strategy
    assert strategy["capacity_provider"] == "${var.scanner_capacity_provider}"
    task = tf.resource("aws_ecs_task_definition", "scanner")
    platform = task["runtime_platform"]
    platform = platform[0] if isinstance(platform, list) else platform
    assert platform["cpu_architecture"] == "${var.scanner_cpu_architecture}"
