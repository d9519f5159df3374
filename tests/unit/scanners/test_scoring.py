"""Scoring is data: deductions per code, grade bands, coverage, and never punishing an untested signal."""

from __future__ import annotations

import ast
import random
import re
from pathlib import Path

import pytest

from chalicelib.scanners import base, breach, checks, mail, reputation, tls, web
from chalicelib.scanners import open_ports as ports
from chalicelib.scans.models import SIGNALS_BY_TYPE, Finding, ScanType, Severity, SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import (
    CAPS,
    DEDUCTIONS,
    MAX_SCORES,
    SCORING_VERSION,
    UnknownFindingCode,
    apply_scores,
    grade_for,
    load_table,
    score,
)

assert checks.CHECKS  # importing the check table imports every check module and so registers every catalog
SCANNER_DIR = Path(ports.__file__).parent


def codes_by_signal() -> dict[SignalKey, dict[str, base.FindingSpec]]:
    """Every finding code any registered catalog can emit, per signal."""
    merged: dict[SignalKey, dict[str, base.FindingSpec]] = {key: {} for key in SignalKey}
    for catalog in base.CATALOGS:
        merged[catalog.signal].update(catalog.specs)
    return merged


def finding(signal: SignalKey, code: str, n: int = 0) -> Finding:
    return Finding(id=f"f{n}", signal=signal, code=code, severity=Severity.INFO, title=code)


def complete(signal: SignalKey, *codes: str) -> SignalResult:
    return SignalResult(status=SignalStatus.COMPLETE, max_score=MAX_SCORES[signal],
                        findings=[finding(signal, c, i) for i, c in enumerate(codes)])


def untested(signal: SignalKey, status: SignalStatus = SignalStatus.NOT_TESTED) -> SignalResult:
    return SignalResult(status=status, max_score=MAX_SCORES[signal], error="could not run")


def all_clean() -> dict[str, SignalResult]:
    return {k.value: complete(k) for k in SIGNALS_BY_TYPE[ScanType.POSTURE]}


def test_max_scores_follow_the_design_weights_and_sum_to_100() -> None:
    assert {k.value: v for k, v in MAX_SCORES.items()} == {
        "scan": 25, "breach": 20, "reputation": 20, "mail": 20, "layer": 15, "web": 0, "webapp": 0, "container": 0}
    assert sum(MAX_SCORES.values()) == 100


def test_every_finding_code_a_check_can_emit_is_in_the_scoring_table_and_no_other() -> None:
    for signal, specs in codes_by_signal().items():
        assert set(specs) == set(DEDUCTIONS[signal]), signal


def test_web_findings_deduct_nothing_while_web_weighs_zero() -> None:
    assert set(DEDUCTIONS[SignalKey.WEB].values()) == {0}


def test_info_findings_never_deduct_points() -> None:
    for signal, specs in codes_by_signal().items():
        for code, spec in specs.items():
            if spec.severity is Severity.INFO:
                assert DEDUCTIONS[signal][code] == 0, code


def test_code_literals_in_scanner_sources_all_exist_in_their_catalog() -> None:
    """A typo in any code string (direct `.make("...")` or a mapping table) fails here, not in production."""
    kebab = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)+$")
    not_codes = {"utf-8", "latin-1", "script-src", "default-src", "frame-ancestors", "unsafe-url",
                 "no-referrer-when-downgrade", "hibp-api-key", "retry-after"}
    for module in (ports, breach, reputation, mail, tls, web):
        tree = ast.parse(Path(str(module.__file__)).read_text())
        services = set(getattr(module, "SERVICES", {}).values())
        literals = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
        candidates = {s for s in literals if kebab.match(s)} - not_codes - services
        unknown = candidates - set(module.CATALOG.specs)
        assert not unknown, f"{module.__name__}: {unknown}"
        calls = [n for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)
                 and n.func.attr == "make"]
        assert calls, module.__name__
        for call in calls:
            if isinstance(call.args[0], ast.Constant):
                assert call.args[0].value in module.CATALOG.specs


