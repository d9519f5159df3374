"""Start the real embedded stack (`python -m chalicelib.local`) as a subprocess, for e2e tests and benchmarks."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from chalicelib.local.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP_KEY = "e2e-bootstrap-key-0123456789"


@dataclass
class RunningStack:
    """A started stack: its base URL, API key, process and captured output."""

    process: subprocess.Popen[str]
    base_url: str
    api_key: str
    startup_seconds: float
    output: list[str]
    aws_endpoint: str = ""

    def stop(self, timeout: float = 15.0) -> int:
        """Send SIGINT (as Ctrl-C would) and wait; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_stack(extra_env: dict[str, str] | None = None, timeout: float = 30.0) -> RunningStack:
    """Start the stack on free ports and wait until it prints its API key; raises RuntimeError."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PERIMETER_", "MOTO_"))}
    env.update({"PERIMETER_PORT": str(port), "PERIMETER_BOOTSTRAP_API_KEY": BOOTSTRAP_KEY,
                "PYTHONUNBUFFERED": "1", **(extra_env or {})})
    started = time.monotonic()
    process = subprocess.Popen(
        [sys.executable, "-m", "chalicelib.local"], cwd=ROOT, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    output: list[str] = []
    key = endpoint = ""
    assert process.stdout is not None
    deadline = started + timeout
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            if process.poll() is not None:
                break
            continue
        output.append(line.rstrip())
        if line.strip().startswith("API key:"):
            key = line.split(":", 1)[1].strip()
        if line.strip().startswith("AWS:"):
            endpoint = line.split(":", 1)[1].split()[0]
        if line.strip().startswith("Press Ctrl-C"):
            threading.Thread(target=_drain, args=(process, output), daemon=True).start()
            return RunningStack(process, f"http://127.0.0.1:{port}", key, time.monotonic() - started, output,
                                endpoint)
    process.kill()
    raise RuntimeError("the embedded stack did not start:\n" + "\n".join(output))


def _drain(process: subprocess.Popen[str], output: list[str]) -> None:
    """Keep reading the stack's output so its pipe never fills; keep the last lines."""
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line.rstrip())
        if len(output) > 2000:
            del output[:1000]
