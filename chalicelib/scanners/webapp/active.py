"""The built-in engine's active checks, per parameter of every endpoint the crawl found.

Each class of flaw stops at its first proof for a (URL, parameter); every proof is differential
(absent from the baseline answer) and uses values unique to the scan, so an app that merely echoes
input (escaped) or varies its pages gives no finding. Time-based probes (command and SQL sleeps) are
few (`TIME_PROBES`) and each is confirmed by a second, zero-delay probe.
"""

from __future__ import annotations

import contextlib
import html
import re
import secrets
import urllib.parse
from dataclasses import dataclass, field

from chalicelib.scanners.webapp.client import Reply, RequestFailed, WebClient
from chalicelib.scanners.webapp.crawler import Endpoint
from chalicelib.scanners.webapp.data import signatures
from chalicelib.scanners.webapp.findings import excerpt, make, request_evidence
from chalicelib.scans.models import Finding

MAX_PARAMS_PER_ENDPOINT = 10
TIME_PROBES = 6
SLEEP_SECONDS = 3
REDIRECT_HOST = "perimeter-redirect.invalid"
PASSWD = re.compile(r"root:[^:\n]*:0:0:")
WIN_INI = re.compile(r"\[(?:fonts|extensions|mci extensions)\]", re.IGNORECASE)
URLISH_NAMES = re.compile(r"url|uri|link|src|source|dest|target|feed|fetch|image|img|proxy|load|page|file|callback",
                          re.IGNORECASE)


@dataclass
class Probe:
    """Per-scan state of the active engine: unique markers, the time-probe allowance and findings."""

    client: WebClient
    time_based: bool
    ssrf_marker: tuple[str, str] | None = None  # (marker URL on the origin, text only its fetch can show)
    token: str = field(default_factory=lambda: secrets.token_hex(4))
    factors: tuple[int, int] = field(default_factory=lambda: (secrets.randbelow(9000) + 1000,
                                                              secrets.randbelow(900) + 100))
    time_probes: int = 0
    findings: dict[str, Finding] = field(default_factory=dict)
    stored: dict[str, tuple[Endpoint, str]] = field(default_factory=dict)  # marker -> where it was submitted

    def add(self, finding: Finding) -> None:
        """Keep one finding per id (code, URL, parameter)."""
        self.findings.setdefault(finding.id, finding)

    def has(self, code: str, url: str, parameter: str) -> bool:
        """True when this (code, URL, parameter) is already proven."""
        return make(code, url=url, parameter=parameter).id in self.findings


def send(client: WebClient, endpoint: Endpoint, name: str, value: str) -> Reply:
    """The endpoint's request with parameter `name` set to `value` (others keep their defaults)."""
    params = [(n, value if n == name else v) for n, v in endpoint.params]
    if endpoint.method == "GET":
        return client.get(endpoint.url, params)
    return client.post(endpoint.url, params)


def normalised(reply: Reply, *values: str) -> str:
    """The body with the given values (raw, HTML- and URL-encoded) removed and whitespace collapsed."""
    text = reply.text
    for value in sorted(values, key=len, reverse=True):
        for form in {value, html.escape(value), html.escape(value, quote=False), urllib.parse.quote_plus(value),
                     urllib.parse.quote(value)}:
            if form:
                text = text.replace(form, "")
    return " ".join(text.split())


def _found(probe: Probe, code: str, endpoint: Endpoint, name: str, payload: str, reply: Reply, needle: str | None,
           detail: str, **extra: object) -> None:
    evidence = {**request_evidence(endpoint.method, reply.url, name, payload, reply.sent_body),
                "status": reply.status, "response_excerpt": excerpt(reply.text, needle), **extra}
    probe.add(make(code, url=endpoint.url, parameter=name, detail=detail, evidence=evidence))


def check_xss(probe: Probe, endpoint: Endpoint, name: str) -> None:
    """Reflected XSS: a unique tag comes back unescaped in an HTML answer."""
    tag = f"pmx{probe.token}"
    payload = f"\"'><{tag}>"
    reply = send(probe.client, endpoint, name, payload)
    if reply.is_html and f"<{tag}>" in reply.text:
        _found(probe, "xss-reflected", endpoint, name, payload, reply, f"<{tag}>",
               f"Parameter {name} is reflected unescaped in the HTML.")


