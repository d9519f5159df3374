"""OSV data: a refresh writes a validated new version; an unreachable or broken export leaves the previous one."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from chalicelib.scanners.intel.osv import OsvError, load_osv, prune_record, refresh_osv
from chalicelib.scanners.intel.refresh import RefreshFailed
from tests.support.memory import MemoryObjectStore
from tests.support.osv_fixture import osv_zip, record, sample_records

TODAY = date(2026, 12, 7)


def _fetcher(exports: dict[str, bytes]):  # type: ignore[no-untyped-def]
    seen: list[str] = []

    def fetch(url: str, max_bytes: int) -> bytes:
        seen.append(url)
        for ecosystem, body in exports.items():
            if f"/{ecosystem}/all.zip" in url:
                return body
        raise RefreshFailed(f"{url}: unreachable")

    fetch.seen = seen  # type: ignore[attr-defined]
    return fetch


def _exports() -> dict[str, bytes]:
    records = sample_records()
    return {eco: osv_zip([r for r in records if r["affected"][0]["package"]["ecosystem"] == eco])
            for eco in ("Debian:12", "PyPI", "npm")}


def test_refresh_writes_a_version_that_loads_and_indexes_by_package(tmp_path: Path) -> None:
    result = refresh_osv(_fetcher(_exports()), ["Debian:12", "PyPI", "npm"], TODAY, out_dir=tmp_path)
    assert result.osv_version == "2026-12-07.1" and result.records == {"Debian:12": 3, "PyPI": 1, "npm": 3}
    data = load_osv(tmp_path)
    assert data.version == "2026-12-07.1" and data.ecosystems == {"Debian:12", "PyPI", "npm"}
    assert [r["id"] for r in data.records("npm", "lodash")] == ["GHSA-test-lodash", "GHSA-test-old-lodash"]
    again = refresh_osv(_fetcher(_exports()), ["PyPI"], TODAY, out_dir=tmp_path)
    assert again.osv_version == "2026-12-07.2" and load_osv(tmp_path).ecosystems == {"PyPI"}


def test_an_unreachable_export_writes_nothing(tmp_path: Path) -> None:
    refresh_osv(_fetcher(_exports()), ["PyPI"], TODAY, out_dir=tmp_path)
    before = sorted(p.name for p in (tmp_path / "osv").iterdir())
    with pytest.raises(RefreshFailed):
        refresh_osv(_fetcher(_exports()), ["PyPI", "Maven"], TODAY, out_dir=tmp_path)
    assert sorted(p.name for p in (tmp_path / "osv").iterdir()) == before
    assert load_osv(tmp_path).version == "2026-12-07.1"


def test_an_invalid_record_aborts_the_refresh(tmp_path: Path) -> None:
    bad = osv_zip([{"id": "x", "affected": []}])
    with pytest.raises(OsvError):
        refresh_osv(_fetcher({"PyPI": bad}), ["PyPI"], TODAY, out_dir=tmp_path)
    broken_event = record("P-9", "PyPI", "a", [{"introduced": "0", "fixed": "1"}])
    with pytest.raises(OsvError):
        prune_record(broken_event)
    assert not (tmp_path / "osv").exists()


def test_a_tampered_copy_is_ignored(tmp_path: Path) -> None:
    result = refresh_osv(_fetcher(_exports()), ["PyPI"], TODAY, out_dir=tmp_path)
    (Path(result.location) / "PyPI.jsonl").write_text(json.dumps(record("P-1", "PyPI", "evil", [])) + "\n")
    assert load_osv(tmp_path).version is None


def test_refresh_to_the_object_store_and_withdrawn_records_dropped() -> None:
    objects = MemoryObjectStore()
    withdrawn = dict(record("P-2", "PyPI", "gone", [{"introduced": "0"}]), withdrawn="2026-01-01T00:00:00Z")
    fetch = _fetcher({"PyPI": osv_zip([*sample_records()[3:4], withdrawn])})
    refresh_osv(fetch, ["PyPI"], TODAY, objects=objects, prefix="intel")
    data = load_osv(None, "intel", lambda: objects)
    assert data.records("PyPI", "requests") and not data.records("PyPI", "gone")
    assert fetch.seen == ["https://osv-vulnerabilities.storage.googleapis.com/PyPI/all.zip"]  # type: ignore[attr-defined]
