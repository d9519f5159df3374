"""bench/cost.py: the transition count follows the ASL file; the model's arithmetic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from bench import cost
from chalicelib.core import contract

pytest.importorskip("hcl2", reason="python-hcl2 is not installed (requirements-dev.txt)")


def _task(resource: str, nxt: str | None = None) -> dict[str, Any]:
    state: dict[str, Any] = {"Type": "Task", "Resource": resource}
    state.update({"Next": nxt} if nxt else {"End": True})
    return state


SYNTHETIC = {
    "StartAt": "A",
    "States": {
        "A": {**_task("${mark_scanning_arn}", "P"), "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "F"}]},
        "P": {"Type": "Parallel", "Next": "C", "Branches": [
            {"StartAt": "W", "States": {
                "W": {"Type": "Choice", "Choices": [{"Variable": "$.run.groups.network", "BooleanEquals": True,
                                                     "Next": "N"}], "Default": "Skip"},
                "Skip": {"Type": "Pass", "End": True},
                "N": {"Type": "Task", "Resource": "arn:aws:states:::ecs:runTask.waitForTaskToken", "End": True,
                      "Parameters": {"Overrides": {"ContainerOverrides": [
                          {"Name": "scanner", "Environment": [{"Name": "SIGNAL_GROUP", "Value": "network"}]}]}}},
            }},
            {"StartAt": "Q", "States": {"Q": {"Type": "Pass", "End": True}}},
        ]},
        "C": {"Type": "Choice", "Choices": [{"Variable": "$.scan_type", "StringEquals": "ports", "Next": "F"}],
              "Default": "S"},
        "S": _task("${score_scan_arn}", "Done"),
        "Done": {"Type": "Succeed"},
        "F": {"Type": "Fail"},
    },
}


def test_transition_count_follows_a_successful_posture_scan(tmp_path: Path) -> None:
    path = cost.walk(SYNTHETIC, cost.posture_input())
    # A, P, (W, N), (Q), C, S, Done: the Catch target F and the Choice default Skip are not entered.
    assert [v.name for v in path] == ["A", "P", "W", "N", "Q", "C", "S", "Done"]
    assert [v.lambda_name for v in path if v.lambda_name] == ["mark_scanning", "score_scan"]
    assert [v.signal_group for v in path if v.signal_group] == ["network"]
    asl = tmp_path / "asl.json"
    asl.write_text(json.dumps(SYNTHETIC))
    assert cost.model(asl_path=asl, bench_file=tmp_path / "none.json")["state_transitions"] == 8


def test_walk_refuses_what_it_cannot_count() -> None:
    loop = {"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "A"}}}
    with pytest.raises(ValueError, match="does not terminate"):
        cost.walk(loop, {})
    unknown = {"StartAt": "C", "States": {"C": {"Type": "Choice", "Choices": [
        {"Variable": "$.x", "TimestampEquals": "2026-01-01T00:00:00Z", "Next": "C"}]}}}
    with pytest.raises(ValueError, match="not modelled"):
        cost.walk(unknown, {"x": "y"})


def _all_states(machine: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found = dict(machine["States"])
    for state in machine["States"].values():
        for branch in state.get("Branches", []):
            found.update(_all_states(branch))
    return found


def test_cost_model_transitions_match_the_repository_asl() -> None:
    machine = json.loads(cost.ASL_PATH.read_text())
    if "Parallel" not in json.dumps(machine):
        pytest.skip("the ASL file is still the placeholder of the pipeline issue")
    states = _all_states(machine)
    # Independently: every state, minus what only failure reaches (Catch targets and what follows
    # them) and the Choice defaults that skip a group a posture scan wants.
    failure_only: set[str] = set()
    todo = [c["Next"] for s in states.values() for c in s.get("Catch", [])]
    while todo:
        name = todo.pop()
        if name not in failure_only:
            failure_only.add(name)
            todo += [n for n in (states[name].get("Next"), states[name].get("Default")) if n]
    skipped = {s["Default"] for s in states.values() if s["Type"] == "Choice" and "Default" in s}
    expected = set(states) - failure_only - skipped
    figures = cost.model()
    assert set(figures["states_on_success_path"]) == expected
    assert figures["state_transitions"] == len(expected)
    path = cost.posture_path()
    assert {v.signal_group for v in path if v.signal_group} == set(contract.SIGNAL_GROUPS)
    assert figures["scanner_task"]["tasks_per_scan"] == len(contract.SIGNAL_GROUPS)
    on_path = {v.lambda_name for v in path if v.lambda_name}
    assert on_path == {s.name for s in contract.PIPELINE_LAMBDAS} - {"mark_failed"}


def test_measured_step_seconds_override_defaults_by_state_or_component_name(tmp_path: Path) -> None:
    bench = tmp_path / "bench_pipeline.json"
    bench.write_text(json.dumps({"step_seconds": {"RunNetworkScanner": 120, "score_scan": 0.5, "bogus": 1}}))
    seconds, source, unmatched = cost.step_seconds(cost.posture_path(), bench)
    assert seconds["network"] == 120 and seconds["score_scan"] == 0.5
    assert seconds["intel"] == cost.DEFAULT_STEP_SECONDS["intel"]
    assert source.startswith("measured") and unmatched == ["bogus"]
    _, source, _ = cost.step_seconds(cost.posture_path(), tmp_path / "missing.json")
    assert source.startswith("defaults")


def test_fargate_bills_at_least_one_minute_per_task() -> None:
    path = cost.posture_path()
    size = (0.25, 0.5, "X86_64")
    short = cost.variable_costs(path, {**cost.DEFAULT_STEP_SECONDS, "network": 5, "intel": 5}, size)
    minute = cost.variable_costs(path, {**cost.DEFAULT_STEP_SECONDS, "network": 60, "intel": 60}, size)
    assert short["fargate"] == pytest.approx(minute["fargate"])
    per_task_minute = (0.25 * cost.PRICES["fargate_vcpu_hour_x86"] + 0.5 * cost.PRICES["fargate_gb_hour_x86"]) / 60
    assert minute["fargate"] == pytest.approx(len(contract.SIGNAL_GROUPS) * per_task_minute)


def test_cost_model_reads_terraform_defaults_and_states_the_target() -> None:
    assert cost.scanner_size() == (0.25, 0.5, "ARM64")
    assert cost.scanner_capacity_provider() == "FARGATE_SPOT"
    assert cost.alarm_count() >= 5
    figures = cost.model()
    assert figures["scans_per_month"] == 10_000
    assert figures["per_scan_with_fixed_usd"] > figures["per_scan_without_fixed_usd"] > 0
    assert figures["met"] == (figures["per_scan_with_fixed_usd"] <= cost.TARGET_PER_SCAN)
    assert figures["comparison_nat_gateway"]["fixed_monthly_total_usd"] > figures["fixed_monthly_total_usd"]


def test_arm64_and_spot_price_the_scanner_tasks() -> None:
    path = cost.posture_path()
    x86 = cost.variable_costs(path, cost.DEFAULT_STEP_SECONDS, (0.25, 0.5, "X86_64"))["fargate"]
    arm = cost.variable_costs(path, cost.DEFAULT_STEP_SECONDS, (0.25, 0.5, "ARM64"))["fargate"]
    spot = cost.variable_costs(path, cost.DEFAULT_STEP_SECONDS, (0.25, 0.5, "ARM64"), "FARGATE_SPOT")["fargate"]
    assert arm == pytest.approx(0.8 * x86, rel=0.01)  # Graviton: 20% below x86
    assert spot == pytest.approx(arm * (1 - cost.SPOT_DISCOUNT) * (1 + cost.SPOT_RETRY_ALLOWANCE))
    assert 0.5 <= cost.SPOT_DISCOUNT <= 0.70 and cost.SPOT_RETRY_ALLOWANCE > 0  # conservative, documented
    on_demand = cost.variable_costs(path, cost.DEFAULT_STEP_SECONDS, (0.25, 0.5, "ARM64"), "FARGATE")
    assert on_demand["fargate"] == arm


def test_cost_model_prints_before_and_after_against_the_issue_goal() -> None:
    figures = cost.model()
    before, after = figures["before_after"]["before"], figures["before_after"]["after"]
    assert before["scanner_tasks"] == "X86_64 on FARGATE" and after["scanner_tasks"] == "ARM64 on FARGATE_SPOT"
    assert after["per_scan_without_fixed_usd"] < before["per_scan_without_fixed_usd"]
    saved = before["per_scan_without_fixed_usd"] - after["per_scan_without_fixed_usd"]
    assert saved == pytest.approx(before["per_scan_with_fixed_usd"] - after["per_scan_with_fixed_usd"], abs=2e-6)
    assert figures["goal_per_scan_usd"] == 0.001
    assert figures["goal_met_without_fixed"] == (after["per_scan_without_fixed_usd"] <= 0.001)
    assert figures["goal_met_with_fixed"] == (after["per_scan_with_fixed_usd"] <= 0.001)
    budget = figures["fixed_monthly_budget_for_goal_usd"]
    assert budget == pytest.approx((0.001 - figures["per_scan_without_fixed_usd"]) * 10_000, abs=0.01)


def test_terraform_variables_switch_spot_and_arm64_off(tmp_path: Path) -> None:
    text = cost.VARIABLES_TF.read_text()
    off = text.replace('default     = "ARM64"', 'default     = "X86_64"').replace(
        'default     = "FARGATE_SPOT"', 'default     = "FARGATE"')
    assert off != text
    variables = tmp_path / "variables.tf"
    variables.write_text(off)
    assert cost.scanner_size(variables) == (0.25, 0.5, "X86_64")
    assert cost.scanner_capacity_provider(variables) == "FARGATE"
    assert cost.scanner_capacity_provider(tmp_path / "missing.tf") == "FARGATE"


def test_a_metric_math_alarm_is_billed_per_metric_it_reads(tmp_path: Path) -> None:
    tf = tmp_path / "observability.tf"
    tf.write_text('''
resource "aws_cloudwatch_metric_alarm" "plain" {
  alarm_name  = "plain"
  metric_name = "Errors"
}
resource "aws_cloudwatch_metric_alarm" "share" {
  alarm_name = "share"
  metric_query {
    id = "failed"
    metric {
      metric_name = "ScansFailed"
    }
  }
  metric_query {
    id = "completed"
    metric {
      metric_name = "ScansCompleted"
    }
  }
  metric_query {
    id          = "rate"
    expression  = "failed / (failed + completed)"
    return_data = true
  }
}
''')
    assert cost.alarm_count(tf) == 3


def test_the_fixed_cost_counts_the_custom_metrics_the_code_publishes(monkeypatch: pytest.MonkeyPatch) -> None:
    from chalicelib.core import observability

    monkeypatch.setattr(observability, "METRICS", {"Volume": (), "Failures": ("kind",)})
    share, values = cost.ASSUMPTIONS["failure_series_hours_share"], cost.ASSUMPTIONS["failure_breakdown_values"]
    assert cost.custom_metric_series() == pytest.approx(1 + (1 + values) * share)
    fixed = cost.fixed_costs(cost.SCANS_PER_MONTH)
    assert fixed["custom_metrics"] == pytest.approx(cost.custom_metric_series() * cost.PRICES["custom_metric_month"])
