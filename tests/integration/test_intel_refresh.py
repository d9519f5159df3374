"""refresh-intel against fake feeds on a loopback server: a new version when the feeds answer, none when not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import dns.resolver
import pytest

from chalicelib.admin import main, run
from chalicelib.bootstrap import Services
from chalicelib.core.settings import Settings
from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.identify.model import Service
from chalicelib.scanners.intel.findings import intel_findings
from chalicelib.scanners.intel.service import load_for_settings
from chalicelib.scanners.intel.store import forget_loaded, load_intel, packaged_intel
from tests.support.intel_feeds import IntelFeeds
from tests.support.memory import MemoryObjectStore

REGRESSHION_IN_KEV = {"cveID": "CVE-2024-6387", "vendorProject": "OpenBSD", "product": "OpenSSH",
                      "vulnerabilityName": "OpenSSH signal handler race", "dateAdded": "2026-12-01",
                      "knownRansomwareCampaignUse": "Unknown"}


@pytest.fixture(autouse=True)
def fresh_cache() -> Iterator[None]:
    forget_loaded()
    yield
    forget_loaded()


@pytest.fixture
def feeds() -> Iterator[IntelFeeds]:
    served = IntelFeeds(extra_kev=[REGRESSHION_IN_KEV]).start()
    try:
        yield served
    finally:
        served.stop()


def _env(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    monkeypatch.delenv("PERIMETER_KEY_PEPPER", raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)


def test_refresh_writes_a_new_version_the_scanner_then_uses(feeds: IntelFeeds, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, feeds.env())
    assert main(["refresh-intel", "--out", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["previous"] == packaged_intel().version and out["intel_version"].endswith(".1")
    assert (tmp_path / out["intel_version"] / "manifest.json").is_file()
    assert json.loads((tmp_path / "latest.json").read_text()) == {"intel_version": out["intel_version"]}
    forget_loaded()
    intel = load_intel(tmp_path)
    assert intel.version == out["intel_version"] and "CVE-2024-6387" in intel.kev
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False), intel=intel)
    ssh = Service(address="198.51.100.7", port=22, name="ssh", version="9.2p1", cpe="cpe:/a:openbsd:openssh:9.2p1")
    (finding,) = intel_findings(ssh, ctx, today=date(2026, 12, 7))
    assert finding.code == "known-exploited-version" and finding.kev is True  # the new KEV decides
    assert {r.path.split("/")[1] for r in feeds.server.requests} == {"kev.json", "eol", "rel"}


def test_a_second_refresh_the_same_day_gets_the_next_serial(feeds: IntelFeeds, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    _env(monkeypatch, feeds.env())
    assert main(["refresh-intel", "--out", str(tmp_path)]) == 0
    first = json.loads(capsys.readouterr().out)["intel_version"]
    assert main(["refresh-intel", "--out", str(tmp_path)]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["previous"] == first and second["intel_version"] == first[:-1] + "2"


def test_an_unreachable_feed_leaves_the_data_in_place_and_fails(feeds: IntelFeeds, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    env = feeds.env()
    feeds.stop()  # nothing listens there any more
    _env(monkeypatch, env)
    assert main(["refresh-intel", "--out", str(tmp_path)]) == 1
    error = json.loads(capsys.readouterr().err)
    assert error["code"] == "intel-feed-unreachable" and "stays in place" in error["error"]
    assert list(tmp_path.iterdir()) == []


def test_an_invalid_feed_is_refused_before_anything_is_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    served = IntelFeeds(kev_body=b'{"title": "not the catalogue"}').start()
    try:
        _env(monkeypatch, served.env())
        assert main(["refresh-intel", "--out", str(tmp_path)]) == 1
    finally:
        served.stop()
    assert json.loads(capsys.readouterr().err)["code"] == "intel-feed-invalid"
    assert list(tmp_path.iterdir()) == []


def test_refresh_to_the_bucket_is_read_back_through_the_s3_prefix(feeds: IntelFeeds) -> None:
    settings = Settings.from_env({**feeds.env(), "PERIMETER_KEY_PEPPER": "test-pepper-0123456789abcdef",
                                  "PERIMETER_INTEL_S3_PREFIX": "intel"})
    objects = MemoryObjectStore()
    out = run(["refresh-intel", "--s3"], Services(settings, objects=objects))
    assert out["written_to"] == f"intel/{out['intel_version']}/"
    forget_loaded()
    assert load_for_settings(settings, lambda: objects).version == out["intel_version"]