def check_sql(probe: Probe, endpoint: Endpoint, name: str, default: str, baseline: Reply) -> None:
    """SQL injection: a database error only a quote causes, or a true/false differential twice over."""
    sig = signatures()
    for payload in (f"{default}'", f"{default}\"", f"{default}')"):
        reply = send(probe.client, endpoint, name, payload)
        error = sig.sql_error(reply.text)
        if error and not sig.sql_error(baseline.text):
            _found(probe, "sql-injection", endpoint, name, payload, reply, error[1],
                   f"A quote in {name} causes a {error[0]} error.", technique="error-based", database=error[0])
            return
    base = normalised(baseline, default)
    for true, false in ((f"{default}' AND '{probe.token}'='{probe.token}", f"{default}' AND '{probe.token}'='x"),
                        (f"{default} AND 1=1", f"{default} AND 1=2")):
        yes = send(probe.client, endpoint, name, true)
        if normalised(yes, true, default) != base:
            continue
        no = send(probe.client, endpoint, name, false)
        if normalised(no, false, default) == base:
            continue
        again = send(probe.client, endpoint, name, true.replace(probe.token, probe.token[::-1]))
        if normalised(again, true.replace(probe.token, probe.token[::-1]), default) == base:
            _found(probe, "sql-injection", endpoint, name, true, yes, None,
                   f"{name} changes the answer as a SQL condition would.", technique="boolean-based",
                   false_payload=false)
            return
    _time_probe(probe, "sql-injection", endpoint, name, default, baseline,
                [f"{default}' AND SLEEP({{d}})-- -", f"{default}';SELECT pg_sleep({{d}})--"])


def check_traversal(probe: Probe, endpoint: Endpoint, name: str, baseline: Reply) -> None:
    """Path traversal: /etc/passwd or win.ini content appears (and was not in the baseline)."""
    for payload, pattern in (("../" * 8 + "etc/passwd", PASSWD), ("/etc/passwd", PASSWD),
                             ("..\\" * 8 + "windows\\win.ini", WIN_INI)):
        reply = send(probe.client, endpoint, name, payload)
        match = pattern.search(reply.text)
        if match and not pattern.search(baseline.text):
            _found(probe, "path-traversal", endpoint, name, payload, reply, match.group(0),
                   f"{name} reads files outside the web root.")
            return


def check_redirect(probe: Probe, endpoint: Endpoint, name: str) -> None:
    """Open redirect: the parameter drives Location to another host (never followed)."""
    for payload in (f"https://{REDIRECT_HOST}/", f"//{REDIRECT_HOST}/"):
        reply = send(probe.client, endpoint, name, payload)
        location = reply.header("Location") or ""
        if 300 <= reply.status < 400 and urllib.parse.urlsplit(
                urllib.parse.urljoin(reply.url, location)).hostname == REDIRECT_HOST:
            _found(probe, "open-redirect", endpoint, name, payload, reply, None,
                   f"{name} redirects to any host.", location=location[:300])
            return


def check_template(probe: Probe, endpoint: Endpoint, name: str, baseline: Reply) -> None:
    """Template injection: an arithmetic expression comes back evaluated."""
    a, b = probe.factors
    product = str(a * b)
    if product in baseline.text:
        return
    for payload in (f"{{{{{a}*{b}}}}}", f"${{{a}*{b}}}", f"<%= {a}*{b} %>", f"#{{{a}*{b}}}"):
        reply = send(probe.client, endpoint, name, payload)
        if product in reply.text:
            _found(probe, "template-injection", endpoint, name, payload, reply, product,
                   f"{name} is evaluated as a template expression.")
            return


def check_command(probe: Probe, endpoint: Endpoint, name: str, default: str, baseline: Reply) -> None:
    """Command injection: a shell computes an echoed product; else a confirmed sleep."""
    a, b = probe.factors
    marker = f"pmc{a * b}"
    if marker in baseline.text:
        return
    expr = f"pmc$(({a}*{b}))"
    for payload in (f"{default};echo {expr}", f"{default}|echo {expr}", f"{default}$(echo {expr})",
                    f"{default}`echo {expr}`"):
        reply = send(probe.client, endpoint, name, payload)
        if marker in reply.text:
            _found(probe, "command-injection", endpoint, name, payload, reply, marker,
                   f"{name} is passed to a shell.", technique="echo")
            return
    _time_probe(probe, "command-injection", endpoint, name, default, baseline,
                [f"{default};sleep {{d}};", f"{default}|sleep {{d}}"])