def test_risky_port_codes_are_all_scored() -> None:
    assert set(ports.RISKY_PORTS.values()) <= set(DEDUCTIONS[SignalKey.SCAN])


def test_a_clean_scan_scores_100_and_grade_a() -> None:
    result = score(all_clean(), 65)
    assert (result.score, result.grade, result.grade_label, result.ready) == (100, "A", "Low risk", True)
    assert result.scoring_version == SCORING_VERSION


@pytest.mark.parametrize(("value", "grade", "label"), [
    (100, "A", "Low risk"), (90, "A", "Low risk"), (89, "B", "Low-moderate risk"), (80, "B", "Low-moderate risk"),
    (79, "C", "Moderate risk"), (70, "C", "Moderate risk"), (69, "D", "Elevated risk"), (60, "D", "Elevated risk"),
    (59, "F", "High risk"), (0, "F", "High risk"),
])
def test_grade_bands_have_their_boundaries_at_90_80_70_60(value: int, grade: str, label: str) -> None:
    assert grade_for(value) == (grade, label)


def test_deductions_subtract_from_their_signal_and_floor_at_zero() -> None:
    signals = all_clean()
    signals["scan"] = complete(SignalKey.SCAN, "database-exposed")  # -15
    signals["mail"] = complete(SignalKey.MAIL, *["spf-plus-all"] * 5)  # -40 -> 0
    result = score(signals, 65)
    assert result.signal_scores["scan"] == 10
    assert result.signal_scores["mail"] == 0
    assert result.score == 100 - 15 - 20


def test_a_not_tested_signal_is_not_scored_as_a_failure() -> None:
    signals = all_clean()
    signals["breach"] = untested(SignalKey.BREACH)
    result = score(signals, 65)
    assert result.score == 100
    assert result.signal_scores["breach"] is None
    assert result.coverage == {"tested": ["scan", "reputation", "mail", "layer", "web"],
                               "not_tested": ["breach"], "error": []}


def test_an_errored_signal_is_excluded_and_the_rest_is_scaled_to_100() -> None:
    signals = all_clean()
    signals["scan"] = untested(SignalKey.SCAN, SignalStatus.ERROR)
    signals["mail"] = complete(SignalKey.MAIL, "dmarc-missing")  # 12/20
    result = score(signals, 65)
    # 20 + 20 + 12 + 15 = 67 out of 75 -> 89.33 -> 89
    assert result.score == 89
    assert result.grade == "B"
    assert result.coverage["error"] == ["scan"]


def test_nothing_tested_gives_no_score_no_readiness_and_the_reason() -> None:
    result = score({k.value: untested(k) for k in SignalKey}, 0)
    assert (result.score, result.grade, result.grade_label, result.ready) == (None, None, None, None)
    assert result.not_scored == "not scored: no signal could be tested"


def test_only_web_tested_gives_no_score_because_web_weighs_nothing() -> None:
    result = score({"web": complete(SignalKey.WEB, "csp-missing")}, 0)
    assert result.score is None and result.ready is None
    assert result.not_scored is not None and "none of the tested signals carries points" in result.not_scored


def test_ready_is_score_at_or_above_threshold() -> None:
    signals = all_clean()
    signals["scan"] = complete(SignalKey.SCAN, "telnet-exposed")  # 88
    assert score(signals, 88).ready is True
    assert score(signals, 89).ready is False


def test_same_evidence_gives_the_same_score_whatever_the_order() -> None:
    signals = all_clean()
    signals["mail"] = complete(SignalKey.MAIL, "spf-softfail-all", "dmarc-no-rua", "dkim-not-found", "tlsrpt-missing")
    signals["layer"] = complete(SignalKey.LAYER, "tls10-enabled", "cert-expiring")
    first = score(signals, 65)
    shuffled = dict(random.sample(list(signals.items()), len(signals)))
    for result in shuffled.values():
        random.shuffle(result.findings)
    assert score(shuffled, 65) == first


