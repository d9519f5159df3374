"""Signal `web` against loopback hosts: one exposing .git, .env and a backup, one soft-404, one clean."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from chalicelib.scanners import web
from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.sensitive_files import CATALOG as SENSITIVE
from chalicelib.scanners.sensitive_files import load_rules
from chalicelib.scans.models import SignalResult, SignalStatus
from tests.support.dnsserver import LocalDNSServer
from tests.support.httpserver import LocalHTTPServer, Response, Route
from tests.support.lab import GOOD_HEADERS, Lab
from tests.support.tlsserver import server_context

DB_PASSWORD = "Tr0ub4dor-and-3-horses"
TEXT = [("Content-Type", "text/plain")]
SOFT_404 = Response(200, [("Content-Type", "text/html")],
                    b"<!DOCTYPE html><html><head><title>Shop</title></head>"
                    b"<body>Page not found, try the home page.</body></html>")


@dataclass
class Sites:
    dns: LocalDNSServer
    exposed_http: LocalHTTPServer
    exposed_https: LocalHTTPServer
    soft404: LocalHTTPServer
    clean: LocalHTTPServer


@pytest.fixture(scope="module")
def sites(lab: Lab) -> Iterator[Sites]:
    subnet = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}"
    exposed, soft, clean = f"{subnet}.11", f"{subnet}.12", f"{subnet}.13"
    files: dict[str, Route] = {
        "/": Response(200, GOOD_HEADERS, b"<h1>shop</h1>"),
        "/.git/HEAD": Response(200, TEXT, b"ref: refs/heads/main\n"),
        "/.git/config": Response(200, TEXT, b"[core]\n\trepositoryformatversion = 0\n"),
        "/.env": Response(200, TEXT, f"APP_ENV=production\nDB_PASSWORD={DB_PASSWORD}\n".encode()),
        "/backup.zip": Response(200, [("Content-Type", "application/zip")], b"PK\x03\x04" + bytes(200)),
        "/uploads/": Response(302, [("Location", "/uploads/index-target")]),
    }
    cert = lab.ca.issue("exposed.test", ["exposed.test"], key="rsa2048")
    started: list[LocalHTTPServer] = []

    def serve(server: LocalHTTPServer) -> LocalHTTPServer:
        started.append(server.start())
        return server

    https = serve(LocalHTTPServer(exposed, routes=files, ssl_context=server_context(cert)))
    plain = serve(LocalHTTPServer(exposed, routes={
        "/": Response(301, [("Location", f"https://exposed.test:{https.port}/")])}))
    soft404 = serve(LocalHTTPServer(soft, routes={"/": Response(200, GOOD_HEADERS, b"<h1>soft</h1>")},
                                    default=SOFT_404))
    clean_site = serve(LocalHTTPServer(clean, routes={"/": Response(200, GOOD_HEADERS, b"<h1>clean</h1>")}))
    dns = LocalDNSServer({"exposed.test": [("A", exposed)], "soft404.test": [("A", soft)],
                          "clean.test": [("A", clean)]}).start()
    try:
        yield Sites(dns, plain, https, soft404, clean_site)
    finally:
        dns.stop()
        for server in started:
            server.stop()


def context(lab: Lab, sites: Sites, http: LocalHTTPServer, https_port: int = 1) -> ScanContext:
    settings = lab.settings(dns_servers=[sites.dns.address])
    return ScanContext.from_settings(settings, http_port=http.port, https_port=https_port, connect_timeout=1.0,
                                     http_timeout=3.0)


def sensitive(result: SignalResult) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for f in result.findings:
        if f.code in SENSITIVE.specs:
            found.setdefault(f.code, []).append(f.evidence["url"])
    return found


def test_a_host_exposing_git_env_and_a_backup_gets_each_finding_over_https(lab: Lab, sites: Sites) -> None:
    before = len(sites.exposed_https.requests)
    result = web.run("exposed.test", context(lab, sites, sites.exposed_http, sites.exposed_https.port))
    assert result.status is SignalStatus.COMPLETE
    base = f"https://exposed.test:{sites.exposed_https.port}"
    assert sensitive(result) == {
        "vcs-metadata-exposed": [f"{base}/.git/HEAD", f"{base}/.git/config"],
        "secrets-file-exposed": [f"{base}/.env"],
        "backup-file-exposed": [f"{base}/backup.zip"],
    }
    env = next(f for f in result.findings if f.code == "secrets-file-exposed")
    assert env.evidence["excerpt"] == "APP_ENV=[redacted]\nDB_PASSWORD=[redacted]"
    assert DB_PASSWORD not in result.model_dump_json()
    zipped = next(f for f in result.findings if f.code == "backup-file-exposed")
    assert (zipped.evidence["size"], zipped.evidence["content_type"]) == (204, "application/zip")
    paths = [r.path for r in sites.exposed_https.requests[before:]]
    # The root twice (fetched directly and through the HTTP redirect), then the baseline and the probes.
    assert len(paths) - 2 == 1 + len(load_rules().probes) <= 20
    assert "/uploads/index-target" not in paths  # no redirect followed
    assert len(sites.exposed_http.requests) == 1  # plain HTTP only for its redirect, never probed


def test_a_soft_404_host_answering_200_to_every_path_yields_no_file_finding(lab: Lab, sites: Sites) -> None:
    result = web.run("soft404.test", context(lab, sites, sites.soft404))
    assert result.status is SignalStatus.COMPLETE and sensitive(result) == {}
    assert any(r.path.startswith("/perimeter-") for r in sites.soft404.requests)
    assert {r.path for r in sites.soft404.requests} >= {"/.env", "/.git/HEAD", "/backup.sql"}


def test_a_clean_host_yields_no_file_finding_and_keeps_its_header_results(lab: Lab, sites: Sites) -> None:
    result = web.run("clean.test", context(lab, sites, sites.clean))
    assert result.status is SignalStatus.COMPLETE and sensitive(result) == {}
    assert "headers-observed" in {f.code for f in result.findings}
    assert json.loads(result.model_dump_json())["findings"]


def test_without_the_private_exemption_no_path_is_requested(lab: Lab, sites: Sites) -> None:
    before = len(sites.clean.requests)
    settings = lab.settings(exempt=False, dns_servers=[sites.dns.address])
    ctx = ScanContext.from_settings(settings, http_port=sites.clean.port, https_port=1, http_timeout=3.0)
    result = web.run("clean.test", ctx)
    assert result.status is SignalStatus.NOT_TESTED and len(sites.clean.requests) == before
