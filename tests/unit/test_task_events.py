"""The ECS task-stopped event parser and the `scanner_task_stopped` Lambda, on fakes.

The fixture event follows AWS's documented "ECS Task State Change" shape (Amazon ECS developer guide,
"Amazon ECS task state change events"): `detail.overrides.containerOverrides[].environment` carries
what RunTask's overrides set (the ASL's TASK_TOKEN), `detail.containers[].exitCode` the container's
exit code, `detail.stopCode` / `detail.stoppedReason` why the task stopped.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from chalicelib.aws.stepfunctions import TaskCallbacks, TaskTokenGone
from chalicelib.pipeline.task_events import (
    StoppedTask,
    fail_stopped_task,
    handle_task_state_change,
    parse_task_stopped,
)

TOKEN = "AQCEAAAAKgAAAAMAAAAAAAAAAeXampleTaskToken=="
CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/perimeter-scanners"
TASK = "arn:aws:ecs:us-east-1:123456789012:task/perimeter-scanners/c13b4cb40f1f4fe4a2971f76ae5a47ad"


def stopped_event(exit_code: int | None = 137, *, stop_code: str = "EssentialContainerExited",
                  reason: str = "Essential container in task exited") -> dict[str, Any]:
    """An EventBridge ECS Task State Change event of a stopped pipeline scanner task."""
    container: dict[str, Any] = {
        "containerArn": "arn:aws:ecs:us-east-1:123456789012:container/perimeter-scanners/c13b4cb4/8e2b4d4e",
        "lastStatus": "STOPPED", "name": "scanner", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/s:1",
        "taskArn": TASK, "networkInterfaces": [{"attachmentId": "a1", "privateIpv4Address": "10.0.1.17"}],
        "cpu": "0",
    }
    if exit_code is not None:
        container["exitCode"] = exit_code
    return {
        "version": "0", "id": "3317b2af-7005-947d-b652-f55e762e571a", "detail-type": "ECS Task State Change",
        "source": "aws.ecs", "account": "123456789012", "time": "2026-12-06T08:00:10Z", "region": "us-east-1",
        "resources": [TASK],
        "detail": {
            "attachments": [{"id": "1789bcae", "type": "eni", "status": "DELETED", "details": []}],
            "availabilityZone": "us-east-1a", "clusterArn": CLUSTER, "containers": [container],
            "createdAt": "2026-12-06T08:00:00.000Z", "launchType": "FARGATE", "cpu": "512", "memory": "1024",
            "desiredStatus": "STOPPED", "group": "scan:scn_01HZX", "lastStatus": "STOPPED",
            "overrides": {"containerOverrides": [{"name": "scanner", "environment": [
                {"name": "TASK_TOKEN", "value": TOKEN}, {"name": "SCAN_ID", "value": "scn_01HZX"},
                {"name": "SIGNAL_GROUP", "value": "network"},
            ]}]},
            "connectivity": "CONNECTED", "stoppingAt": "2026-12-06T08:00:09.000Z",
            "stoppedAt": "2026-12-06T08:00:10.000Z", "stopCode": stop_code, "stoppedReason": reason,
            "taskArn": TASK,
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/perimeter-scanner:3",
            "updatedAt": "2026-12-06T08:00:10.000Z", "version": 4,
        },
    }


class FakeCallbacks:
    """SendTaskFailure recorded; `refuse` makes it raise like an answered token."""

    def __init__(self, refuse: Exception | None = None) -> None:
        self.failures: list[tuple[str, str, str]] = []
        self.refuse = refuse

    def failure(self, token: str, error: str, cause: str) -> None:
        if self.refuse is not None:
            raise self.refuse
        self.failures.append((token, error, cause))


def test_parser_reads_token_exit_code_and_reason_from_the_documented_event_shape() -> None:
    stopped = parse_task_stopped(stopped_event(137))
    assert stopped == StoppedTask(task_arn=TASK, task_token=TOKEN, exit_code=137,
                                  stop_code="EssentialContainerExited",
                                  stopped_reason="Essential container in task exited", group="scan:scn_01HZX")


@pytest.mark.parametrize("mutate", [
    lambda e: e.update({"detail-type": "ECS Container Instance State Change"}),
    lambda e: e["detail"].update({"lastStatus": "RUNNING"}),
    lambda e: e["detail"].update({"overrides": {"containerOverrides": [{"name": "scanner"}]}}),
    lambda e: e["detail"]["overrides"]["containerOverrides"][0].update({"name": "sidecar"}),
    lambda e: e["detail"].pop("overrides"),
    lambda e: e.update({"detail": "garbage"}),
])
def test_events_that_are_not_a_stopped_pipeline_scanner_are_ignored(mutate: Any) -> None:
    event = copy.deepcopy(stopped_event())
    mutate(event)
    callbacks = FakeCallbacks()
    assert parse_task_stopped(event) is None
    assert handle_task_state_change(event, callbacks) == {"failed": False, "ignored": True}
    assert callbacks.failures == []


def test_a_container_that_died_fails_the_token_as_crashed_naming_reason_and_exit_code() -> None:
    callbacks = FakeCallbacks()
    result = handle_task_state_change(stopped_event(137), callbacks)
    assert result["failed"] is True and result["error"] == "Scanner.Crashed"
    [(token, error, cause)] = callbacks.failures
    assert (token, error) == (TOKEN, "Scanner.Crashed")
    assert "Essential container in task exited" in cause and "exit code 137" in cause
    assert "c13b4cb40f1f4fe4a2971f76ae5a47ad" in cause


def test_a_container_that_exited_0_answered_itself_and_is_left_alone() -> None:
    callbacks = FakeCallbacks()
    assert handle_task_state_change(stopped_event(0), callbacks)["failed"] is False
    assert callbacks.failures == []


def test_a_task_whose_container_never_ran_fails_with_the_stop_reason() -> None:
    callbacks = FakeCallbacks()
    event = stopped_event(None, stop_code="TaskFailedToStart",
                          reason="CannotPullContainerError: pull image manifest has been retried 5 time(s)")
    handle_task_state_change(event, callbacks)
    [(_, error, cause)] = callbacks.failures
    assert error == "Scanner.Crashed"
    assert "CannotPullContainerError" in cause and "no exit code" in cause and "TaskFailedToStart" in cause


def test_a_spot_interruption_is_transient_so_the_asl_retries_it() -> None:
    callbacks = FakeCallbacks()
    handle_task_state_change(stopped_event(None, stop_code="SpotInterruption",
                                           reason="Your Spot Task was interrupted."), callbacks)
    assert [f[1] for f in callbacks.failures] == ["Scanner.Transient"]


def test_a_token_already_answered_is_swallowed() -> None:
    callbacks = FakeCallbacks(refuse=TaskTokenGone("TaskTimedOut"))
    assert handle_task_state_change(stopped_event(1), callbacks)["failed"] is False


def test_other_send_task_failure_errors_raise_so_eventbridge_retries() -> None:
    callbacks = FakeCallbacks(refuse=RuntimeError("throttled"))
    with pytest.raises(RuntimeError):
        fail_stopped_task(StoppedTask(task_arn=TASK, task_token=TOKEN, exit_code=137), callbacks)


class RefusingClient:
    """A boto3 Step Functions client whose token was already answered."""

    def __init__(self, code: str) -> None:
        self.code = code

    def send_task_failure(self, **_: Any) -> None:
        from botocore.exceptions import ClientError

        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "SendTaskFailure")


@pytest.mark.parametrize("code", ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"])
def test_step_functions_refusals_of_an_answered_token_are_swallowed(code: str) -> None:
    stopped = StoppedTask(task_arn=TASK, task_token=TOKEN, exit_code=137)
    assert fail_stopped_task(stopped, TaskCallbacks(RefusingClient(code))) is False


def test_the_lambda_handler_fails_the_token_through_step_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    import app

    sent: list[dict[str, Any]] = []

    class Client:
        def send_task_failure(self, **kwargs: Any) -> None:
            sent.append(kwargs)

    from chalicelib.bootstrap import Services
    from chalicelib.core.settings import Settings

    services = Services(Settings.from_env({}, key_pepper="test-pepper-0123456789"))
    monkeypatch.setattr(services, "aws", lambda service: Client() if service == "stepfunctions" else None)
    monkeypatch.setattr(app, "get_services", lambda: services)
    result = app.scanner_task_stopped(stopped_event(139), None)
    assert result["failed"] is True
    assert [(s["taskToken"], s["error"]) for s in sent] == [(TOKEN, "Scanner.Crashed")]
    assert "exit code 139" in sent[0]["cause"]
