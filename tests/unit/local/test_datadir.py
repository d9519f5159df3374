"""The embedded stack's data directory: location, permissions, pepper, lock, stack.json."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.local import datadir
from chalicelib.local.datadir import DataDirError, StackInfo, StackLock


def test_default_location_is_outside_the_checkout() -> None:
    assert datadir.default_data_dir({"PERIMETER_DATA_DIR": "/srv/p", "XDG_DATA_HOME": "/x"}) == Path("/srv/p")
    assert datadir.default_data_dir({"XDG_DATA_HOME": "/x", "HOME": "/h"}) == Path("/x/perimeter")
    assert datadir.default_data_dir({"HOME": "/h"}) == Path("/h/.local/share/perimeter")


def test_prepare_creates_and_tightens_to_0700(tmp_path: Path) -> None:
    created = datadir.prepare(tmp_path / "a" / "data")
    assert created.is_dir() and created.stat().st_mode & 0o777 == 0o700
    loose = tmp_path / "loose"
    loose.mkdir(mode=0o755)
    assert datadir.prepare(loose).stat().st_mode & 0o777 == 0o700


def test_prepare_refuses_an_unusable_path(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a directory")
    with pytest.raises(DataDirError, match="not usable"):
        datadir.prepare(tmp_path / "file" / "data")


def test_pepper_is_generated_once_private_and_reused(tmp_path: Path) -> None:
    first = datadir.load_or_create_pepper(tmp_path)
    assert len(first) >= 32 and (tmp_path / "pepper").stat().st_mode & 0o777 == 0o600
    assert datadir.load_or_create_pepper(tmp_path) == first == datadir.read_pepper(tmp_path)


def test_a_truncated_pepper_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pepper").write_text("short\n")
    with pytest.raises(DataDirError, match="too short"):
        datadir.read_pepper(tmp_path)


def test_a_second_stack_on_the_same_directory_is_refused(tmp_path: Path) -> None:
    lock = StackLock(tmp_path).acquire()
    try:
        other = subprocess.run(  # another process, as a second `make run` would be
            [sys.executable, "-c", "import sys; from pathlib import Path; from chalicelib.local.datadir import "
             "StackLock; StackLock(Path(sys.argv[1])).acquire()", str(tmp_path)],
            capture_output=True, text=True, timeout=60, cwd=Path(__file__).resolve().parents[3])
        assert other.returncode != 0 and "Another Perimeter stack" in other.stderr
        assert str(os.getpid()) in other.stderr
        assert datadir.is_locked(tmp_path)
    finally:
        lock.release()
    assert not datadir.is_locked(tmp_path)
    StackLock(tmp_path).acquire().release()


def test_stack_info_is_private_and_only_read_while_the_stack_runs(tmp_path: Path) -> None:
    info = StackInfo(pid=1, api_url="http://127.0.0.1:8000", aws_endpoint="http://127.0.0.1:5000",
                     queue_url="http://127.0.0.1:5000/q", dlq_url="http://127.0.0.1:5000/d")
    datadir.write_stack_info(tmp_path, info)
    assert (tmp_path / "stack.json").stat().st_mode & 0o777 == 0o600
    assert datadir.read_stack_info(tmp_path) is None  # stale: nobody holds the lock
    lock = StackLock(tmp_path).acquire()
    try:
        assert datadir.read_stack_info(tmp_path) == info
        assert info.env()["PERIMETER_WEBHOOK_DLQ_URL"] == "http://127.0.0.1:5000/d"
    finally:
        lock.release()
    datadir.remove_stack_info(tmp_path)
    assert not (tmp_path / "stack.json").exists()


def test_private_files_are_0600_and_missing_ones_read_as_none(tmp_path: Path) -> None:
    assert datadir.read_private(tmp_path, "bootstrap-key") is None
    datadir.write_private(tmp_path, "bootstrap-key", "pmk_x\n")
    assert datadir.read_private(tmp_path, "bootstrap-key") == "pmk_x"
    assert (tmp_path / "bootstrap-key").stat().st_mode & 0o777 == 0o600
