"""Children of the embedded stack die with their parent (Linux PR_SET_PDEATHSIG)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")

# A middle process forks a grandchild; the grandchild asks (or not) to die with it and sleeps.
MIDDLE = """
import os, sys, time
from chalicelib.local.children import die_with_parent
pid = os.fork()
if pid == 0:
    if sys.argv[1] == "ask":
        die_with_parent()
    time.sleep(60)
    os._exit(0)
print(pid, flush=True)
time.sleep(60)
"""


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _orphan_after_killing_its_parent(mode: str) -> tuple[int, bool]:
    middle = subprocess.Popen([sys.executable, "-c", MIDDLE, mode], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert middle.stdout is not None
    grandchild = int(middle.stdout.readline())
    time.sleep(0.3)  # the grandchild has called prctl
    middle.send_signal(signal.SIGKILL)
    middle.wait()
    deadline = time.monotonic() + 3
    while _alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    return grandchild, _alive(grandchild)


def test_a_child_that_asked_dies_with_its_killed_parent() -> None:
    _, alive = _orphan_after_killing_its_parent("ask")
    assert not alive


def test_without_asking_the_orphan_survives() -> None:  # the control: what the stack's children did before
    pid, alive = _orphan_after_killing_its_parent("no")
    try:
        assert alive
    finally:
        if alive:
            os.kill(pid, signal.SIGKILL)

