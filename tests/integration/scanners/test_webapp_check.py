"""Signal `webapp` (built-in engine) against the vulnerable app and its clean twin on loopback."""

from __future__ import annotations

import ipaddress
import random
import threading
import time
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import dns.resolver
import pytest

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.webapp import run
from chalicelib.scanners.webapp.client import USER_AGENT
from chalicelib.scans.models import SignalResult, SignalStatus
from tests.support.httpserver import LocalHTTPServer, Response
from tests.support.vulnapp import VulnApp

ACTIVE = {"sql-injection", "xss-reflected", "xss-stored", "path-traversal", "open-redirect", "template-injection",
          "command-injection", "ssrf-indicator"}
EXPECTED = {"sql-injection": "CWE-89", "xss-reflected": "CWE-79", "xss-stored": "CWE-79", "path-traversal": "CWE-22",
            "open-redirect": "CWE-601", "template-injection": "CWE-1336", "command-injection": "CWE-78",
            "ssrf-indicator": "CWE-918", "outdated-js-library": "CWE-1395", "information-leak": "CWE-209",
            "cookie-insecure": "CWE-614"}


def subnet() -> str:
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"


@pytest.fixture
def trap() -> Iterator[LocalHTTPServer]:
    """Another host the apps link to: the scan must never reach it."""
    server = LocalHTTPServer(f"{subnet()}.99", default=Response(200, [], b"trap")).start()
    yield server
    server.stop()


def start_app(tmp_path: Path, trap: LocalHTTPServer, *, safe: bool) -> VulnApp:
    return VulnApp(f"{subnet()}.5", safe=safe, docs=tmp_path / ("clean" if safe else "vuln"),
                   offsite=f"http://{trap.host}:{trap.port}/trap").start()


@pytest.fixture
def vulnerable(tmp_path: Path, trap: LocalHTTPServer) -> Iterator[VulnApp]:
    app = start_app(tmp_path, trap, safe=False)
    yield app
    app.stop()


@pytest.fixture
def clean(tmp_path: Path, trap: LocalHTTPServer) -> Iterator[VulnApp]:
    app = start_app(tmp_path, trap, safe=True)
    yield app
    app.stop()


def context(**webapp: Any) -> ScanContext:
    options = types.SimpleNamespace(webapp={"engines": ["builtin"], "rate_limit": 50, **webapp})
    return ScanContext(resolver=dns.resolver.Resolver(configure=False),
                       allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), http_timeout=5.0,
                       scan_options=cast(Any, options))


def codes(result: SignalResult) -> dict[str, str | None]:
    return {f.code: f.cwe for f in result.findings}


def coverage(result: SignalResult) -> dict[str, Any]:
    return next(f.evidence for f in result.findings if f.code == "webapp-coverage")


def test_the_vulnerable_app_yields_every_flaw_with_its_cwe(vulnerable: VulnApp, trap: LocalHTTPServer) -> None:
    result = run(vulnerable.base + "/", context())
    assert result.status is SignalStatus.COMPLETE, result.error
    found = codes(result)
    assert {code: found.get(code) for code in EXPECTED} == EXPECTED
    by_code = {f.code: f for f in result.findings}
    sql = by_code["sql-injection"]
    assert sql.evidence["parameter"] == "id" and sql.evidence["method"] == "GET" and "sqlite" in sql.evidence[
        "response_excerpt"]
    assert by_code["xss-stored"].evidence["shown_on"].endswith("/guestbook")
    assert by_code["outdated-js-library"].product == "jquery" and by_code["outdated-js-library"].version == "1.12.4"
    assert "sessionid=[redacted]" in by_code["cookie-insecure"].evidence["set_cookie"]
    assert trap.requests == []  # the off-host link was counted, never requested
    assert coverage(result)["offsite_links_not_followed"] >= 1


def test_the_clean_twin_yields_no_active_finding(clean: VulnApp) -> None:
    result = run(clean.base + "/", context())
    assert result.status is SignalStatus.COMPLETE, result.error
    assert set(codes(result)) & ACTIVE == set()
    assert coverage(result)["endpoints"] >= 8  # the same pages were tested


def test_destructive_forms_are_never_submitted_and_robots_is_reported(vulnerable: VulnApp) -> None:
    result = run(vulnerable.base + "/", context())
    assert vulnerable.count("POST", "/account/delete") == 0
    skipped = next(f for f in result.findings if f.code == "forms-skipped").evidence["forms"]
    assert [f["action"].rsplit("/", 2)[-2:] for f in skipped] == [["account", "delete"]]
    robots = next(f for f in result.findings if f.code == "robots-disallowed").evidence
    assert robots["disallowed"] == ["/admin/", "/private/"]
    assert [u.rsplit("/", 2)[-2:] for u in robots["crawled_because_linked"]] == [["admin", ""]]
    assert vulnerable.count("GET", "/private/") == 0  # disallowed and never linked: not requested


def test_every_request_carries_the_identifying_user_agent(vulnerable: VulnApp) -> None:
    run(vulnerable.base + "/", context(max_requests=60))
    ours = [h for h in vulnerable.hits if h.user_agent == USER_AGENT]
    assert ours and all(h.user_agent in (USER_AGENT, "Python-urllib/3.11") for h in vulnerable.hits)
    assert "authorised scan" in USER_AGENT and USER_AGENT.startswith("Perimeter-WebApp/")


def test_the_request_budget_and_page_cap_hold(vulnerable: VulnApp) -> None:
    result = run(vulnerable.base + "/", context(max_requests=25))
    assert len([h for h in vulnerable.hits if h.user_agent == USER_AGENT]) <= 25
    assert coverage(result)["requests_sent"] == 25
    capped = run(vulnerable.base + "/", context(max_pages=2))
    assert coverage(capped)["pages"] == 2


def test_the_rate_limit_holds_on_the_server_side(vulnerable: VulnApp) -> None:
    run(vulnerable.base + "/", context(rate_limit=8, max_requests=30))
    assert 2 <= vulnerable.requests_per_second(USER_AGENT) <= 9


def test_cancel_stops_the_crawl_and_the_probes(vulnerable: VulnApp) -> None:
    ctx = context(rate_limit=5)
    threading.Timer(1.0, ctx.cancelled.set).start()
    started = time.monotonic()
    result = run(vulnerable.base + "/", ctx)
    assert time.monotonic() - started < 3
    assert coverage(result)["cancelled"] is True
    assert len(vulnerable.hits) <= 8


def test_a_loopback_target_without_the_exemption_is_not_tested(vulnerable: VulnApp) -> None:
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False))
    result = run(vulnerable.base + "/", ctx)
    assert result.status is SignalStatus.NOT_TESTED and "guard" in (result.error or "")
    assert vulnerable.hits == []
