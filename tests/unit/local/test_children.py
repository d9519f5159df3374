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



# A middle process (the fork server's place) runs a task under run_group; the task starts `sleep`
# (nmap's place) and hangs. The middle prints the pids of the group leader, the task and the sleep.
GROUP = """
import os, subprocess, sys, time
from chalicelib.local.children import run_group

def task():
    sleeper = subprocess.Popen(["sleep", "60"])
    os.write(int(sys.argv[1]), f"{os.getpgrp()} {os.getpid()} {sleeper.pid}\\n".encode())
    time.sleep(60)
    return 0

r, w = os.pipe()
leader = os.fork()
if leader == 0:
    os.close(r)
    sys.argv[1:] = [str(w)]
    sys.exit(run_group(task))
os.close(w)
print(os.read(r, 100).decode().strip(), flush=True)
time.sleep(60)
"""


def _group_tree() -> tuple[subprocess.Popen[str], list[int]]:
    middle = subprocess.Popen([sys.executable, "-c", GROUP], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert middle.stdout is not None
    pids = [int(p) for p in middle.stdout.readline().split()]
    assert len(pids) == 3 and pids[0] != pids[1]
    return middle, pids


def _all_gone(pids: list[int]) -> bool:
    deadline = time.monotonic() + 3
    while any(_alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not any(_alive(p) for p in pids)


def test_a_task_group_dies_whole_with_its_killed_parent() -> None:
    middle, pids = _group_tree()
    try:
        middle.send_signal(signal.SIGKILL)
        middle.wait()
        assert _all_gone(pids), "leader, task and the program the task started must all end"
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_stop_task_sigterm_to_the_group_ends_all_of_it() -> None:
    middle, pids = _group_tree()
    try:
        os.killpg(pids[0], signal.SIGTERM)  # what LocalTaskRunner.on_stop_task does
        assert _all_gone(pids)
    finally:
        middle.kill()
        middle.wait()
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_run_group_returns_the_work_exit_code() -> None:
    code = subprocess.run([sys.executable, "-c", "import sys; from chalicelib.local.children import run_group; "
                           "sys.exit(run_group(lambda: sys.exit(7)))"], cwd=ROOT, timeout=60, check=False)
    assert code.returncode == 7


# The stack's place: it starts a subprocess-mode scanner task the way LocalTaskRunner does, through the
# group launcher; the task (a shell here) starts `sleep` (nmap's place) and prints the pids.
LAUNCHER = """
import subprocess, sys, time
from chalicelib.local.children import die_with_parent
task = subprocess.Popen([sys.executable, "-m", "chalicelib.local.children", "sh", "-c",
                         "sleep 60 & echo $$ $!; wait"], stdout=subprocess.PIPE, text=True,
                        preexec_fn=die_with_parent)
print(task.pid, task.stdout.readline().strip(), flush=True)
time.sleep(60)
"""


def test_a_subprocess_task_and_what_it_started_die_with_the_killed_stack() -> None:
    stack = subprocess.Popen([sys.executable, "-c", LAUNCHER], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    assert stack.stdout is not None
    pids = [int(p) for p in stack.stdout.readline().split()]  # launcher (group leader), shell, sleep
    try:
        assert len(pids) == 3 and all(_alive(p) for p in pids)
        stack.send_signal(signal.SIGKILL)
        stack.wait()
        assert _all_gone(pids), "the launcher, the task and the program the task started must all end"
    finally:
        for pid in pids:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_launcher_passes_the_programs_exit_code() -> None:
    done = subprocess.run([sys.executable, "-m", "chalicelib.local.children", "sh", "-c", "exit 5"], cwd=ROOT,
                          timeout=60, check=False)
    assert done.returncode == 5
