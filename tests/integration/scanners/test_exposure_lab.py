"""Every exposure-lab host through run_signals and scoring: each capability produces its finding with its
intel fields and grade cap; the clean host keeps grade A with none of issue 10's codes.

The lab starts once for the module and every host is scanned once (4 at a time); the tests read the results.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest

from chalicelib.scanners.checks import run_signals
from chalicelib.scans.models import SIGNALS_BY_TYPE, Finding, ScanType, SignalResult, SignalStatus
from chalicelib.scans.scoring import ScoreResult, score
from tests.support.exposure_lab import BY_NAME, EXPOSURE_CODES, HOSTS, SECRET, ExposureLab, Host

ALL = [k.value for k in SIGNALS_BY_TYPE[ScanType.POSTURE]]
CAPPED = [h for h in HOSTS if h.cap]


@dataclass(frozen=True)
class Scanned:
    signals: dict[str, SignalResult]
    scored: ScoreResult

    def findings(self, signal: str, code: str) -> list[Finding]:
        return [f for f in self.signals[signal].findings if f.code == code]

    def codes(self) -> set[str]:
        return {f.code for result in self.signals.values() for f in result.findings}


@pytest.fixture(scope="module")
def xlab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ExposureLab]:
    built = ExposureLab(tmp_path_factory.mktemp("xlab"))
    try:
        yield built.start()
    finally:
        built.stop()


@pytest.fixture(autouse=True)
def trust_test_ca(xlab: ExposureLab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The exposure lab's root is the trust store (this replaces the package's lab fixture)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(xlab.ca.ca_file))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture(scope="module")
def scanned(xlab: ExposureLab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Scanned]:
    """Every host scanned once with all signals, then scored."""
    with pytest.MonkeyPatch.context() as patch:  # module scope: the autouse fixture is not active yet
        patch.setenv("SSL_CERT_FILE", str(xlab.ca.ca_file))
        patch.delenv("REQUESTS_CA_BUNDLE", raising=False)

        def scan(host: Host) -> tuple[str, Scanned]:
            signals = run_signals(host.domain, ALL, xlab.context(host.name))
            return host.name, Scanned(signals, score(signals, 65))

        with ThreadPoolExecutor(max_workers=4) as pool:
            return dict(pool.map(scan, HOSTS))


@pytest.mark.parametrize("host", [h for h in HOSTS if h.expect], ids=lambda h: h.name)
def test_each_lab_host_produces_its_finding(host: Host, scanned: dict[str, Scanned]) -> None:
    result = scanned[host.name]
    for expect in host.expect:
        assert result.signals[expect.signal].status is SignalStatus.COMPLETE, result.signals[expect.signal].error
        found = result.findings(expect.signal, expect.code)
        assert found, f"{host.domain} ({host.capability}) lacks {expect.code}: {sorted(result.codes())}"
        finding = found[0]
        if expect.cve is not None:
            finding = next((f for f in found if f.cve == expect.cve), finding)
        assert finding.evidence, f"{expect.code} carries no evidence"
        for key in expect.evidence:
            assert key in finding.evidence, f"{expect.code} evidence lacks {key}: {finding.evidence}"
        for name in ("product", "version", "cve", "kev"):
            wanted = getattr(expect, name)
            if wanted is not None:
                assert getattr(finding, name) == wanted, (expect.code, name, getattr(finding, name))


@pytest.mark.parametrize("host", CAPPED, ids=lambda h: h.name)
def test_a_capped_exposure_caps_the_grade(host: Host, scanned: dict[str, Scanned]) -> None:
    scored = scanned[host.name].scored
    caps = {(cap.code, cap.max_grade) for cap in scored.caps}
    assert any(grade == host.cap and code in {e.code for e in host.expect} for code, grade in caps), caps
    assert scored.grade is not None and host.cap is not None
    assert scored.grade >= host.cap  # letters: "D" >= "C", so no better than the cap


def test_known_exploited_apache_names_every_kev_cve_and_the_cap(scanned: dict[str, Scanned]) -> None:
    found = scanned["kev"].findings("scan", "known-exploited-version")
    assert {f.cve for f in found} == {"CVE-2021-41773", "CVE-2021-42013"}
    assert all(f.kev is True and f.severity.value == "critical" and f.ransomware is True for f in found)
    assert scanned["kev"].scored.caps[0].max_grade == "D"


def test_the_env_file_is_reported_without_its_secret(scanned: dict[str, Scanned]) -> None:
    web = scanned["files"].signals["web"]
    assert SECRET not in web.model_dump_json()
    assert scanned["files"].findings("web", "secrets-file-exposed")[0].severity.value == "critical"


def test_the_clean_host_keeps_grade_a_with_none_of_the_exposure_codes(scanned: dict[str, Scanned]) -> None:
    clean = scanned["clean"]
    assert {k: r.status for k, r in clean.signals.items()} == dict.fromkeys(ALL, SignalStatus.COMPLETE)
    assert clean.codes() & EXPOSURE_CODES == set()
    assert clean.scored.grade == "A" and clean.scored.caps == []


def test_hosts_without_dnssec_or_caa_are_told_and_the_clean_one_is_not(scanned: dict[str, Scanned]) -> None:
    assert {"dnssec-missing", "caa-missing"} <= scanned["nodns"].codes()
    assert {"dnssec-missing", "caa-missing"}.isdisjoint(scanned["clean"].codes())


def test_every_capability_code_is_exercised_by_some_host() -> None:
    expected = {e.code for h in HOSTS for e in h.expect}
    assert EXPOSURE_CODES - expected == set()
    assert BY_NAME["clean"].expect == ()
