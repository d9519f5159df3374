"""Every signal at once through run_signals, then scoring: good.test earns an A, bad.test an F."""

from __future__ import annotations

from chalicelib.scanners.checks import run_signals
from chalicelib.scans.models import SIGNALS_BY_TYPE, ScanType, SignalStatus
from chalicelib.scans.scoring import apply_scores, score
from tests.support.lab import Lab
from tests.support.services import SmtpServer
from tests.support.tlsserver import server_context

ALL = [k.value for k in SIGNALS_BY_TYPE[ScanType.POSTURE]]


def test_a_well_configured_loopback_domain_scores_a(lab: Lab) -> None:
    # mx.good.test speaks SMTP with STARTTLS and a valid certificate (on a free port: smtp_port)
    smtp = SmtpServer(context=server_context(lab.ca.issue("mx.good.test")), host=lab.good).start()
    try:
        signals = run_signals("good.test", ALL, lab.context("good.test", smtp_port=smtp.port))
    finally:
        smtp.stop()
    assert {k: r.status for k, r in signals.items()} == dict.fromkeys(ALL, SignalStatus.COMPLETE)
    result = score(signals, 65)
    assert (result.score, result.grade, result.grade_label, result.ready) == (100, "A", "Low risk", True)
    assert result.coverage == {"tested": ALL, "not_tested": [], "error": []}


def test_a_badly_configured_domain_fails_signal_by_signal(lab: Lab) -> None:
    signals = run_signals("bad.test", ALL, lab.context("bad.test"))
    scored = apply_scores(signals)
    serious = {k: sorted({f.code for f in r.findings if f.severity.value in ("critical", "high", "medium")})
               for k, r in signals.items()}
    assert "database-exposed" in serious["scan"] or not lab.listeners
    assert serious["breach"] == ["accounts-exposed", "credentials-exposed"]
    assert serious["reputation"] == ["address-listed", "domain-listed"]
    assert {"spf-plus-all", "dmarc-policy-none", "mx-unresolvable"} <= set(serious["mail"])
    assert "cert-expired" in serious["layer"]
    assert {"no-https-redirect", "csp-missing"} <= set(serious["web"])
    for key in ("breach", "reputation", "mail", "layer"):
        assert (scored[key].score or 0) < scored[key].max_score, key
    result = score(signals, 65)
    assert result.grade == "F" and result.ready is False


def test_without_the_exemption_connecting_signals_are_not_tested_and_nothing_is_failed(lab: Lab) -> None:
    signals = run_signals("good.test", ALL, lab.context("good.test", exempt=False))
    status = {k: r.status for k, r in signals.items()}
    assert status["scan"] is status["layer"] is status["web"] is SignalStatus.NOT_TESTED
    assert status["mail"] is status["reputation"] is status["breach"] is SignalStatus.COMPLETE
    result = score(signals, 65)
    assert result.coverage["not_tested"] == ["scan", "layer", "web"]
    assert result.score == 100  # what could be tested is clean; the untested is not counted against it


def test_the_same_evidence_scores_the_same_twice(lab: Lab) -> None:
    first = run_signals("bad.test", ALL, lab.context("bad.test"))
    second = run_signals("bad.test", ALL, lab.context("bad.test"))
    assert score(first, 65) == score(second, 65)
    assert {k: sorted(f.id for f in r.findings) for k, r in first.items()} == \
        {k: sorted(f.id for f in r.findings) for k, r in second.items()}
