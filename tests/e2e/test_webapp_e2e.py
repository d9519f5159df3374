"""`webapp` scans through the whole embedded stack: proof of control in the lab's DNS, then the API, the
pipeline and a real scanner subprocess attacking tests/support/vulnapp.py (and its clean twin) on loopback.

The apps listen on a random port of a lab address; `vuln.good.test` and `clean.good.test` name them in
the lab's DNS, and good.test is verified by its TXT record, which covers its subdomains.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.scanners.webapp.client import USER_AGENT
from tests.support.lab import Lab
from tests.support.stack import RunningStack
from tests.support.vulnapp import VulnApp

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

CHALLENGE = "_perimeter-challenge.good.test"
NAMES = {"vuln": "vuln.good.test", "clean": "clean.good.test", "stranger": "vuln.stranger.test"}
# Fast and bounded: the built-in engine alone, no sleep probes; the vulnerable app needs about 200 requests.
OPTIONS = {"webapp": {"engines": ["builtin"], "rate_limit": 50, "max_requests": 600, "time_budget": 60,
                      "time_based": False}}
EXPECTED_CWES = {"sql-injection": "CWE-89", "xss-reflected": "CWE-79", "open-redirect": "CWE-601",
                 "path-traversal": "CWE-22", "command-injection": "CWE-78", "template-injection": "CWE-1336"}
ACTIVE = {"sql-injection", "xss-reflected", "xss-stored", "path-traversal", "open-redirect", "template-injection",
          "command-injection", "ssrf-indicator"}
MEDIUM_PLUS = {"critical", "high", "medium"}
SESSION_COOKIE_VALUE = "abc123"  # what the apps set as `sessionid`: never stored in clear
TERMINAL = ("complete", "failed", "cancelled")


class Api:
    """The partner's side of /v1 on the stack (bootstrap key)."""

    def __init__(self, stack: RunningStack) -> None:
        self.base = stack.base_url
        self.stack = stack
        self.headers = {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}

    def call(self, method: str, path: str, payload: Any = None, **kwargs: Any) -> requests.Response:
        return requests.request(method, f"{self.base}{path}", json=payload, headers=self.headers, timeout=30,
                                **kwargs)

    def wait(self, token: str, timeout: float = 90.0, until: tuple[str, ...] = TERMINAL) -> dict[str, Any]:
        """Poll the scan until its status is in `until`; returns the scan view."""
        deadline = time.monotonic() + timeout
        scan: dict[str, Any] = {}
        while time.monotonic() < deadline:
            scan = self.call("GET", f"/v1/scans/{token}").json()
            if scan["status"] in until:
                return scan
            time.sleep(0.2)
        raise AssertionError(f"scan {token} not {until} in {timeout} s: {scan.get('status')}\n"
                             + "\n".join(self.stack.output[-30:]))


@pytest.fixture(scope="module")
def apps(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, VulnApp]]:
    """The vulnerable app, its clean twin and an app on a name nobody verified, each named in the lab DNS."""
    root = Path(tmp_path_factory.mktemp("webapp-e2e"))
    started = {"vuln": VulnApp(f"{lab.subnet}.41", safe=False, docs=root / "vuln").start(),
               "clean": VulnApp(f"{lab.subnet}.42", safe=True, docs=root / "clean").start(),
               "stranger": VulnApp(f"{lab.subnet}.43", safe=False, docs=root / "stranger").start()}
    lab.dns.resolver.update({NAMES[k]: [("A", app.host)] for k, app in started.items()})
    try:
        yield started
    finally:
        for key, app in started.items():
            lab.dns.resolver.zone.pop(NAMES[key], None)
            app.stop()


@pytest.fixture(scope="module")
def api(stack: RunningStack, lab: Lab, apps: dict[str, VulnApp]) -> Iterator[Api]:
    """The API, with good.test registered and verified by its TXT record (removed afterwards)."""
    client = Api(stack)
    registered = client.call("POST", "/v1/targets", {"domain": "good.test"})
    assert registered.status_code in (200, 201), registered.text
    target = registered.json()
    lab.dns.resolver.update({CHALLENGE: [("TXT", target["challenge"]["dns"]["value"])]})
    try:
        verified = client.call("POST", f"/v1/targets/{target['target_id']}/verify")
        assert verified.status_code == 200 and verified.json()["status"] == "verified", verified.text
        assert verified.json()["covers_subdomains"] is True
        yield client
    finally:
        lab.dns.resolver.zone.pop(CHALLENGE, None)
        if registered.status_code == 201:
            client.call("DELETE", f"/v1/targets/{target['target_id']}")


