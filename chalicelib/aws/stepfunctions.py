"""Workflow port over AWS Step Functions: one execution per scan, named after the scan id."""

from __future__ import annotations

import json
from typing import Any


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class StepFunctionsWorkflow:
    """Starts and stops executions of the scan pipeline state machine."""

    def __init__(self, state_machine_arn: str, client: Any, tasks: Any = None) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client
        self._tasks = tasks  # an EcsScannerTasks: StopExecution does not stop .waitForTaskToken tasks

    def execution_arn(self, scan_id: str) -> str:
        """The ARN an execution named `scan_id` has (derived, so it need not be stored)."""
        prefix, _, name = self.state_machine_arn.rpartition(":stateMachine:")
        return f"{prefix}:execution:{name}:{scan_id}"

    def start(self, scan_id: str, payload: dict[str, Any]) -> str:
        """StartExecution with name = scan id; an existing execution of that name counts as started."""
        try:
            response = self._client.start_execution(
                stateMachineArn=self.state_machine_arn, name=scan_id, input=json.dumps(payload)
            )
        except Exception as exc:
            if _error_code(exc) == "ExecutionAlreadyExists":
                return self.execution_arn(scan_id)
            raise
        return str(response["executionArn"])

    def stop(self, scan_id: str, cause: str) -> None:
        """StopExecution, then StopTask for the scan's scanner tasks; a finished or unknown execution is ignored."""
        try:
            self._client.stop_execution(executionArn=self.execution_arn(scan_id), cause=cause[:32768])
        except Exception as exc:
            if _error_code(exc) not in ("ExecutionDoesNotExist", "ExecutionNotFound"):
                raise
        if self._tasks is not None:
            self._tasks.stop_scan(scan_id, cause)


class TaskTokenGone(Exception):
    """The task token no longer waits: the execution was stopped, timed out, or the token is unknown."""


_GONE = ("TaskTimedOut", "TaskDoesNotExist", "InvalidToken", "ExecutionDoesNotExist")


class TaskCallbacks:
    """A scanner task's side of `.waitForTaskToken`: heartbeat, success, failure."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def _call(self, method: str, **kwargs: Any) -> None:
        try:
            getattr(self._client, method)(**kwargs)
        except Exception as exc:
            if _error_code(exc) in _GONE:
                raise TaskTokenGone(_error_code(exc)) from exc
            raise

    def heartbeat(self, token: str) -> None:
        """SendTaskHeartbeat; raises TaskTokenGone once nobody waits for the token."""
        self._call("send_task_heartbeat", taskToken=token)

    def success(self, token: str, output: dict[str, Any]) -> None:
        """SendTaskSuccess with a JSON output; raises TaskTokenGone."""
        self._call("send_task_success", taskToken=token, output=json.dumps(output))

    def failure(self, token: str, error: str, cause: str) -> None:
        """SendTaskFailure with a typed error name the ASL's Retry/Catch match; raises TaskTokenGone."""
        self._call("send_task_failure", taskToken=token, error=error[:256], cause=cause[:32768])
