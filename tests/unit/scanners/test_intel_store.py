"""Which intel a scan uses: the newest valid copy among the packaged one, a directory and the bucket."""

from __future__ import annotations

import json
import logging
import shutil
from collections.abc import Iterator
from importlib import resources
from pathlib import Path

import pytest

from chalicelib.scanners.intel.build import FEED_FILES, MANIFEST
from chalicelib.scanners.intel.store import forget_loaded, load_intel, packaged_intel, write_objects
from tests.support.memory import MemoryObjectStore

DATA = resources.files("chalicelib.scanners.intel").joinpath("data")


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    forget_loaded()
    yield
    forget_loaded()


def _copy(root: Path, version: str) -> Path:
    """The packaged bundle re-labelled `version` under root/version (digests still valid)."""
    target = root / version
    target.mkdir(parents=True)
    for name in FEED_FILES:
        (target / name).write_bytes(DATA.joinpath(name).read_bytes())
    manifest = json.loads(DATA.joinpath(MANIFEST).read_bytes())
    manifest["intel_version"] = version
    (target / MANIFEST).write_text(json.dumps(manifest))
    return target


def _files(version: str) -> dict[str, bytes]:
    manifest = json.loads(DATA.joinpath(MANIFEST).read_bytes())
    manifest["intel_version"] = version
    return {**{n: DATA.joinpath(n).read_bytes() for n in FEED_FILES}, MANIFEST: json.dumps(manifest).encode()}


def test_without_refreshes_the_packaged_copy_is_used() -> None:
    assert load_intel().version == packaged_intel().version == json.loads(DATA.joinpath(MANIFEST).read_bytes())[
        "intel_version"]


def test_the_newest_valid_directory_copy_wins(tmp_path: Path) -> None:
    _copy(tmp_path, "2099-01-01.1")
    _copy(tmp_path, "2099-01-01.2")
    _copy(tmp_path, "2000-01-01.1")  # older than the packaged copy: never chosen
    assert load_intel(tmp_path).version == "2099-01-01.2"


def test_a_corrupt_newer_copy_is_skipped_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    _copy(tmp_path, "2099-01-01.1")
    broken = _copy(tmp_path, "2099-02-01.1")
    (broken / "kev.json").write_bytes(b'{"vulnerabilities": []}')  # digest no longer matches
    with caplog.at_level(logging.WARNING, logger="chalicelib.scanners.intel.store"):
        assert load_intel(tmp_path).version == "2099-01-01.1"
    assert "2099-02-01.1" in caplog.text and "sha256" in caplog.text


def test_a_directory_with_only_broken_copies_falls_back_to_the_packaged_one(tmp_path: Path) -> None:
    broken = _copy(tmp_path, "2099-01-01.1")
    shutil.copy(broken / MANIFEST, broken / "kev.json")
    assert load_intel(tmp_path).version == packaged_intel().version


def test_the_bucket_copy_named_by_latest_wins_when_newer() -> None:
    store = MemoryObjectStore()
    write_objects(store, "intel/", "2099-03-01.1", _files("2099-03-01.1"))
    assert load_intel(None, "intel", lambda: store).version == "2099-03-01.1"


def test_a_broken_bucket_copy_or_pointer_is_ignored(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryObjectStore()
    files = _files("2099-03-01.1")
    files["endoflife.json"] = b"{}"
    write_objects(store, "intel", "2099-03-01.1", files)
    with caplog.at_level(logging.WARNING, logger="chalicelib.scanners.intel.store"):
        assert load_intel(None, "intel", lambda: store).version == packaged_intel().version
    forget_loaded()
    store.put("intel/latest.json", b"not json", "application/json")
    assert load_intel(None, "intel", lambda: store).version == packaged_intel().version
    assert "ignored" in caplog.text


def test_an_unavailable_bucket_does_not_stop_loading() -> None:
    def broken() -> MemoryObjectStore:
        raise RuntimeError("no credentials")

    assert load_intel(None, "intel", broken).version == packaged_intel().version