def start(api: Api, name: str, port: int, options: dict[str, Any] = OPTIONS) -> requests.Response:
    return api.call("POST", "/v1/scans", {"target": f"http://{name}:{port}/", "scan_type": "webapp",
                                          "options": options})


def all_findings(api: Api, token: str, query: str = "", limit: int = 5) -> list[dict[str, Any]]:
    """Every finding, page by page (bounded), checking `total` on each page."""
    found: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(100):
        page = api.call("GET", f"/v1/scans/{token}/findings?limit={limit}{query}"
                               + (f"&cursor={cursor}" if cursor else "")).json()
        assert len(page["items"]) <= limit
        found += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            assert page["total"] == len(found)
            return found
    raise AssertionError("the findings never ended")


def test_an_unverified_host_is_refused_and_never_contacted(api: Api, apps: dict[str, VulnApp]) -> None:
    stranger = apps["stranger"]
    refused = start(api, NAMES["stranger"], stranger.port)
    assert refused.status_code == 403, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["code"] == "target-not-verified"
    by_address = api.call("POST", "/v1/scans", {"target": f"{stranger.base}/", "scan_type": "webapp",
                                                "options": OPTIONS})  # an IP address never passes the gate
    assert (by_address.status_code, by_address.json()["code"]) == (403, "target-not-verified"), by_address.text
    assert stranger.hits == []
    listed = api.call("GET", "/v1/scans?scan_type=webapp&limit=100").json()["items"]
    assert all(NAMES["stranger"] not in s["target"] for s in listed)  # nothing was stored either


def test_the_vulnerable_app_yields_its_flaws_with_redacted_request_evidence(api: Api,
                                                                             apps: dict[str, VulnApp]) -> None:
    vuln = apps["vuln"]
    created = start(api, NAMES["vuln"], vuln.port)
    assert created.status_code == 202, created.text
    assert created.json()["self_assessment_url"] is None  # only posture scans get one
    token = created.json()["scan_token"]
    scan = api.wait(token)
    assert scan["status"] == "complete", (scan.get("error"), scan["coverage"])
    assert scan["target"] == f"http://{NAMES['vuln']}:{vuln.port}/" and scan["domain"] == NAMES["vuln"]
    assert scan["signals"]["webapp"]["status"] == "complete"
    assert scan["score"] is None and scan["grade"] is None and "not_scored" in scan["coverage"]
    assert vuln.hits and all(h.user_agent in (USER_AGENT, "Python-urllib/3.11") for h in vuln.hits)

    findings = all_findings(api, token)
    assert len(findings) == scan["findings_count"] and len({f["id"] for f in findings}) == len(findings)
    by_code: dict[str, list[dict[str, Any]]] = {}
    for finding in findings:
        by_code.setdefault(finding["code"], []).append(finding)
    assert {code: by_code[code][0]["cwe"] for code in EXPECTED_CWES if code in by_code} == EXPECTED_CWES
    ranks = ["critical", "high", "medium", "low", "info"]
    assert [ranks.index(f["severity"]) for f in findings] == sorted(ranks.index(f["severity"]) for f in findings)
    for finding in findings:
        if finding["code"] in ACTIVE:
            evidence = finding["evidence"]
            assert evidence["method"] in ("GET", "POST") and evidence["parameter"], finding
            assert evidence["url"].startswith(f"http://{NAMES['vuln']}:{vuln.port}/"), finding
    sql = by_code["sql-injection"][0]["evidence"]
    assert sql["parameter"] == "id" and "'" in sql["payload"] and "sqlite" in sql["response_excerpt"]
    assert "/etc/passwd" in by_code["path-traversal"][0]["evidence"]["payload"]
    assert by_code["open-redirect"][0]["evidence"]["location"].startswith("https://perimeter-redirect.invalid")
    assert "sessionid=[redacted]" in by_code["cookie-insecure"][0]["evidence"]["set_cookie"]
    assert SESSION_COOKIE_VALUE not in json.dumps(findings) and SESSION_COOKIE_VALUE not in json.dumps(scan)

    counts = {s: sum(1 for f in findings if f["severity"] == s) for s in ranks}
    assert scan["severity_counts"] == counts
    assert scan["gate"] == {"passed": False, "fail_on": "high", "counts": counts, "not_checked": {}}

    critical = all_findings(api, token, "&severity=critical")
    assert critical and {f["code"] for f in critical} >= {"sql-injection", "command-injection"}
    assert all(f["severity"] == "critical" for f in critical)
    assert {f["code"] for f in all_findings(api, token, "&cwe=CWE-79")} == {"xss-reflected", "xss-stored"}
    assert all_findings(api, token, "&signal=webapp") == findings
    assert api.call("GET", f"/v1/scans/{token}/findings?severity=urgent").status_code == 422

    assert scan["report_url"] == f"{api.base}/v1/scans/{token}/report"
    report = api.call("GET", f"/v1/scans/{token}/report?format=json")
    assert report.status_code == 200 and report.history and report.history[0].status_code == 302
    document = report.json()
    assert SESSION_COOKIE_VALUE not in report.text
    assert {"sql-injection", "xss-reflected", "open-redirect", "path-traversal"} <= {
        f["code"] for f in json_findings(document)}
    pdf = api.call("GET", f"/v1/scans/{token}/report")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


