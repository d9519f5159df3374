"""Signal `web` against loopback HTTP/HTTPS servers: headers, cookies, redirects, the guard on every hop."""

from __future__ import annotations

from typing import Any

from chalicelib.scanners import web
from chalicelib.scans.models import SignalResult, SignalStatus
from tests.support.lab import Lab


def run(lab: Lab, domain: str, **overrides: Any) -> SignalResult:
    return web.run(domain, lab.context(domain, **overrides))


def codes(result: SignalResult) -> set[str]:
    return {f.code for f in result.findings}


def test_a_well_configured_site_redirects_to_https_and_sends_every_header(lab: Lab) -> None:
    result = run(lab, "good.test")
    assert result.status is SignalStatus.COMPLETE and result.max_score == 0
    assert codes(result) == {"headers-observed"}
    evidence = result.findings[0].evidence
    assert evidence["url"] == f"https://good.test:{lab.https_ports['good.test']}/"
    assert evidence["headers"]["X-Frame-Options"] == "DENY"
    assert evidence["chain"][0].startswith("301 http://good.test:")


def test_the_site_was_asked_for_by_name_over_sni_and_host(lab: Lab) -> None:
    before = len(lab.good_https.requests)
    run(lab, "good.test")
    hosts = {r.headers["host"] for r in lab.good_https.requests[before:]}
    assert hosts == {f"good.test:{lab.https_ports['good.test']}"}


def test_a_badly_configured_site_gets_header_cookie_and_redirect_findings(lab: Lab) -> None:
    result = run(lab, "bad.test")
    assert codes(result) == {
        "https-unavailable", "no-https-redirect", "csp-missing", "clickjacking-unprotected", "xcto-missing",
        "referrer-policy-missing", "server-version-disclosed", "cookie-not-secure", "cookie-not-httponly",
        "cookie-no-samesite", "headers-observed",
    }
    https = next(f for f in result.findings if f.code == "https-unavailable")
    assert "CERTIFICATE_VERIFY_FAILED" in https.detail or "certificate" in https.detail
    cookie = next(f for f in result.findings if f.code == "cookie-not-secure")
    assert cookie.evidence["set_cookie"] == "sid=123; Path=/"


def test_a_redirect_to_a_refused_address_is_reported_and_not_followed(lab: Lab, loopback_only: list[str]) -> None:
    result = run(lab, "hop.test")
    [stopped] = [f for f in result.findings if f.code == "redirect-not-followed"]
    assert "internal.test" in stopped.detail and "10.20.30.40" in stopped.detail
    assert loopback_only == []  # nothing tried to reach 10.20.30.40


def test_a_site_without_any_web_server_is_not_tested(lab: Lab) -> None:
    result = run(lab, "mailonly.test")
    assert result.status is SignalStatus.NOT_TESTED


def test_without_the_private_exemption_no_request_is_made(lab: Lab) -> None:
    before = (len(lab.good_http.requests), len(lab.good_https.requests))
    result = run(lab, "good.test", exempt=False)
    assert result.status is SignalStatus.NOT_TESTED and "target guard" in (result.error or "")
    assert (len(lab.good_http.requests), len(lab.good_https.requests)) == before


def test_a_name_resolving_to_a_private_address_is_refused_even_with_the_loopback_exemption(lab: Lab) -> None:
    result = run(lab, "private.test")
    assert result.status is SignalStatus.NOT_TESTED and "10.20.30.41" in (result.error or "")
