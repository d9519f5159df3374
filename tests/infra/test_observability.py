"""Terraform against chalicelib/core/observability.py: JSON logs at the configured level, alarms on the code's metrics.

The dashboard's rendered body is checked in test_terraform.py's plan test.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from chalicelib.core.observability import METRICS, NAMESPACE
from chalicelib.core.settings import LogSettings
from tests.infra.terraform_config import Config, load

pytest.importorskip("hcl2", reason="python-hcl2 is not installed (requirements-dev.txt)")


@pytest.fixture(scope="module")
def tf() -> Config:
    return load()


def test_every_lambda_logs_json_at_the_level_the_code_logs_at(tf: Config) -> None:
    [logging_config] = tf.resource("aws_lambda_function", "fn")["logging_config"]
    assert logging_config["log_format"] == "JSON"
    assert logging_config["application_log_level"] == "${var.log_level}"
    assert logging_config["system_log_level"] == "WARN"
    settings = tf.locals["lambda_settings"]
    assert settings["PERIMETER_LOG_LEVEL"] == "${var.log_level}"
    assert settings["PERIMETER_SERVICE_NAME"] == "${var.prefix}" and settings["PERIMETER_METRICS"] == "emf"


def test_every_log_level_terraform_accepts_is_one_the_code_reads(tf: Config) -> None:
    variable = tf.variables["log_level"]
    [validation] = variable["validation"]
    allowed = re.findall(r'"([A-Z]+)"', validation["condition"])
    assert variable["default"] in allowed and len(allowed) >= 4
    for level in allowed:  # Lambda's names (WARN) are the code's too
        assert LogSettings.from_env({"PERIMETER_LOG_LEVEL": level}).log_level.startswith(level)


def _metric_alarms(tf: Config) -> dict[str, dict[str, Any]]:
    return {name: body for name, body in tf.resources["aws_cloudwatch_metric_alarm"].items()
            if "metric_query" in body}


def test_the_alarms_read_the_service_series_of_metrics_the_code_emits(tf: Config) -> None:
    assert tf.locals["metrics_namespace"] == NAMESPACE
    assert tf.locals["metrics_service"] == {"service": "${var.prefix}"}
    alarms = _metric_alarms(tf)
    assert {"scans_failed", "webhook_failures"} <= alarms.keys()
    for name, alarm in alarms.items():
        queries = alarm["metric_query"]
        [returned] = [q for q in queries if q.get("return_data")]
        metrics = {q["id"]: q["metric"][0] for q in queries if "metric" in q}
        assert set(re.findall(r"\b[a-z_]+\b(?!\()", returned["expression"])) - {"if"} <= metrics.keys(), name
        for metric in metrics.values():
            assert metric["namespace"] == "${local.metrics_namespace}", name
            assert metric["metric_name"] in METRICS, f"{name} reads {metric['metric_name']}, which the code never emits"
            assert metric["dimensions"] == "${local.metrics_service}", name
            assert (metric["stat"], metric["period"]) == ("Sum", 300), name
        assert alarm["alarm_actions"] == ["${aws_sns_topic.alarms.arn}"], name
        assert alarm["treat_missing_data"] == "notBreaching", name


def test_the_failure_alarms_replace_the_execution_failed_alarm_but_keep_timeouts(tf: Config) -> None:
    alarms = tf.resources["aws_cloudwatch_metric_alarm"]
    assert "executions_failed" not in alarms, "ScansFailed sees every failed scan, not only failed executions"
    assert alarms["executions_timed_out"]["metric_name"] == "ExecutionsTimedOut"
    assert alarms["webhook_dlq_depth"]["metric_name"] == "ApproximateNumberOfMessagesVisible"
