"""Nothing the embedded stack starts outlives it.

Every child process of the stack (the fork server, its Lambda workers and forked scanner tasks,
subprocess scanner tasks) asks the kernel for SIGKILL when its parent dies (Linux
`prctl(PR_SET_PDEATHSIG)`), so a SIGKILL of the stack takes the whole tree down at once: the
stack kills the fork server, the fork server its workers and tasks. The multiprocessing resource
tracker exits by itself once every holder of its pipe is gone.

The kernel sends the signal when the *thread* that forked the child ends, so the fork server is
started from the stack's main thread (`chalicelib.local.runner.start_fork_server`). A scanner task
runs under `run_group`, so the programs it starts (nmap) go down with it; in subprocess mode the
runner starts the entrypoint through `python -m chalicelib.local.children COMMAND...`, which execs
COMMAND under `run_group` for the same reason.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import traceback
from collections.abc import Callable

PR_SET_PDEATHSIG = 1
# Set by the stack on itself: its pid, so the fork server (a direct child) knows it must die with it,
# and a marker every process of the stack inherits (tests find leftovers by it in /proc/<pid>/environ).
STACK_PID_VAR = "PERIMETER_STACK_PID"


def _load_libc() -> ctypes.CDLL | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(None, use_errno=True)  # the process's own symbols: libc's prctl, no lookup
    except OSError:
        return None


_LIBC = _load_libc()  # loaded at import: a preexec_fn must not load libraries between fork and exec


def die_with_parent(expected_parent: int | None = None, sig: int = signal.SIGKILL) -> bool:
    """Ask for `sig` (SIGKILL) when the parent dies; exits at once if it already has. False where unsupported.

    `expected_parent` (default: the parent now) closes the race of a parent dying before the call.
    """
    parent = os.getppid() if expected_parent is None else expected_parent
    if _LIBC is None or _LIBC.prctl(PR_SET_PDEATHSIG, int(sig), 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:  # the parent died before prctl: the signal will never come
        os._exit(1)
    return True


def die_with_stack() -> None:
    """In a direct child of the stack (the fork server): die with it. Elsewhere: nothing."""
    stack = os.environ.get(STACK_PID_VAR, "")
    if stack.isdigit() and os.getppid() == int(stack):
        die_with_parent(int(stack))


def worker_initializer() -> None:
    """The ProcessPoolExecutor initializer of Lambda workers (forked by the fork server)."""
    die_with_parent()


def run_group(work: Callable[[], int]) -> int:
    """Run `work` in a child, in a new process group that dies whole with this process's parent.

    This process becomes the group's leader and only waits. When its parent dies (PR_SET_PDEATHSIG
    SIGTERM) or a SIGTERM arrives (StopTask), it SIGKILLs the whole group: the worker and whatever the
    worker started (nmap), which no death signal of their own covers. Returns the worker's exit code.
    """
    parent = os.getppid()
    os.setsid()
    signal.signal(signal.SIGTERM, _kill_group)
    die_with_parent(parent, signal.SIGTERM)
    child = os.fork()
    if child == 0:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        die_with_parent(os.getppid())
        os._exit(_call(work))
    while True:
        try:
            _, status = os.waitpid(child, 0)
        except ChildProcessError:
            return 1
        return os.waitstatus_to_exitcode(status)


def _kill_group(*_: object) -> None:
    os.killpg(0, signal.SIGKILL)


def _call(work: Callable[[], int]) -> int:
    """`work()`'s exit code (SystemExit honoured, an exception printed and 1), output flushed."""
    code = 1
    try:
        code = work()
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
    return code


def exec_in_group(argv: list[str]) -> int:
    """Run the program `argv` under `run_group` (it replaces the worker); returns its exit code."""
    if not argv:
        print("usage: python -m chalicelib.local.children COMMAND [ARG...]", file=sys.stderr)
        return 2
    return run_group(lambda: os.execvp(argv[0], argv))  # noqa: S606 - the runner's own scanner command


if __name__ == "__main__":
    sys.exit(exec_in_group(sys.argv[1:]))
