"""The appliance check against loopback servers serving portal-like pages, through a fetcher built on
chalicelib/scanners/fetch.py (guarded, no redirect followed)."""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from chalicelib.scanners.base import CheckFailed, CheckSkipped, ScanContext
from chalicelib.scanners.fetch import FetchError, fetch
from chalicelib.scanners.identify.appliances import APPLIANCE_PATHS, appliance_findings
from chalicelib.scanners.identify.model import HttpFacts, Service
from chalicelib.scans.models import Finding, Severity
from tests.support.httpserver import LocalHTTPServer, Response
from tests.support.lab import Lab

HTML = [("Content-Type", "text/html")]


def fetcher(ctx: ScanContext) -> Callable[[str], HttpFacts | None]:
    """HttpFacts of one guarded GET (None when it fails): what identify's real fetcher provides."""

    def get(url: str) -> HttpFacts | None:
        try:
            result = fetch(url, ctx, max_redirects=0, max_body=65536)
        except (FetchError, CheckSkipped, CheckFailed):
            return None
        headers: dict[str, str] = {}
        for name, value in result.final.headers:
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        body = result.body.decode("utf-8", "replace")
        title = re.search(r"<title[^>]*>(.*?)</title>", body, re.I | re.S)
        return HttpFacts(url=url, status=result.final.status, headers=headers, body=body,
                         title=title.group(1).strip() if title else None, tls=url.startswith("https:"))

    return get


@dataclass
class Portals:
    fortigate: LocalHTTPServer
    jenkins: LocalHTTPServer
    plain: LocalHTTPServer


@pytest.fixture(scope="module")
def portals() -> Iterator[Portals]:
    subnet = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
    fortigate = LocalHTTPServer(f"{subnet}.21", routes={
        "/": Response(200, HTML, b"<html><title>Welcome</title><body>Hello</body></html>"),
        "/remote/login": Response(200, [*HTML, ("Server", "xxxxxxxx-xxxxx"),
                                        ("Set-Cookie", "SVPNCOOKIE=; path=/; secure; httponly")],
                                  b'<html><script src="/remote/fgt_lang?lang=en"></script></html>'),
    }).start()
    jenkins = LocalHTTPServer(f"{subnet}.22", routes={
        "/": Response(403, [*HTML, ("X-Jenkins", "2.426.1"), ("X-Hudson", "1.395")],
                      b"<html><title>Sign in [Jenkins]</title></html>"),
    }).start()
    plain = LocalHTTPServer(f"{subnet}.23", routes={"/": Response(200, HTML, b"<h1>shop</h1>")}).start()
    try:
        yield Portals(fortigate, jenkins, plain)
    finally:
        for server in (fortigate, jenkins, plain):
            server.stop()


def scan(lab: Lab, server: LocalHTTPServer, *, exempt: bool = True) -> tuple[list[str], list[Finding]]:
    ctx = ScanContext.from_settings(lab.settings(exempt=exempt), http_timeout=3.0)
    get = fetcher(ScanContext.from_settings(lab.settings(), http_timeout=3.0))
    before = len(server.requests)
    root = get(f"http://{server.host}:{server.port}/")
    service = Service(address=server.host, port=server.port, name="http", http=root, method="http")
    findings = appliance_findings(service, ctx, get)
    return [r.path for r in server.requests[before:]], findings


def test_a_fortigate_portal_behind_a_plain_root_is_found_at_its_login_path(lab: Lab, portals: Portals) -> None:
    paths, findings = scan(lab, portals.fortigate)
    [finding] = findings
    assert (finding.code, finding.severity) == ("appliance-portal-exposed", Severity.HIGH)
    assert finding.cpe == "cpe:/o:fortinet:fortios" and finding.evidence["rule"] == "fortinet-fortigate"
    assert finding.evidence["url"] == f"http://{portals.fortigate.host}:{portals.fortigate.port}/remote/login"
    assert finding.evidence["markers"] == ["header server: xxxxxxxx-xxxxx"]
    assert paths == ["/", "/remote/login"]  # stops at the first portal that matches


def test_a_jenkins_root_page_is_a_login_panel_with_no_further_request(lab: Lab, portals: Portals) -> None:
    paths, findings = scan(lab, portals.jenkins)
    [finding] = findings
    assert (finding.code, finding.product, finding.version) == ("login-panel-exposed", "Jenkins", "2.426.1")
    assert paths == ["/"]


def test_an_ordinary_site_costs_at_most_the_portal_paths_and_yields_nothing(lab: Lab, portals: Portals) -> None:
    paths, findings = scan(lab, portals.plain)
    assert findings == [] and paths == ["/", *APPLIANCE_PATHS] and len(APPLIANCE_PATHS) <= 13


def test_an_address_the_guard_refuses_gets_no_portal_request(lab: Lab, portals: Portals) -> None:
    paths, findings = scan(lab, portals.plain, exempt=False)
    assert findings == [] and paths == ["/"]  # only the test's own root fetch
