"""`python -m chalicelib.local.endpoint` as a subprocess of a test, and a Lambda handler to run in it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 20.0


@dataclass
class RunningEndpoint:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 40) -> str:
        """The end of the endpoint's output (stdout and stderr)."""
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])


def clean_environ() -> dict[str, str]:
    """This process's environment without AWS, Perimeter, moto and Terraform settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PERIMETER_", "MOTO_", "TF_VAR_"))}


@contextmanager
def running_endpoint(env: Mapping[str, str], log: Path) -> Iterator[RunningEndpoint]:
    """Start the endpoint with `env`, yield it once it printed its URL; SIGTERM it at the end.

    Its output goes to `log` (a pipe nobody reads would block the scanner tasks that share it).
    Raises AssertionError when it does not start within START_TIMEOUT s or does not stop cleanly.
    """
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-m", "chalicelib.local.endpoint"], cwd=ROOT, env=dict(env),
                                   stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        url = ""
        while not url:
            for line in log.read_text(errors="replace").splitlines():
                if line.startswith("AWS endpoint: "):
                    url = line.split(": ", 1)[1].strip()
            if not url and (process.poll() is not None or time.monotonic() > deadline):
                raise AssertionError(f"the endpoint did not start (exit {process.poll()}):\n{log.read_text()[-3000:]}")
            time.sleep(0.1)
        endpoint = RunningEndpoint(url, process, log)
        yield endpoint
    finally:
        if process.poll() is None:
            process.terminate()
        try:
            code = process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
            raise AssertionError(f"the endpoint did not stop within {STOP_TIMEOUT} s of SIGTERM") from None
    assert code == 0, f"the endpoint exited {code}:\n{log.read_text()[-3000:]}"


def echo_environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A Lambda handler: the values of the environment variables `event["names"]` lists (None if unset)."""
    return {"function": context.function_name, "environment": {name: os.environ.get(name) for name in event["names"]}}


class HandlerFailed(Exception):
    """What `fail` raises."""


def fail(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """A Lambda handler that raises."""
    raise HandlerFailed(f"asked to fail: {event.get('why', '')}")
