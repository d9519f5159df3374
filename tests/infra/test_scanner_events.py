"""scanner_events.tf against the code: the ECS task-stopped rule reaches scanner_task_stopped for the
pipeline's scanner tasks only, and that Lambda may do nothing but fail task tokens."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from chalicelib.core import contract
from tests.infra.terraform_config import ROOT, Config, load
from tests.unit.test_task_events import CLUSTER, stopped_event

pytest.importorskip("hcl2", reason="python-hcl2 is not installed (requirements-dev.txt)")

NAME = contract.SCANNER_TASK_STOPPED.name


@pytest.fixture(scope="module")
def tf() -> Config:
    return load()


def _pattern(tf: Config) -> Any:
    """The rule's event pattern as moto's EventBridge matcher, the cluster ARN filled in."""
    from moto.events.models import EventPattern

    expression = tf.resource("aws_cloudwatch_event_rule", "scanner_task_stopped")["event_pattern"]
    match = re.fullmatch(r"\$\{jsonencode\((.*)\)\}", expression, re.S)
    assert match, expression
    body = match.group(1).replace("aws_ecs_cluster.scanners.arn", json.dumps(CLUSTER))
    body = re.sub(r'([A-Za-z][A-Za-z0-9_]*|"[^"]+")\s*=', lambda m: json.dumps(m.group(1).strip('"')) + ":", body)
    return EventPattern.load(body)


def test_the_rule_matches_a_stopped_pipeline_scanner_task_of_the_cluster_only(tf: Config) -> None:
    pattern = _pattern(tf)
    assert pattern.matches_event(stopped_event(137))
    assert pattern.matches_event(stopped_event(0))  # the Lambda decides; exit 0 is left alone there
    running = stopped_event()
    running["detail"]["lastStatus"] = "RUNNING"
    other_cluster = stopped_event()
    other_cluster["detail"]["clusterArn"] = CLUSTER.replace("perimeter-scanners", "someone-else")
    not_pipeline = stopped_event()
    not_pipeline["detail"]["group"] = "family:perimeter-scanner"
    for event in (running, other_cluster, not_pipeline):
        assert not pattern.matches_event(event)


def test_the_group_the_rule_filters_on_is_the_one_the_asl_sets() -> None:
    asl = (ROOT / "chalicelib" / "pipeline" / "scan-pipeline.asl.json").read_text()
    groups = re.findall(r'"Group\.\$": "([^"]+)"', asl)
    assert groups and set(groups) == {"States.Format('scan:{}', $.scan_id)"}


def test_the_rule_invokes_the_scanner_task_stopped_lambda(tf: Config) -> None:
    assert contract.SCANNER_TASK_STOPPED in contract.ALL_LAMBDAS
    target = tf.resource("aws_cloudwatch_event_target", "scanner_task_stopped")
    assert target["rule"] == "${aws_cloudwatch_event_rule.scanner_task_stopped.name}"
    assert target["arn"] == f'${{aws_lambda_function.fn["{NAME}"].arn}}'
    permission = tf.resource("aws_lambda_permission", "scanner_task_stopped")
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["function_name"] == f'${{aws_lambda_function.fn["{NAME}"].function_name}}'
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.scanner_task_stopped.arn}"


def test_the_lambda_may_only_fail_task_tokens(tf: Config) -> None:
    statements = tf.locals["lambda_statements"][NAME]
    assert [(s["sid"], s["actions"]) for s in statements] == [("FailStoppedScannerTasks", ["states:SendTaskFailure"])]
