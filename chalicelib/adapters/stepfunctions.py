"""Workflow port over AWS Step Functions: one execution per scan, named after the scan id."""

from __future__ import annotations

import json
from typing import Any


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", ""))


class StepFunctionsWorkflow:
    """Starts and stops executions of the scan pipeline state machine."""

    def __init__(self, state_machine_arn: str, client: Any) -> None:
        self.state_machine_arn = state_machine_arn
        self._client = client

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
        """StopExecution; a finished or unknown execution is ignored."""
        try:
            self._client.stop_execution(executionArn=self.execution_arn(scan_id), cause=cause[:32768])
        except Exception as exc:
            if _error_code(exc) not in ("ExecutionDoesNotExist", "ExecutionNotFound"):
                raise