def _time_probe(probe: Probe, code: str, endpoint: Endpoint, name: str, default: str, baseline: Reply,
                templates: list[str]) -> None:
    """Confirmed delays: the sleep payload takes SLEEP_SECONDS longer, the zero-sleep one does not."""
    if not probe.time_based or baseline.elapsed > 1.0:
        return
    for template in templates:
        if probe.time_probes >= TIME_PROBES or probe.client.remaining_time() < 4 * SLEEP_SECONDS:
            return
        probe.time_probes += 1
        slow = send(probe.client, endpoint, name, template.format(d=SLEEP_SECONDS))
        if slow.elapsed < SLEEP_SECONDS * 0.9:
            continue
        quick = send(probe.client, endpoint, name, template.format(d=0))
        if quick.elapsed < SLEEP_SECONDS / 2:
            _found(probe, code, endpoint, name, template.format(d=SLEEP_SECONDS), slow, None,
                   f"{name} delays the answer by {SLEEP_SECONDS} s on demand.", technique="time-based",
                   elapsed_seconds=round(slow.elapsed, 2), control_seconds=round(quick.elapsed, 2))
            return


def check_ssrf(probe: Probe, endpoint: Endpoint, name: str, default: str, baseline: Reply) -> None:
    """SSRF indicator: a URL-valued parameter given a marker URL on the target itself shows the marker's content."""
    if probe.ssrf_marker is None or not (default.startswith(("http://", "https://", "/"))
                                         or URLISH_NAMES.search(name)):
        return
    url, fingerprint = probe.ssrf_marker
    if fingerprint in baseline.text:
        return
    reply = send(probe.client, endpoint, name, url)
    if fingerprint in reply.text:
        _found(probe, "ssrf-indicator", endpoint, name, url, reply, fingerprint,
               f"The server fetched the URL given in {name} and showed its content.", marker_url=url)


def submit_stored(probe: Probe, endpoint: Endpoint) -> None:
    """Submit a unique marker in every text field of a (non-destructive) form, for check_stored to find later."""
    params = []
    for index, (name, value) in enumerate(endpoint.params):
        if value in ("perimeter", "scanner@example.com", ""):
            marker = f"pms{probe.token}{len(probe.stored)}x{index}"
            probe.stored[marker] = (endpoint, name)
            params.append((name, f"<{marker}>"))
        else:
            params.append((name, value))
    if endpoint.method == "GET":
        probe.client.get(endpoint.url, params)
    else:
        probe.client.post(endpoint.url, params)


def check_stored(probe: Probe, replies: list[Reply]) -> None:
    """Stored XSS: a submitted marker comes back unescaped on a page fetched afterwards."""
    for reply in replies:
        for marker, (endpoint, name) in probe.stored.items():
            if f"<{marker}>" in reply.text and reply.is_html:
                evidence = {**request_evidence(endpoint.method, endpoint.url, name, f"<{marker}>"),
                            "shown_on": reply.url, "response_excerpt": excerpt(reply.text, f"<{marker}>")}
                probe.add(make("xss-stored", url=endpoint.url, parameter=name, evidence=evidence,
                               detail=f"{name} is stored and shown unescaped on {reply.url}."))


def probe_endpoint(probe: Probe, endpoint: Endpoint) -> None:
    """Every active check on every parameter of one endpoint; raises Stopped when the client stops."""
    try:
        baseline = send(probe.client, endpoint, "", "")
    except RequestFailed:
        return
    if endpoint.source == "form":
        with contextlib.suppress(RequestFailed):
            submit_stored(probe, endpoint)
    for name, default in endpoint.params[:MAX_PARAMS_PER_ENDPOINT]:
        for check in (_check_xss, _check_sql, _check_traversal, _check_redirect, _check_template, _check_command,
                      check_ssrf):
            with contextlib.suppress(RequestFailed):
                check(probe, endpoint, name, default, baseline)


def _check_xss(probe: Probe, endpoint: Endpoint, name: str, default: str, baseline: Reply) -> None:
    check_xss(probe, endpoint, name)


def _check_sql(probe: Probe, endpoint: Endpoint, name: str, default: str, baseline: Reply) -> None:
    check_sql(probe, endpoint, name, default, baseline)


def _check_traversal(probe: Probe, endpoint: Endpoint, name: str, default: str, baseline: Reply) -> None:
    check_traversal(probe, endpoint, name, baseline)


def _check_redirect(probe: Probe, endpoint: Endpoint, name: str, default: str, baseline: Reply) -> None:
    check_redirect(probe, endpoint, name)


def _check_template(probe: Probe, endpoint: Endpoint, name: str, default: str, baseline: Reply) -> None:
    check_template(probe, endpoint, name, baseline)


def _check_command(probe: Probe, endpoint: Endpoint, name: str, default: str, baseline: Reply) -> None:
    check_command(probe, endpoint, name, default, baseline)
