"""The outbox sweeper is deployed: a Lambda of the contract, defined in app.py, scheduled every minute in Terraform."""

from __future__ import annotations

import importlib

import pytest

from chalicelib.adapters.memory import MemoryQueue
from chalicelib.pipeline import contract
from chalicelib.services import Services


def test_the_sweeper_is_a_lambda_of_the_contract_and_of_app(services: Services) -> None:
    assert contract.WEBHOOK_OUTBOX_SWEEPER in contract.ALL_LAMBDAS
    app = importlib.import_module("app")
    services.webhook_queue, services.webhook_dlq = MemoryQueue(), MemoryQueue()
    assert app.sweep_webhook_outbox({}, None) == {"resent": 0}


def test_terraform_schedules_the_sweeper_every_minute() -> None:
    pytest.importorskip("hcl2", reason="python-hcl2 is not installed (requirements-dev.txt)")
    from tests.infra.terraform_config import load

    tf = load()
    assert tf.locals["webhook_outbox_sweeper"] == contract.WEBHOOK_OUTBOX_SWEEPER.name
    assert tf.locals["webhook_outbox_rate"] == contract.WEBHOOK_OUTBOX_SCHEDULE == "rate(1 minute)"
    rule = tf.resource("aws_cloudwatch_event_rule", "webhook_outbox")
    assert rule["schedule_expression"] == "${local.webhook_outbox_rate}"
    target = tf.resource("aws_cloudwatch_event_target", "webhook_outbox")
    assert target["arn"] == "${aws_lambda_function.fn[local.webhook_outbox_sweeper].arn}"
    permission = tf.resource("aws_lambda_permission", "webhook_outbox")
    assert permission["principal"] == "events.amazonaws.com"
    assert permission["source_arn"] == "${aws_cloudwatch_event_rule.webhook_outbox.arn}"
    statements = tf.locals["lambda_statements"]["sweep_webhook_outbox"]
    assert {"${local.table_statement}", "${local.enqueue_webhook_event}"} <= {s for s in statements
                                                                              if isinstance(s, str)}
    [dead_letter] = [s for s in statements if isinstance(s, dict)]
    assert dead_letter["resources"] == ["${aws_sqs_queue.webhooks_dlq.arn}"]
