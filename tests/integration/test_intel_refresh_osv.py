"""refresh-intel with OSV ecosystems: the exports are fetched through the guarded client from loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.core.settings import Settings
from chalicelib.scanners.intel.osv import load_osv
from chalicelib.scanners.intel.service import refresh_intel
from chalicelib.scanners.intel.store import forget_loaded
from tests.support.httpserver import Response
from tests.support.intel_feeds import IntelFeeds
from tests.support.osv_fixture import osv_zip, sample_records


@pytest.fixture
def feeds() -> Iterator[IntelFeeds]:
    served = IntelFeeds().start()
    pypi = [r for r in sample_records() if r["affected"][0]["package"]["ecosystem"] == "PyPI"]
    served.server.routes["/osv/PyPI/all.zip"] = Response(200, [("Content-Type", "application/zip")], osv_zip(pypi))
    forget_loaded()
    try:
        yield served
    finally:
        served.stop()
        forget_loaded()


def _settings(feeds: IntelFeeds) -> Settings:
    return Settings.from_env(feeds.env(), key_pepper="test-pepper-0123456789abcdef")


def _osv_url(feeds: IntelFeeds) -> str:
    return f"http://{feeds.server.host}:{feeds.server.port}/osv/{{ecosystem}}/all.zip"


def test_refresh_intel_also_writes_osv_data_for_the_configured_ecosystems(feeds: IntelFeeds, tmp_path: Path) -> None:
    result = refresh_intel(_settings(feeds), out_dir=tmp_path, osv_ecosystems=["PyPI"], osv_url=_osv_url(feeds))
    summary = result.as_dict()["osv"]
    assert isinstance(summary, dict) and summary["records"] == {"PyPI": 1}
    data = load_osv(tmp_path)
    assert data.version == summary["osv_version"] and data.records("PyPI", "requests")


def test_an_unreachable_osv_export_keeps_the_bundle_and_writes_no_osv_data(feeds: IntelFeeds, tmp_path: Path) -> None:
    result = refresh_intel(_settings(feeds), out_dir=tmp_path, osv_ecosystems=["PyPI", "npm"],
                           osv_url=_osv_url(feeds))
    assert (tmp_path / result.intel_version / "manifest.json").is_file()
    assert result.osv is not None and result.osv["error"] == "osv-feed-unreachable"
    assert not (tmp_path / "osv").exists() and load_osv(tmp_path).version is None
