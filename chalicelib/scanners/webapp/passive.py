"""Passive checks on every crawled page: session cookies, mixed content, information leaks and
outdated JavaScript libraries. Security headers are the `web` signal's and are not repeated here."""

from __future__ import annotations

import ipaddress
import urllib.parse

from chalicelib.scanners.webapp.client import Reply, RequestFailed, Stopped, WebClient
from chalicelib.scanners.webapp.crawler import Crawl, Page
from chalicelib.scanners.webapp.data import Library, libraries, signatures
from chalicelib.scanners.webapp.findings import excerpt, make, redact_text, request_evidence
from chalicelib.scans.models import Finding

SESSION_NAMES = ("sess", "sid", "auth", "token", "jwt", "remember", "login", "user")
MAX_SCRIPT_FETCHES = 20


def is_session_cookie(name: str) -> bool:
    """True for a cookie name that looks like it carries a session or a credential."""
    lowered = name.lower()
    return any(part in lowered for part in SESSION_NAMES)


def cookie_findings(reply: Reply, https: bool) -> list[Finding]:
    """A session-like cookie without HttpOnly, or without Secure on an https origin."""
    findings = []
    for header in reply.header_all("Set-Cookie"):
        first, *attributes = [p.strip() for p in header.split(";")]
        name = first.partition("=")[0].strip()
        flags = {a.partition("=")[0].strip().lower() for a in attributes}
        missing = [flag for flag, wanted in (("Secure", https), ("HttpOnly", True))
                   if wanted and flag.lower() not in flags]
        if name and missing and is_session_cookie(name):
            findings.append(make("cookie-insecure", url=reply.url, parameter=name,
                                 detail=f"Cookie {name} lacks {' and '.join(missing)}.",
                                 evidence={**request_evidence(reply.method, reply.url), "cookie": name,
                                           "missing": missing, "set_cookie": redact_text(f"Set-Cookie: {header}")}))
    return findings


def mixed_content(page: Page) -> list[Finding]:
    """Sub-resources an https page loads over plain http (one finding per page)."""
    if not page.reply.url.startswith("https://"):
        return []
    insecure = [f"{tag}: {url}" for tag, url in page.parsed.resources if url.startswith("http://")]
    if not insecure:
        return []
    return [make("mixed-content", url=page.reply.url, detail=f"{len(insecure)} resource(s) over HTTP.",
                 evidence={**request_evidence("GET", page.reply.url), "resources": insecure[:20]})]


def information_leaks(reply: Reply) -> list[Finding]:
    """Stack traces, database errors, server paths and private addresses in a response body."""
    text = reply.text
    sig = signatures()
    found: dict[str, str] = {}
    sql = sig.sql_error(text)
    if sql:
        found["sql-error"] = f"{sql[0]}: {sql[1]}"
    for kind, patterns in (("stack-trace", sig.stack_traces), ("server-path", sig.server_paths)):
        match = next((m for p in patterns if (m := p.search(text))), None)
        if match:
            found[kind] = match.group(0)
    for match in sig.internal_ips.finditer(text):
        try:
            if ipaddress.ip_address(match.group(0)).is_private:
                found["internal-ip"] = match.group(0)
                break
        except ValueError:
            continue
    return [make("information-leak", url=reply.url, parameter=kind, detail=f"{kind.replace('-', ' ')}: {value[:80]}",
                 evidence={**request_evidence(reply.method, reply.url), "kind": kind,
                           "response_excerpt": excerpt(text, value)})
            for kind, value in found.items()]


def _version_from_url(library: Library, url: str) -> str | None:
    path = urllib.parse.urlsplit(url).path
    return next((m.group(1) for p in library.file_patterns if (m := p.search(path))), None)


def _version_from_text(library: Library, text: str) -> str | None:
    return next((m.group(1) for p in library.content_patterns if (m := p.search(text))), None)


def library_findings(crawl: Crawl, client: WebClient) -> list[Finding]:
    """Outdated libraries among the crawled pages' scripts: version from the URL, else from the file banner.

    Only scripts on the origin are fetched (at most MAX_SCRIPT_FETCHES); others are judged by URL.
    Raises nothing: Stopped ends the fetching.
    """
    data_version, known = libraries()
    findings: list[Finding] = []
    fetched = 0
    for script, page in crawl.scripts.items():
        hits = [(lib, v) for lib in known if (v := _version_from_url(lib, script))]
        if not hits and client.origin.owns(script) and fetched < MAX_SCRIPT_FETCHES:
            fetched += 1
            try:
                reply = client.get(script)
            except (RequestFailed, ValueError):
                continue
            except Stopped:
                break
            head = reply.body[:65536].decode("utf-8", "replace")
            hits = [(lib, v) for lib in known if (v := _version_from_text(lib, head))]
        for library, version in hits:
            vulns = library.affecting(version)
            if not vulns:
                continue
            worst = max(vulns, key=lambda v: ["info", "low", "medium", "high", "critical"].index(v.severity.value))
            cves = sorted({v.cve for v in vulns})
            findings.append(make(
                "outdated-js-library", url=script, parameter=library.name, severity=worst.severity,
                detail=f"{library.name} {version}: {', '.join(cves)}.", product=library.name, version=version,
                cve=cves[0], evidence={"script": script, "page": page, "library": library.name, "version": version,
                                       "vulnerabilities": [{"cve": v.cve, "fixed": v.fixed, "summary": v.summary}
                                                           for v in vulns], "data_version": data_version}))
    return findings


def passive_findings(crawl: Crawl, client: WebClient) -> list[Finding]:
    """Every passive finding of the crawl (cookies, mixed content, leaks on each page; libraries once)."""
    https = client.origin.scheme == "https"
    findings: list[Finding] = []
    for page in crawl.pages:
        findings += cookie_findings(page.reply, https)
        findings += mixed_content(page)
        findings += information_leaks(page.reply)
    return findings + library_findings(crawl, client)
