"""The embedded stack's Fargate: runs the scanner entrypoint for every ECS RunTask moto receives.

`fork` mode (the stack's default) forks each task from a warm fork server (`chalicelib.local.forked`):
a separate process with the task's environment, its own process group and the entrypoint's `main`,
without paying ~0.8 s of interpreter start and imports per task. `subprocess` mode starts
`scanner-container/entrypoint.py` itself with the stack's environment plus the task's container
environment, exactly the contract the Fargate container gets (PERIMETER_LOCAL_RUNNER=subprocess, or
any PERIMETER_LOCAL_SCANNER_COMMAND). `thread` mode
(integration tests under in-process moto, which a child process cannot reach) calls the same
`chalicelib.scanners.task.main` in a thread. StopTask kills the process. When a task ends on its own
the runner marks it STOPPED in ECS, as Fargate would; when it died without answering its task token
(an exit code outside the entrypoint's own 0-3, or a signal) it first fails the token with
`Scanner.Crashed` through Step Functions (`chalicelib.pipeline.task_events.fail_stopped_task`, what the
`scanner_task_stopped` Lambda does in AWS), so the scan fails at once instead of after HeartbeatSeconds.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from chalicelib.local.children import die_with_parent

log = logging.getLogger("perimeter.fargate")
ROOT = Path(__file__).resolve().parents[2]
# What the one fork server of the stack imports before forking scanner tasks and Lambda workers.
FORKSERVER_PRELOAD = ("chalicelib.local.forked", "app")

ScannerMain = Callable[[Mapping[str, str]], int]


class LocalTaskRunner:
    """Starts, tracks and stops local scanner tasks."""

    def __init__(self, *, mode: str = "subprocess", command: Sequence[str] | None = None,
                 base_env: Mapping[str, str] | None = None, ecs_client: Any = None,
                 thread_main: ScannerMain | None = None, stepfunctions_client: Any = None) -> None:
        if mode not in ("fork", "subprocess", "thread"):
            raise ValueError(f"unknown runner mode {mode!r}")
        self.mode = mode
        self.command = list(command or [sys.executable, str(ROOT / "scanner-container" / "entrypoint.py")])
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.base_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), self.base_env.get("PYTHONPATH")) if p)
        self._ecs = ecs_client
        self._sfn = stepfunctions_client  # made from the ECS client's region on first need when not given
        self._thread_main = thread_main
        self._procs: dict[str, Any] = {}  # task ARN -> Popen or multiprocessing Process (both have .pid)
        self._fork_context: Any = None
        self._lock = threading.Lock()
        self._running: set[str] = set()  # task ARNs whose scanner has not exited yet
        self._stop_requested: set[str] = set()  # StopTask while running: cancelled, not crashed
        self._stopping = False  # the stack is shutting down: its tasks did not crash
        self.crash_failed: list[str] = []  # task ARNs whose token the runner failed (for tests)
        self.started: list[dict[str, str]] = []  # environments of every task started (for tests)

    def on_run_task(self, cluster_arn: str, task_arn: str, env: dict[str, str]) -> None:
        """Start the scanner for a task moto just created."""
        merged = {**self.base_env, **env}
        with self._lock:
            self.started.append(dict(env))
            self._running.add(task_arn)
        threading.Thread(target=self._run, args=(cluster_arn, task_arn, merged), name=f"task-{task_arn[-8:]}",
                         daemon=True).start()

    def _run(self, cluster_arn: str, task_arn: str, env: dict[str, str]) -> None:
        code: int | None
        if self.mode == "thread":
            from chalicelib.scanners.task import main

            runner = self._thread_main or (lambda e: main(e, on_abandon=lambda: None))
            try:
                code = runner(env)
            except Exception:
                log.exception("scanner task %s crashed", task_arn)
                code = -1
        elif self.mode == "fork":
            process = self._forker().Process(target=_forked_run, args=(env,), name=f"scanner-{task_arn[-8:]}")
            process.start()
            with self._lock:
                self._procs[task_arn] = process
            process.join()
            code = process.exitcode
            with self._lock:
                self._procs.pop(task_arn, None)
        else:
            # The launcher makes itself the leader of a new process group that dies whole with the stack
            # (the entrypoint and the nmap it starts); StopTask signals that group.
            launcher = [sys.executable, "-m", "chalicelib.local.children", *self.command]
            proc = subprocess.Popen(launcher, env=env, stdin=subprocess.DEVNULL,  # noqa: S603 - our own entrypoint
                                    preexec_fn=die_with_parent, cwd=ROOT)
            with self._lock:
                self._procs[task_arn] = proc
            code = proc.wait()
            with self._lock:
                self._procs.pop(task_arn, None)
        log.info("scanner task %s exited with %s", task_arn.rsplit("/", 1)[-1], code)
        with self._lock:
            self._running.discard(task_arn)
            cancelled = task_arn in self._stop_requested or self._stopping
            self._stop_requested.discard(task_arn)
        if not cancelled:
            self._fail_if_unanswered(task_arn, env.get("TASK_TOKEN", ""), code)
        self._mark_stopped(cluster_arn, task_arn, code)

    def _fail_if_unanswered(self, task_arn: str, token: str, code: int | None) -> None:
        """Fail the token of a task that died without answering it (never raises)."""
        from chalicelib.scanners.task import EXIT_ABANDONED, EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK

        # The entrypoint's own exit codes: it answered (0, 1, 2) or its token was already gone (3).
        if not token or code in (EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ABANDONED):
            return
        from chalicelib.aws.stepfunctions import TaskCallbacks
        from chalicelib.pipeline.task_events import StoppedTask, fail_stopped_task

        killed = ""
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                killed = f"killed by {signal.Signals(-code).name}"
        stopped = StoppedTask(task_arn=task_arn, task_token=token, exit_code=code,
                              stop_code="EssentialContainerExited", stopped_reason="Essential container in task exited",
                              container_reason=killed)
        try:
            if fail_stopped_task(stopped, TaskCallbacks(self._stepfunctions())):
                with self._lock:
                    self.crash_failed.append(task_arn)
        except Exception:
            log.warning("could not fail the token of %s", task_arn, exc_info=True)

    def _stepfunctions(self) -> Any:
        """The Step Functions client: the one given, else one next to the ECS client (same region and endpoint)."""
        with self._lock:
            if self._sfn is None:
                import boto3

                region = getattr(getattr(self._ecs, "meta", None), "region_name", None) or \
                    self.base_env.get("AWS_REGION") or "us-east-1"
                self._sfn = boto3.session.Session().client(
                    "stepfunctions", region_name=region, endpoint_url=self.base_env.get("AWS_ENDPOINT_URL") or None)
            return self._sfn

    def _forker(self) -> Any:
        """The fork server context, started on first use with the scanner modules preloaded."""
        with self._lock:
            if self._fork_context is None:
                import multiprocessing

                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(list(FORKSERVER_PRELOAD))
                self._fork_context = context
            return self._fork_context

    def _mark_stopped(self, cluster_arn: str, task_arn: str, code: int | None) -> None:
        if self._ecs is None:
            return
        try:
            self._ecs.stop_task(cluster=cluster_arn, task=task_arn, reason=f"Essential container exited ({code})")
        except Exception:
            log.debug("could not mark %s stopped", task_arn, exc_info=True)

    def on_stop_task(self, task_arn: str) -> None:
        """Kill the task's process group (StopTask); a finished task is ignored."""
        with self._lock:
            proc = self._procs.get(task_arn)
            if task_arn in self._running:
                self._stop_requested.add(task_arn)
        if proc is not None and proc.pid:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the task and the nmap it started
            except (ProcessLookupError, PermissionError):  # not its own group yet (a fork before setsid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)

    def stop_all(self) -> None:
        """Kill every running task (the stack is shutting down)."""
        with self._lock:
            self._stopping = True
            arns = list(self._procs)
        for arn in arns:
            self.on_stop_task(arn)


def start_fork_server() -> None:
    """Start the fork server (and the resource tracker) now, from the calling thread.

    Call it from the stack's main thread: the fork server's PR_SET_PDEATHSIG fires when the thread
    that started it ends, and the stack's main thread lives exactly as long as the stack.
    """
    import multiprocessing
    from multiprocessing import forkserver

    multiprocessing.get_context("forkserver").set_forkserver_preload(list(FORKSERVER_PRELOAD))
    forkserver.ensure_running()


def _forked_run(env: dict[str, str]) -> None:
    """Runs in the forked child (importable by reference from the fork server)."""
    from chalicelib.local.forked import run

    run(env)
