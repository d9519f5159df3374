"""A scanner task that stopped without answering its task token fails that token at once.

In AWS an EventBridge rule (infra/terraform/scanner_events.tf) sends the scanner cluster's ECS
"Task State Change" events with lastStatus STOPPED to the `scanner_task_stopped` Lambda; the
embedded stack's runner (chalicelib/local/runner.py) calls `fail_stopped_task` itself when a task
process exits. The task token is the TASK_TOKEN the ASL put in the scanner container's overrides.
A container that exited 0 answered the token itself and is left alone; any other stop fails the
token with `Scanner.Crashed` (a Fargate Spot interruption with `Scanner.Transient`, which the ASL
retries), so the scan fails in seconds instead of after HeartbeatSeconds. A token already answered
(TaskTimedOut, InvalidToken, ...) is not an error: the container or the timeout got there first.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from chalicelib.core.contract import SCANNER_CONTAINER

log = logging.getLogger("perimeter.pipeline.task_events")

DETAIL_TYPE = "ECS Task State Change"
CRASHED = "Scanner.Crashed"
TRANSIENT = "Scanner.Transient"
SPOT_INTERRUPTION = "SpotInterruption"  # ECS stopCode of a reclaimed Fargate Spot task


class TokenFailer(Protocol):
    """SendTaskFailure (chalicelib.aws.stepfunctions.TaskCallbacks)."""

    def failure(self, token: str, error: str, cause: str) -> None:
        """Fail the token; raises TaskTokenGone when nobody waits for it any more."""
        ...


@dataclass(frozen=True)
class StoppedTask:
    """What a stopped scanner task tells about itself."""

    task_arn: str
    task_token: str
    exit_code: int | None  # the scanner container's; None when it never ran or was killed without one
    stop_code: str = ""
    stopped_reason: str = ""
    container_reason: str = ""
    group: str = ""  # the ECS task group, `scan:<scan id>`

    @property
    def answered_itself(self) -> bool:
        """Exit code 0: the entrypoint answered the token before it exited."""
        return self.exit_code == 0

    @property
    def error(self) -> str:
        """The typed error the ASL matches: Spot interruptions are retried, everything else crashed."""
        return TRANSIENT if self.stop_code == SPOT_INTERRUPTION else CRASHED

    @property
    def cause(self) -> str:
        """One line naming the task, the stop reason and the exit code."""
        task_id = self.task_arn.rsplit("/", 1)[-1]
        code = "no exit code" if self.exit_code is None else f"exit code {self.exit_code}"
        reason = self.stopped_reason or "stopped"
        parts = [f"scanner task {task_id} stopped without answering: {reason}"]
        if self.stop_code:
            parts.append(f"stop code {self.stop_code}")
        parts.append(f"{SCANNER_CONTAINER} container {code}")
        if self.container_reason:
            parts.append(self.container_reason)
        return "; ".join(parts)


def parse_task_stopped(event: Mapping[str, Any]) -> StoppedTask | None:
    """The stopped scanner task an EventBridge ECS event describes; None for any other event.

    Not ours: another detail type, a task not STOPPED, no `scanner` container override carrying a
    TASK_TOKEN (a task not started by the pipeline). Never raises on a malformed event.
    """
    if not isinstance(event, Mapping):
        return None
    detail = event.get("detail")
    if event.get("detail-type") != DETAIL_TYPE or not isinstance(detail, Mapping):
        return None
    if detail.get("lastStatus") != "STOPPED":
        return None
    token = _override_env(detail, SCANNER_CONTAINER).get("TASK_TOKEN")
    if not token:
        return None
    container = next((c for c in _list(detail.get("containers")) if c.get("name") == SCANNER_CONTAINER), {})
    exit_code = container.get("exitCode")
    return StoppedTask(
        task_arn=str(detail.get("taskArn", "")), task_token=token,
        exit_code=exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None,
        stop_code=str(detail.get("stopCode") or ""), stopped_reason=str(detail.get("stoppedReason") or ""),
        container_reason=str(container.get("reason") or ""), group=str(detail.get("group") or ""),
    )


def fail_stopped_task(stopped: StoppedTask, callbacks: TokenFailer) -> bool:
    """Fail the task's token unless it answered itself; True when this call failed it.

    A token nobody waits for any more (TaskTokenGone) is swallowed; other SendTaskFailure errors raise.
    """
    from chalicelib.aws.stepfunctions import TaskTokenGone

    if stopped.answered_itself:
        return False
    try:
        callbacks.failure(stopped.task_token, stopped.error, stopped.cause)
    except TaskTokenGone as exc:
        log.info("task %s: token already answered or gone (%s)", stopped.task_arn, exc)
        return False
    log.warning("failed the token of %s (%s): %s", stopped.group or stopped.task_arn, stopped.error, stopped.cause)
    return True


def handle_task_state_change(event: Mapping[str, Any], callbacks: TokenFailer) -> dict[str, Any]:
    """The `scanner_task_stopped` Lambda: parse the event, fail the token when due; a summary for the log."""
    stopped = parse_task_stopped(event)
    if stopped is None:
        log.info("ignored event %s: not a stopped scanner task of the pipeline", event.get("id"))
        return {"failed": False, "ignored": True}
    failed = fail_stopped_task(stopped, callbacks)
    return {"failed": failed, "ignored": False, "task": stopped.task_arn, "exit_code": stopped.exit_code,
            "error": stopped.error if failed else None}


def _override_env(detail: Mapping[str, Any], container: str) -> dict[str, str]:
    """The environment the task's overrides set on `container` (name -> value)."""
    overrides = detail.get("overrides")
    entries = _list(overrides.get("containerOverrides")) if isinstance(overrides, Mapping) else []
    for entry in entries:
        if entry.get("name") == container:
            return {str(e.get("name")): str(e.get("value")) for e in _list(entry.get("environment"))
                    if e.get("name") and e.get("value") is not None}
    return {}


def _list(value: object) -> list[Mapping[str, Any]]:
    """The mappings of a JSON list (anything else: empty)."""
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []
