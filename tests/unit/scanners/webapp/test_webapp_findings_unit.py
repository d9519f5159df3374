"""Evidence never carries secrets; findings dedupe by (code, URL, parameter); options validate."""

from __future__ import annotations

import types
from pathlib import Path

import pytest
from pydantic import ValidationError

from chalicelib.scanners.webapp.check import merge, start_urls
from chalicelib.scanners.webapp.engines import parse_sqlmap, parse_wapiti
from chalicelib.scanners.webapp.findings import excerpt, make, redact_text, redact_url, request_evidence
from chalicelib.scanners.webapp.options import WebappOptions, webapp_options


def test_secret_query_values_and_payloads_are_redacted() -> None:
    assert redact_url("https://s.test/login?user=ann&password=hunter2&api_key=k1") == (
        "https://s.test/login?user=ann&password=[redacted]&api_key=[redacted]")
    evidence = request_evidence("POST", "https://s.test/login", "session_token", "abc", body="user=ann&pwd=x")
    assert evidence["payload"] == "[redacted]" and evidence["body"] == "user=ann&pwd=[redacted]"


def test_cookies_credentials_and_assignments_are_redacted_in_text() -> None:
    text = "Cookie: sid=s3cr3t; theme=dark\nAuthorization: Bearer eyJhbGci\npassword=hunter2 next"
    redacted = redact_text(text)
    assert "s3cr3t" not in redacted and "eyJhbGci" not in redacted and "hunter2" not in redacted
    assert "Authorization: Bearer [redacted]" in redacted


def test_excerpts_are_bounded_around_the_needle() -> None:
    text = "x" * 5000 + "NEEDLE" + "y" * 5000
    cut = excerpt(text, "NEEDLE")
    assert "NEEDLE" in cut and len(cut) == 300


def test_findings_dedupe_by_code_url_and_parameter_across_engines() -> None:
    ours = make("sql-injection", url="http://s.test/item?id=1%27", parameter="id", evidence={"payload": "1'"})
    theirs = make("sql-injection", url="http://s.test/item?id=1", parameter="id", evidence={"engine": "sqlmap"})
    other = make("sql-injection", url="http://s.test/item", parameter="name", evidence={"engine": "sqlmap"})
    merged = merge([ours], [theirs, other])
    assert len(merged) == 2
    assert merged[0].evidence == {"payload": "1'", "confirmed_by": ["sqlmap"]}


def test_options_default_politely_and_refuse_what_is_unknown_or_excessive() -> None:
    defaults = webapp_options(None)
    assert (defaults.rate_limit, defaults.max_requests, defaults.max_pages, defaults.max_depth,
            defaults.time_budget, defaults.engines) == (10.0, 2000, 200, 5, 600.0, None)
    chosen = webapp_options(types.SimpleNamespace(webapp={"engines": ["builtin"], "rate_limit": 2}))
    assert chosen.engines == ("builtin",) and chosen.rate_limit == 2
    with pytest.raises(ValidationError):
        WebappOptions.model_validate({"engines": ["nikto"]})
    with pytest.raises(ValidationError):
        WebappOptions.model_validate({"rate_limit": 500})


def test_a_host_target_tries_https_then_http_and_a_url_target_is_kept() -> None:
    ctx = types.SimpleNamespace(https_port=8443, http_port=8080)
    assert start_urls("Shop.Example.", ctx) == ["https://shop.example:8443/", "http://shop.example:8080/"]  # type: ignore[arg-type]
    assert start_urls("https://shop.example/app/", ctx) == ["https://shop.example/app/"]  # type: ignore[arg-type]


class FakeProxy:
    base = "http://127.9.9.9:4000"
    client = types.SimpleNamespace(origin=types.SimpleNamespace(base="https://shop.example"))

    def to_origin(self, text: str) -> str:
        return text.replace(self.base, self.client.origin.base)


def test_wapiti_reports_map_to_our_codes_on_the_origin() -> None:
    report = {"vulnerabilities": {
        "SQL Injection": [{"method": "GET", "path": "/item", "info": "SQL Injection via injection in the parameter id",
                           "parameter": "id", "http_request": "GET /item?id=%27 HTTP/1.1\nHost: 127.9.9.9:4000\n"
                                                              "Cookie: sid=s3cr3t"}],
        "Cross Site Scripting": [{"method": "POST", "path": "/guestbook", "parameter": "message",
                                  "info": "Stored XSS vulnerability found in /guestbook", "http_request": ""}],
        "Content Security Policy Configuration": [{"path": "/", "parameter": "", "info": "CSP is not set"}],
    }}
    found = parse_wapiti(report, FakeProxy())  # type: ignore[arg-type]
    assert [(f.code, f.evidence["url"], f.evidence["parameter"]) for f in found] == [
        ("sql-injection", "https://shop.example/item", "id"),
        ("xss-stored", "https://shop.example/guestbook", "message")]
    assert "s3cr3t" not in found[0].evidence["request"] and found[0].cwe == "CWE-89"


def test_sqlmap_results_csv_maps_to_sql_injection(tmp_path: Path) -> None:
    (tmp_path / "results-12072026_0648am.csv").write_text(
        "Target URL,Place,Parameter,Technique(s),Note(s)\n"
        "http://127.9.9.9:4000/item?id=1,GET,id,BEUT,\n"
        "http://127.9.9.9:4000/search?q=a,GET,,,\n")
    found = parse_sqlmap(tmp_path, FakeProxy())  # type: ignore[arg-type]
    assert [(f.code, f.evidence["url"], f.evidence["techniques"]) for f in found] == [
        ("sql-injection", "https://shop.example/item?id=1", "BEUT")]