def test_unknown_finding_code_is_refused_loudly() -> None:
    signals = {"mail": complete(SignalKey.MAIL, "made-up-code")}
    with pytest.raises(UnknownFindingCode, match="made-up-code"):
        score(signals, 65)


def test_unknown_signal_is_refused() -> None:
    with pytest.raises(UnknownFindingCode):
        score({"dns": SignalResult(status=SignalStatus.COMPLETE, max_score=5)}, 65)


def test_apply_scores_fills_each_signal_score() -> None:
    filled = apply_scores({"layer": complete(SignalKey.LAYER, "tls11-enabled"), "breach": untested(SignalKey.BREACH)})
    assert filled["layer"].score == 12
    assert filled["breach"].score is None


def with_findings(**codes: tuple[str, ...]) -> dict[str, SignalResult]:
    signals = all_clean()
    for key, found in codes.items():
        signals[key] = complete(SignalKey(key), *found)
    return signals


def test_a_known_exploited_version_caps_the_grade_at_d_whatever_the_sum() -> None:
    result = score(with_findings(scan=("known-exploited-version",)), 65)
    # 25 - 25 = 0 of 25: 75 points would be a C; the cap keeps it at D's ceiling.
    assert (result.score, result.grade, result.ready) == (69, "D", True)
    assert [(c.code, c.max_grade) for c in result.caps] == [("known-exploited-version", "D")]
    assert "exploited" in result.caps[0].reason


def test_a_cap_lowers_the_score_so_ready_follows_the_grade() -> None:
    # A single exposed secrets file deducts nothing (web weighs 0) but caps at D: 100 becomes 69.
    result = score(with_findings(web=("secrets-file-exposed",)), 70)
    assert (result.score, result.grade, result.ready) == (69, "D", False)


def test_a_scan_already_below_its_cap_keeps_its_score() -> None:
    signals = with_findings(scan=("rdp-exposed",), mail=("spf-missing", "dmarc-missing", "spf-plus-all"),
                            breach=("credentials-exposed", "accounts-exposed"), layer=("cert-expired",))
    result = score(signals, 65)
    assert result.grade == "F" and result.score == 100 - 15 - 20 - 15 - 15
    assert [c.code for c in result.caps] == ["rdp-exposed"]


def test_the_strictest_cap_wins_and_every_applied_cap_is_listed_strictest_first() -> None:
    result = score(with_findings(scan=("eol-software", "rdp-exposed", "datastore-unauthenticated")), 65)
    assert [c.max_grade for c in result.caps] == ["D", "C", "B"]
    assert result.grade == "D"


def test_caps_only_count_findings_of_complete_signals() -> None:
    signals = all_clean()
    signals["scan"] = SignalResult(status=SignalStatus.ERROR, max_score=25, error="boom",
                                   findings=[finding(SignalKey.SCAN, "known-exploited-version")])
    assert score(signals, 65).caps == []


@pytest.mark.parametrize("code", ["eol-software", "vcs-metadata-exposed", "database-exposed"])
def test_every_cap_names_a_grade_below_a_and_a_reason(code: str) -> None:
    cap = next(c for c in CAPS if c.code == code)
    assert cap.max_grade in "BCDF" and len(cap.reason) > 20


def test_no_https_on_a_web_host_takes_layer_to_zero() -> None:
    result = score(with_findings(layer=("no-https",)), 65)
    assert result.signal_scores["layer"] == 0 and result.score == 85


def test_the_previous_scoring_version_is_kept_as_data_and_has_no_caps() -> None:
    old = load_table("2025-01.1")
    assert old.caps == () and "known-exploited-version" not in old.deductions[SignalKey.SCAN]
    assert old.max_scores == load_table(SCORING_VERSION).max_scores