def json_findings(document: Any) -> list[dict[str, Any]]:
    """Every finding-shaped object (a dict with `code` and `severity`) anywhere in a JSON report."""
    found: list[dict[str, Any]] = []
    stack = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if "code" in item and "severity" in item:
                found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


def test_the_clean_twin_has_no_active_finding_and_passes_a_medium_gate(api: Api, apps: dict[str, VulnApp]) -> None:
    clean = apps["clean"]
    created = start(api, NAMES["clean"], clean.port, {**OPTIONS, "fail_on": "high"})
    assert created.status_code == 202, created.text
    scan = api.wait(created.json()["scan_token"])
    assert scan["status"] == "complete", (scan.get("error"), scan["coverage"])
    findings = all_findings(api, scan["scan_token"], limit=50)
    coverage = next(f for f in findings if f["code"] == "webapp-coverage")["evidence"]
    assert coverage["endpoints"] >= 8 and coverage["requests_sent"] > 0  # the same pages were tested
    assert {f["code"] for f in findings} & ACTIVE == set()
    # The twin still serves the same old jQuery file (tests/support/vulnapp.py): the one medium finding.
    assert {f["code"] for f in findings if f["severity"] in MEDIUM_PLUS} <= {"outdated-js-library"}
    assert scan["gate"]["passed"] is True and scan["severity_counts"]["high"] == 0


def test_cancel_mid_scan_stops_the_requests(api: Api, apps: dict[str, VulnApp]) -> None:
    vuln = apps["vuln"]
    before = len(vuln.hits)
    slow = {"webapp": {**OPTIONS["webapp"], "rate_limit": 4, "time_budget": 120}}
    created = start(api, NAMES["vuln"], vuln.port, slow)
    assert created.status_code == 202, created.text
    token = created.json()["scan_token"]
    deadline = time.monotonic() + 30
    while len(vuln.hits) < before + 3:  # the scanner is attacking
        assert time.monotonic() < deadline, "the scan never reached the app\n" + "\n".join(api.stack.output[-30:])
        time.sleep(0.05)
    cancelled = api.call("POST", f"/v1/scans/{token}/cancel", {})
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled", cancelled.text
    final = api.wait(token, timeout=10)
    assert final["status"] == "cancelled" and final["error"]["code"] == "cancelled"

    # The scanner task is killed: the app goes quiet (no request for 2 s) within a bounded time.
    deadline = time.monotonic() + 10
    seen, quiet_since = len(vuln.hits), time.monotonic()
    while time.monotonic() - quiet_since < 2.0:
        assert time.monotonic() < deadline, f"requests kept coming after the cancel: {len(vuln.hits) - seen}"
        time.sleep(0.1)
        if len(vuln.hits) != seen:
            seen, quiet_since = len(vuln.hits), time.monotonic()
    sent = len(vuln.hits) - before
    assert sent < 150, sent  # far fewer than the ~200 a whole scan sends
    assert api.call("POST", f"/v1/scans/{token}/cancel", {}).status_code == 409
