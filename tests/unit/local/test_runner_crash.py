"""The local runner fails the task token of a scanner that died without answering it (thread mode, fakes)."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from typing import Any

import pytest

from chalicelib.local.runner import LocalTaskRunner

CLUSTER = "arn:aws:ecs:us-east-1:123456789012:cluster/perimeter-scanners"


class FakeStepFunctions:
    def __init__(self) -> None:
        self.failures: list[dict[str, Any]] = []

    def send_task_failure(self, **kwargs: Any) -> None:
        self.failures.append(kwargs)


class FakeEcs:
    def __init__(self) -> None:
        self.stopped: list[str] = []

    def stop_task(self, **kwargs: Any) -> None:
        self.stopped.append(kwargs["task"])


def run_task(runner: LocalTaskRunner, ecs: FakeEcs, arn: str, token: str = "tok") -> None:
    runner.on_run_task(CLUSTER, arn, {"TASK_TOKEN": token})
    deadline = time.monotonic() + 5
    while arn not in ecs.stopped:
        assert time.monotonic() < deadline, "the task never ended"
        time.sleep(0.01)


def make(main: Any) -> tuple[LocalTaskRunner, FakeEcs, FakeStepFunctions]:
    ecs, sfn = FakeEcs(), FakeStepFunctions()
    runner = LocalTaskRunner(mode="thread", ecs_client=ecs, thread_main=main, base_env={},
                             stepfunctions_client=sfn)
    return runner, ecs, sfn


@pytest.mark.parametrize("code", [137, 139, -1])
def test_a_task_that_died_without_answering_fails_its_token_as_crashed(code: int) -> None:
    runner, ecs, sfn = make(lambda env: code)
    run_task(runner, ecs, "task/a")
    assert [(f["taskToken"], f["error"]) for f in sfn.failures] == [("tok", "Scanner.Crashed")]
    assert f"exit code {code}" in sfn.failures[0]["cause"]
    assert runner.crash_failed == ["task/a"]


def test_a_crash_is_reported_before_the_task_is_marked_stopped() -> None:
    order: list[str] = []
    runner, ecs, sfn = make(lambda env: 137)
    sfn.send_task_failure = lambda **kw: order.append("failed")  # type: ignore[method-assign]
    original = ecs.stop_task

    def stop_task(**kwargs: Any) -> None:
        order.append("stopped")
        original(**kwargs)

    ecs.stop_task = stop_task  # type: ignore[method-assign]
    run_task(runner, ecs, "task/b")
    assert order == ["failed", "stopped"]


@pytest.mark.parametrize("code", [0, 1, 2, 3])
def test_the_entrypoints_own_exit_codes_mean_answered_or_gone_and_are_left_alone(code: int) -> None:
    runner, ecs, sfn = make(lambda env: code)
    run_task(runner, ecs, "task/c")
    assert sfn.failures == [] and runner.crash_failed == []


def test_a_task_stopped_on_request_was_cancelled_not_crashed() -> None:
    release = threading.Event()

    def main(env: Mapping[str, str]) -> int:
        release.wait(5)
        return 137

    runner, ecs, sfn = make(main)
    runner.on_run_task(CLUSTER, "task/d", {"TASK_TOKEN": "tok"})
    runner.on_stop_task("task/d")  # StopTask (cancel, overdue sweeper) while it runs
    release.set()
    deadline = time.monotonic() + 5
    while "task/d" not in ecs.stopped:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert sfn.failures == []


def test_tasks_killed_because_the_stack_stops_are_not_failed() -> None:
    release = threading.Event()

    def main(env: Mapping[str, str]) -> int:
        release.wait(5)
        return -15

    runner, ecs, sfn = make(main)
    runner.on_run_task(CLUSTER, "task/e", {"TASK_TOKEN": "tok"})
    runner.stop_all()
    release.set()
    deadline = time.monotonic() + 5
    while "task/e" not in ecs.stopped:
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert sfn.failures == []


def test_a_refused_token_does_not_break_the_runner() -> None:
    runner, ecs, sfn = make(lambda env: 137)

    def refuse(**_: Any) -> None:
        raise RuntimeError("moto went away")

    sfn.send_task_failure = refuse  # type: ignore[method-assign]
    run_task(runner, ecs, "task/f")
    assert runner.crash_failed == []
