"""The embedded stack's data directory: where it lives, its lock, its pepper and the running stack's address.

Everything the embedded stack keeps across restarts lives in one directory (PERIMETER_DATA_DIR,
default `$XDG_DATA_HOME/perimeter`, else `~/.local/share/perimeter`), created 0700:
`perimeter.sqlite3` (the table), `objects/` (reports, evidence, logos), `pepper` (0600, generated once),
`bootstrap-key` (0600: the `local` tenant's key `make run` prints, the same at every start unless
PERIMETER_BOOTSTRAP_API_KEY is set), `stack.lock` (held by the running stack) and `stack.json` (0600,
written while the stack runs: the API URL, the moto endpoint, the queue URLs and the pid, for the
admin CLI).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

ENV_VAR = "PERIMETER_DATA_DIR"
PEPPER_FILE = "pepper"
BOOTSTRAP_KEY_FILE = "bootstrap-key"
LOCK_FILE = "stack.lock"
STACK_FILE = "stack.json"
DATABASE_FILE = "perimeter.sqlite3"
OBJECTS_DIR = "objects"


class DataDirError(Exception):
    """The data directory cannot be used (not writable, not ours, or taken by another stack)."""


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """PERIMETER_DATA_DIR, else `$XDG_DATA_HOME/perimeter`, else `~/.local/share/perimeter`."""
    env = os.environ if environ is None else environ
    if env.get(ENV_VAR):
        return Path(env[ENV_VAR]).expanduser()
    if env.get("XDG_DATA_HOME"):
        return Path(env["XDG_DATA_HOME"]).expanduser() / "perimeter"
    home = env.get("HOME") or str(Path.home())
    return Path(home) / ".local" / "share" / "perimeter"


def prepare(path: Path) -> Path:
    """Create the directory (and parents) with mode 0700 and tighten an existing one; raises DataDirError."""
    path = path.expanduser().resolve()
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
        if path.stat().st_uid != os.getuid():
            raise DataDirError(f"The data directory {path} belongs to another user.")
        path.chmod(0o700)
        probe = path / f".probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        raise DataDirError(f"The data directory {path} is not usable: {exc.strerror or exc}.") from exc
    return path


def load_or_create_pepper(path: Path) -> str:
    """The pepper in `<path>/pepper`, generated (0600) on first use; raises DataDirError."""
    file = path / PEPPER_FILE
    try:
        fd = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise DataDirError(f"Cannot create {file}: {exc.strerror or exc}.") from exc
    else:
        with os.fdopen(fd, "w") as out:
            out.write(secrets.token_urlsafe(32) + "\n")
            out.flush()
            os.fsync(out.fileno())
    return read_pepper(path)


def read_pepper(path: Path) -> str:
    """The pepper stored in `<path>/pepper`; raises DataDirError when missing, unreadable or too short."""
    file = path / PEPPER_FILE
    try:
        pepper = file.read_text().strip()
    except OSError as exc:
        raise DataDirError(f"Cannot read the pepper {file}: {exc.strerror or exc}.") from exc
    if len(pepper) < 16:
        raise DataDirError(f"The pepper {file} is too short (16 characters at least); restore it from a backup.")
    return pepper


class StackLock:
    """An exclusive `flock` on `<path>/stack.lock`: one running stack per data directory."""

    def __init__(self, path: Path) -> None:
        self.path = path / LOCK_FILE
        self._file: IO[str] | None = None

    def acquire(self) -> StackLock:
        """Take the lock; raises DataDirError when another stack holds it."""
        file = open(self.path, "a+")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(file.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            file.seek(0)
            holder = file.read().strip() or "another process"
            file.close()
            raise DataDirError(f"Another Perimeter stack (pid {holder}) is already using {self.path.parent}; "
                               f"stop it first or set {ENV_VAR} to another directory.") from None
        file.seek(0)
        file.truncate()
        file.write(str(os.getpid()))
        file.flush()
        self._file = file
        return self

    def release(self) -> None:
        """Drop the lock (also dropped by the kernel when the process dies)."""
        if self._file is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def is_locked(path: Path) -> bool:
    """True while a stack holds `<path>/stack.lock` (so it is running, whatever stack.json says)."""
    try:
        with open(path / LOCK_FILE) as file:
            try:
                fcntl.flock(file.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            fcntl.flock(file.fileno(), fcntl.LOCK_UN)
            return False
    except FileNotFoundError:
        return False


@dataclass(frozen=True)
class StackInfo:
    """How to reach a running embedded stack (what `stack.json` holds)."""

    pid: int
    api_url: str
    aws_endpoint: str
    queue_url: str
    dlq_url: str

    def env(self) -> dict[str, str]:
        """The variables that point Settings and boto3 at this stack's moto endpoint and queues."""
        return {"AWS_ENDPOINT_URL": self.aws_endpoint, "PERIMETER_WEBHOOK_QUEUE_URL": self.queue_url,
                "PERIMETER_WEBHOOK_DLQ_URL": self.dlq_url}


def write_private(path: Path, name: str, text: str) -> None:
    """Write `<path>/<name>` with mode 0600, atomically (temp file, fsync, rename)."""
    temp = path / f".{name}.{os.getpid()}"
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(text)
        out.flush()
        os.fsync(out.fileno())
    os.replace(temp, path / name)


def read_private(path: Path, name: str) -> str | None:
    """The stripped text of `<path>/<name>`, or None when it does not exist or cannot be read."""
    try:
        return (path / name).read_text().strip() or None
    except OSError:
        return None


def write_stack_info(path: Path, info: StackInfo) -> None:
    """Write `<path>/stack.json` (0600) atomically."""
    write_private(path, STACK_FILE, json.dumps(asdict(info)))


def read_stack_info(path: Path) -> StackInfo | None:
    """The running stack's StackInfo; None when no stack runs on this directory (stale files are ignored)."""
    if not is_locked(path):
        return None
    try:
        data: dict[str, Any] = json.loads((path / STACK_FILE).read_text())
        return StackInfo(**data)
    except (OSError, ValueError, TypeError):
        return None


def remove_stack_info(path: Path) -> None:
    """Remove `<path>/stack.json` (the stack is stopping)."""
    with contextlib.suppress(FileNotFoundError):
        (path / STACK_FILE).unlink()


def holds_data(path: Path) -> bool:
    """True when the directory already holds a table (the stack has run here before)."""
    return (path / DATABASE_FILE).exists()
