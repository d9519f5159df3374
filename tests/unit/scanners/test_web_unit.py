"""Header and cookie analysis on given responses (no network)."""

from __future__ import annotations

from chalicelib.scanners.fetch import FetchResult, Hop
from chalicelib.scanners.web import (
    cookie_findings,
    csp_directives,
    header_findings,
    hsts_max_age,
    parse_set_cookie,
    reaches_https,
)
from chalicelib.scans.models import Finding, Severity

SECURE_HEADERS = [
    ("Strict-Transport-Security", "max-age=63072000; includeSubDomains; preload"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "no-referrer"),
]


def hop(headers: list[tuple[str, str]], status: int = 200, url: str = "https://site.test/") -> Hop:
    return Hop(url=url, address="192.0.2.1", status=status, headers=headers)


def codes(findings: list[Finding]) -> set[str]:
    return {f.code for f in findings}


def test_a_response_with_every_header_has_no_findings() -> None:
    assert header_findings(hop(SECURE_HEADERS), tls=True) == []


def test_bare_https_response_misses_every_header() -> None:
    found = header_findings(hop([]), tls=True)
    assert codes(found) == {"hsts-missing", "csp-missing", "clickjacking-unprotected", "xcto-missing",
                            "referrer-policy-missing"}
    assert {f.severity for f in found if f.code == "hsts-missing"} == {Severity.MEDIUM}


def test_hsts_is_not_expected_over_plain_http() -> None:
    assert "hsts-missing" not in codes(header_findings(hop([], url="http://site.test/"), tls=False))


def test_short_hsts_max_age_is_flagged() -> None:
    headers = [("Strict-Transport-Security", "max-age=3600"), *SECURE_HEADERS[1:]]
    assert codes(header_findings(hop(headers), tls=True)) == {"hsts-short-max-age"}


def test_x_frame_options_alone_prevents_clickjacking() -> None:
    headers = [SECURE_HEADERS[0], ("Content-Security-Policy", "default-src 'self'"), ("X-Frame-Options", "sameorigin"),
               *SECURE_HEADERS[2:]]
    assert header_findings(hop(headers), tls=True) == []


def test_csp_with_unsafe_inline_scripts_is_flagged() -> None:
    csp = "default-src 'self' 'unsafe-inline'; frame-ancestors 'self'"
    headers = [SECURE_HEADERS[0], ("Content-Security-Policy", csp), *SECURE_HEADERS[2:]]
    assert codes(header_findings(hop(headers), tls=True)) == {"csp-unsafe-inline"}


def test_unsafe_url_referrer_policy_counts_as_missing() -> None:
    headers = [*SECURE_HEADERS[:3], ("Referrer-Policy", "unsafe-url")]
    assert codes(header_findings(hop(headers), tls=True)) == {"referrer-policy-missing"}


def test_versioned_server_header_is_an_info_disclosure() -> None:
    found = header_findings(hop([*SECURE_HEADERS, ("Server", "nginx/1.18.0")]), tls=True)
    assert [(f.code, f.severity) for f in found] == [("server-version-disclosed", Severity.INFO)]
    assert header_findings(hop([*SECURE_HEADERS, ("Server", "nginx")]), tls=True) == []


def test_cookie_flags_are_parsed_case_insensitively() -> None:
    cookie = parse_set_cookie("id=a3fWa; Expires=Wed, 21 Oct 2030 07:28:00 GMT; secure; HTTPONLY; SameSite=Strict")
    assert (cookie.name, cookie.secure, cookie.httponly, cookie.samesite) == ("id", True, True, "Strict")


def test_a_cookie_without_flags_gets_three_findings() -> None:
    found = cookie_findings([hop([("Set-Cookie", "sid=1; Path=/")])])
    assert {(f.code, f.cwe) for f in found} == {("cookie-not-secure", "CWE-614"), ("cookie-not-httponly", "CWE-1004"),
                                               ("cookie-no-samesite", "CWE-1275")}
    assert all(f.evidence["cookie"] == "sid" for f in found)


def test_the_same_cookie_on_two_hops_is_reported_once() -> None:
    found = cookie_findings([hop([("Set-Cookie", "sid=1; Secure; HttpOnly")]),
                             hop([("Set-Cookie", "sid=2; Secure; HttpOnly")])])
    assert [f.code for f in found] == ["cookie-no-samesite"]


def test_hsts_max_age_parsing() -> None:
    assert hsts_max_age('max-age="31536000"; includeSubDomains') == 31536000
    assert hsts_max_age("includeSubDomains") is None


def test_csp_directives_keep_the_first_occurrence() -> None:
    assert csp_directives("script-src 'self'; script-src *")["script-src"] == ["'self'"]


def test_redirect_to_https_is_recognised_even_when_not_followed() -> None:
    result = FetchResult(hops=[hop([("Location", "https://site.test/")], status=301, url="http://site.test/")],
                         stopped="redirect not followed")
    assert reaches_https(result)
    assert not reaches_https(FetchResult(hops=[hop([("Location", "/login")], status=302, url="http://site.test/")]))
