"""StopExecution on the embedded stack's moto behaves as AWS's does (chalicelib.local.moto_fixes, fix 9).

A stopped execution reads ABORTED at once, runs no Catch, and never hangs: neither while a task
waits on its token with a long heartbeat, nor when the stop lands while a Parallel state is still
opening its branches (a scanner that cancels its scan at once does exactly that).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.local import moto_fixes

ROLE = "arn:aws:iam::123456789012:role/sfn"


@pytest.fixture
def sfn() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        moto_fixes.install()
        yield boto3.client("stepfunctions", region_name="us-east-1")


def _start(sfn: Any, definition: dict[str, Any]) -> str:
    arn = sfn.create_state_machine(name=f"m{time.monotonic_ns()}", definition=json.dumps(definition),
                                   roleArn=ROLE)["stateMachineArn"]
    return str(sfn.start_execution(stateMachineArn=arn)["executionArn"])


def _status_after(sfn: Any, execution: str, seconds: float) -> str:
    """The execution's status once it leaves RUNNING, or RUNNING after `seconds`."""
    deadline = time.monotonic() + seconds
    status = "RUNNING"
    while time.monotonic() < deadline:
        status = sfn.describe_execution(executionArn=execution)["status"]
        if status != "RUNNING":
            break
        time.sleep(0.05)
    return str(status)


def test_stopping_an_execution_whose_task_waits_on_its_token_aborts_it_at_once(sfn: Any) -> None:
    queue = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="tokens")["QueueUrl"]
    execution = _start(sfn, {"StartAt": "Wait", "States": {
        "Wait": {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                 "HeartbeatSeconds": 60, "Parameters": {"QueueUrl": queue, "MessageBody": {"t.$": "$$.Task.Token"}},
                 "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "Caught"}], "End": True},
        "Caught": {"Type": "Pass", "End": True}}})
    deadline = time.monotonic() + 5
    while not any(e["type"] == "TaskSubmitted" for e in sfn.get_execution_history(executionArn=execution)["events"]):
        assert time.monotonic() < deadline, "the task never started waiting"
        time.sleep(0.05)

    sfn.stop_execution(executionArn=execution, cause="cancelled")

    assert _status_after(sfn, execution, 10) == "ABORTED"  # not after the 60 s heartbeat
    events = [e["type"] for e in sfn.get_execution_history(executionArn=execution)["events"]]
    assert "PassStateEntered" not in events, events  # the Catch did not run
    assert events[-1] == "ExecutionAborted"


def test_a_stop_while_a_parallel_state_opens_its_branches_ends_the_execution(
        sfn: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from moto.stepfunctions.parser.asl.eval.environment import Environment

    opened: list[int] = []
    started: list[str] = []
    original = Environment.open_inner_frame

    def open_inner_frame(self: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(1)
        if len(opened) == 2:  # the first branch runs; the stop lands before the second is opened
            deadline = time.monotonic() + 5
            while not started and time.monotonic() < deadline:
                time.sleep(0.01)
            sfn.stop_execution(executionArn=started[0], cause="cancelled")
        return original(self, *args, **kwargs)

    monkeypatch.setattr(Environment, "open_inner_frame", open_inner_frame)
    started.append(_start(sfn, {"StartAt": "Both", "States": {"Both": {
        "Type": "Parallel", "End": True, "Branches": [
            {"StartAt": "Slow", "States": {"Slow": {"Type": "Wait", "Seconds": 1, "End": True}}},
            {"StartAt": "Fast", "States": {"Fast": {"Type": "Pass", "End": True}}}]}}}))

    assert _status_after(sfn, started[0], 10) == "ABORTED"
    assert len(opened) == 2
