"""ScanContext from Settings, the never-raising check wrapper, the address guard helper, the runner."""

from __future__ import annotations

import threading
import time

import pytest

from chalicelib.core.settings import Settings
from chalicelib.scanners import breach, mail, tls, web
from chalicelib.scanners import open_ports as ports
from chalicelib.scanners.base import (
    CheckFailed,
    CheckSkipped,
    GuardRefused,
    ScanContext,
    allowed_addresses,
    safe_check,
)
from chalicelib.scanners.checks import run_signals
from chalicelib.scans.models import ScanOptions, SignalKey, SignalResult, SignalStatus

PEPPER = "test-pepper-0123456789abcdef"


def settings(**values) -> Settings:
    return Settings.from_env({}, key_pepper=PEPPER, dns_servers=["127.0.0.1:1"], **values)


def context(**values) -> ScanContext:
    return ScanContext.from_settings(settings(), **values)


def test_context_takes_resolver_ports_zones_and_breach_settings() -> None:
    ctx = ScanContext.from_settings(settings(scan_ports="top-10", allow_private_targets=["127.0.0.0/8"],
                                             dnsbl_zones=["ip:zen.test"], breach_api_url="http://127.0.0.1:9",
                                             breach_api_key="k" * 20))
    assert ctx.ports == "top-10" and ctx.dnsbl_zones == ("ip:zen.test",)
    assert [str(n) for n in ctx.allowed_networks] == ["127.0.0.0/8"]
    assert ctx.breach_api_key == "k" * 20 and "k" * 20 not in repr(ctx)
    assert [(getattr(n, "address", None), getattr(n, "port", None)) for n in ctx.resolver.nameservers] == [
        ("127.0.0.1", 1)]


def test_scan_options_override_the_port_set_and_add_selectors() -> None:
    options = ScanOptions(ports="22,443", dkim_selectors=["corp"], service_detection=True)
    ctx = ScanContext.from_settings(settings(), options)
    assert (ctx.ports, ctx.dkim_selectors, ctx.service_detection) == ("22,443", ("corp",), True)


def test_an_ip_literal_outside_the_exemptions_is_refused_by_the_guard() -> None:
    with pytest.raises(GuardRefused, match="non-public"):
        allowed_addresses("127.0.0.1", context())


def test_an_exempted_ip_literal_is_allowed() -> None:
    import ipaddress

    ctx = context(allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),))
    assert [str(a) for a in allowed_addresses("127.0.0.1", ctx)] == ["127.0.0.1"]


@pytest.mark.parametrize("check", [ports.run, tls.run, web.run], ids=["scan", "layer", "web"])
def test_connecting_checks_refuse_a_loopback_ip_without_the_exemption(check) -> None:
    result = check("127.0.0.1", context())
    assert result.status is SignalStatus.NOT_TESTED
    assert result.error and "target guard" in result.error
    assert result.findings == [] and result.score is None


def test_skipped_failed_and_crashed_checks_never_raise() -> None:
    def skip(target, ctx):
        raise CheckSkipped("nothing to do")

    def fail(target, ctx):
        raise CheckFailed("resolver down")

    def crash(target, ctx):
        raise ZeroDivisionError("boom")

    ctx = context()
    assert safe_check(SignalKey.MAIL)(skip)("x.test", ctx).status is SignalStatus.NOT_TESTED
    failed = safe_check(SignalKey.MAIL)(fail)("x.test", ctx)
    assert (failed.status, failed.error, failed.max_score) == (SignalStatus.ERROR, "resolver down", 20)
    crashed = safe_check(SignalKey.LAYER)(crash)("x.test", ctx)
    assert crashed.status is SignalStatus.ERROR and "ZeroDivisionError" in (crashed.error or "")


def test_breach_without_an_api_url_is_not_tested() -> None:
    result = breach.run("site.test", context())
    assert result.status is SignalStatus.NOT_TESTED and "PERIMETER_BREACH_API_URL" in (result.error or "")


def test_mail_on_an_ip_target_is_not_tested() -> None:
    assert mail.run("192.0.2.1", context()).status is SignalStatus.NOT_TESTED


def test_invalid_port_set_is_an_error_not_a_failure() -> None:
    result = ports.run("192.0.2.1", context(ports="1-99999"))
    assert result.status is SignalStatus.ERROR and "invalid port set" in (result.error or "")


def test_runner_runs_checks_concurrently_and_keys_results_by_signal() -> None:
    barrier = threading.Barrier(3, timeout=2)

    def slow(key: SignalKey):
        def check(target, ctx) -> SignalResult:
            barrier.wait()  # only passes when all three run at once
            time.sleep(0.05)
            return SignalResult(status=SignalStatus.COMPLETE, max_score=0)
        return check

    checks = {k: slow(k) for k in (SignalKey.SCAN, SignalKey.MAIL, SignalKey.WEB)}
    started = time.monotonic()
    results = run_signals("site.test", ["scan", "mail", "web"], context(), checks=checks)
    assert list(results) == ["scan", "mail", "web"]
    assert all(r.status is SignalStatus.COMPLETE for r in results.values())
    assert time.monotonic() - started < 1


def test_runner_turns_an_escaping_exception_into_an_error_result() -> None:
    def explode(target, ctx):
        raise RuntimeError("escaped")

    results = run_signals("site.test", ["layer"], context(), checks={SignalKey.LAYER: explode})
    assert results["layer"].status is SignalStatus.ERROR and results["layer"].max_score == 15


def test_runner_refuses_unknown_signals_before_running_anything() -> None:
    with pytest.raises(ValueError):
        run_signals("site.test", ["scan", "dns"], context())


def test_finding_ids_are_stable_per_target_and_differ_between_targets() -> None:
    def check(target, ctx):
        return [ports.CATALOG.make("open-port", key="443"), ports.CATALOG.make("open-port", key="443")]

    wrapped = safe_check(SignalKey.SCAN)(check)
    first, again, other = (wrapped(t, context()) for t in ("a.test", "a.test", "b.test"))
    assert len(first.findings) == 1  # duplicates by id are dropped
    assert first.findings[0].id == again.findings[0].id != other.findings[0].id
    assert first.findings[0].id.startswith("fnd_")
