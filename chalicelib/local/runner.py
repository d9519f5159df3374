"""The embedded stack's Fargate: runs the scanner entrypoint for every ECS RunTask moto receives.

`fork` mode (the stack's default) forks each task from a warm fork server (`chalicelib.local.forked`):
a separate process with the task's environment, its own process group and the entrypoint's `main`,
without paying ~0.8 s of interpreter start and imports per task. `subprocess` mode starts
`scanner-container/entrypoint.py` itself with the stack's environment plus the task's container
environment, exactly the contract the Fargate container gets (PERIMETER_LOCAL_RUNNER=subprocess, or
any PERIMETER_LOCAL_SCANNER_COMMAND). `thread` mode
(integration tests under in-process moto, which a child process cannot reach) calls the same
`chalicelib.scanners.task.main` in a thread. StopTask kills the process. When a task ends on its own
the runner marks it STOPPED in ECS, as Fargate would.
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
                 thread_main: ScannerMain | None = None) -> None:
        if mode not in ("fork", "subprocess", "thread"):
            raise ValueError(f"unknown runner mode {mode!r}")
        self.mode = mode
        self.command = list(command or [sys.executable, str(ROOT / "scanner-container" / "entrypoint.py")])
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.base_env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), self.base_env.get("PYTHONPATH")) if p)
        self._ecs = ecs_client
        self._thread_main = thread_main
        self._procs: dict[str, Any] = {}  # task ARN -> Popen or multiprocessing Process (both have .pid)
        self._fork_context: Any = None
        self._lock = threading.Lock()
        self.started: list[dict[str, str]] = []  # environments of every task started (for tests)

    def on_run_task(self, cluster_arn: str, task_arn: str, env: dict[str, str]) -> None:
        """Start the scanner for a task moto just created."""
        merged = {**self.base_env, **env}
        with self._lock:
            self.started.append(dict(env))
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
        self._mark_stopped(cluster_arn, task_arn, code)

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
        if proc is not None and proc.pid:
            try:
                os.killpg(proc.pid, signal.SIGTERM)  # the task and the nmap it started
            except (ProcessLookupError, PermissionError):  # not its own group yet (a fork before setsid)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)

    def stop_all(self) -> None:
        """Kill every running task (the stack is shutting down)."""
        with self._lock:
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
