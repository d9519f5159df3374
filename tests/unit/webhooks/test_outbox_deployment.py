"""The outbox sweeper is deployed: a Lambda of the contract, defined in app.py, scheduled every minute in Terraform."""

from __future__ import annotations

import importlib

import pytest

from chalicelib.bootstrap import Services
from chalicelib.core import contract
from tests.support.memory import MemoryQueue


def test_the_sweeper_is_a_lambda_of_the_contract_and_of_app(services: Services) -> None:
    assert contract.WEBHOOK_OUTBOX_SWEEPER in contract.ALL_LAMBDAS
    app = importlib.import_module("app")
    services.webhook_queue, services.webhook_dlq = MemoryQueue(), MemoryQueue()
    assert app.sweep_webhook_outbox({}, None) == {"resent": 0}


def test_terraform_gives_the_sweeper_the_table_the_queue_and_the_dead_letter_queue() -> None:
    pytest.importorskip("hcl2", reason="python-hcl2 is not installed (requirements-dev.txt)")
    from tests.infra.terraform_config import load

    tf = load()
    assert tf.locals["schedules"][contract.WEBHOOK_OUTBOX_SWEEPER.name] == "rate(1 minute)"
    statements = tf.locals["lambda_statements"]["sweep_webhook_outbox"]
    assert {"${local.table_statement}", "${local.enqueue_webhook_event}"} <= {s for s in statements
                                                                              if isinstance(s, str)}
    [dead_letter] = [s for s in statements if isinstance(s, dict)]
    assert dead_letter["resources"] == ["${aws_sqs_queue.webhooks_dlq.arn}"]
