"""Start the real embedded stack (`python -m chalicelib.local`) as a subprocess, for e2e tests and benchmarks.

Every stack gets a fresh temporary data directory unless one is passed, so tests and benchmarks never
touch the user's data; `restart` stops (SIGTERM/SIGINT) or kills (SIGKILL) a stack and starts another
on the same data directory and port.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from chalicelib.local.children import STACK_PID_VAR
from chalicelib.local.stack import free_port

ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP_KEY = "e2e-bootstrap-key-0123456789"


@dataclass
class RunningStack:
    """A started stack: its base URL, API key, process, captured output and data directory."""

    process: subprocess.Popen[str]
    base_url: str
    api_key: str
    startup_seconds: float
    output: list[str]
    aws_endpoint: str = ""
    data_dir: Path = field(default_factory=Path)
    env: dict[str, str] = field(default_factory=dict)
    owns_data_dir: bool = False

    @property
    def port(self) -> int:
        """The API port."""
        return int(self.base_url.rsplit(":", 1)[1])

    def stop(self, timeout: float = 15.0, *, sig: int = signal.SIGINT, keep_data: bool = False) -> int:
        """Send `sig` (SIGINT as Ctrl-C would, or SIGTERM) and wait; returns the exit code.

        A temporary data directory this module made is removed unless `keep_data`.
        """
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        if self.owns_data_dir and not keep_data:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        return int(self.process.returncode)

    def kill(self) -> int:
        """SIGKILL the stack process (nothing of it may survive); returns its pid. The data directory stays."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        return self.process.pid

    def restart(self, sig: int = signal.SIGTERM, timeout: float = 60.0,
                between: Callable[[], object] | None = None) -> RunningStack:
        """Stop this stack with `sig` (SIGKILL: killed) and start a new one on the same data dir and port.

        `between` runs once the old stack is gone and before the new one starts.
        """
        if sig == signal.SIGKILL:
            self.kill()
        else:
            self.stop(sig=sig, keep_data=True)
        if between is not None:
            between()
        started = start_stack(self.env, timeout=timeout, data_dir=self.data_dir, port=self.port)
        started.owns_data_dir = self.owns_data_dir
        return started


def start_stack(extra_env: dict[str, str] | None = None, timeout: float = 30.0, *,
                data_dir: Path | None = None, port: int | None = None) -> RunningStack:
    """Start the stack on free ports and wait until it prints its API key; raises RuntimeError.

    Without `data_dir` (or PERIMETER_DATA_DIR in `extra_env`) the stack gets a fresh temporary one,
    removed by `stop()`.
    """
    if data_dir is None and (extra_env or {}).get("PERIMETER_DATA_DIR"):
        data_dir = Path((extra_env or {})["PERIMETER_DATA_DIR"])
    owns = data_dir is None
    data = Path(tempfile.mkdtemp(prefix="perimeter-stack-")) if data_dir is None else data_dir
    port = port or free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PERIMETER_", "MOTO_"))}
    env.update({"PERIMETER_PORT": str(port), "PERIMETER_BOOTSTRAP_API_KEY": BOOTSTRAP_KEY,
                "PYTHONUNBUFFERED": "1", "PERIMETER_DATA_DIR": str(data), **(extra_env or {})})
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
                                endpoint, data_dir=data, env=dict(extra_env or {}), owns_data_dir=owns)
    process.kill()
    process.wait()
    if owns:
        shutil.rmtree(data, ignore_errors=True)
    raise RuntimeError("the embedded stack did not start:\n" + "\n".join(output))


def stack_processes(stack_pid: int) -> list[int]:
    """Pids of live processes started by the stack `stack_pid` (they carry its marker in their environment)."""
    marker = f"{STACK_PID_VAR}={stack_pid}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == stack_pid:
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def _drain(process: subprocess.Popen[str], output: list[str]) -> None:
    """Keep reading the stack's output so its pipe never fills; keep the last lines."""
    assert process.stdout is not None
    for line in process.stdout:
        output.append(line.rstrip())
        if len(output) > 2000:
            del output[:1000]
