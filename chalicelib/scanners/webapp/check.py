"""Signal `webapp`: crawl the verified host, passive checks on every page, active checks on every
parameter (built-in engine), wapiti and sqlmap behind our proxy, findings merged by (code, URL,
parameter). Authorisation (proof of control) is decided before this check runs, never here.
"""

from __future__ import annotations

import threading
import time
import urllib.parse
from typing import Any

from pydantic import ValidationError

from chalicelib.scanners.base import CheckFailed, CheckSkipped, ScanContext, safe_check
from chalicelib.scanners.webapp import active, engines
from chalicelib.scanners.webapp.client import Limits, Origin, Reply, RequestFailed, Stopped, WebClient
from chalicelib.scanners.webapp.crawler import Crawl, crawl
from chalicelib.scanners.webapp.data import libraries, signatures
from chalicelib.scanners.webapp.findings import make
from chalicelib.scanners.webapp.html import parse_html
from chalicelib.scanners.webapp.options import WebappOptions, webapp_options
from chalicelib.scanners.webapp.passive import passive_findings
from chalicelib.scans.models import Finding, SignalKey

STORED_RECHECK_PAGES = 30


def start_urls(target: str, ctx: ScanContext) -> list[str]:
    """The start URL of a URL target, or https then http on the context's ports for a host.

    Raises CheckSkipped for a URL that is not http(s) or has no host.
    """
    if "://" in target:
        try:
            Origin.of(target)
        except ValueError as exc:
            raise CheckSkipped(f"not a web target: {exc}") from None
        return [target]
    host = target.rstrip(".").lower().strip("[]")
    netloc = f"[{host}]" if ":" in host else host
    return [f"https://{netloc}:{ctx.https_port}/", f"http://{netloc}:{ctx.http_port}/"]


def _limits(options: WebappOptions, ctx: ScanContext) -> Limits:
    seconds = options.time_budget
    if ctx.deadline is not None:
        seconds = min(seconds, ctx.deadline - time.time())
    if seconds <= 0:
        raise CheckSkipped("the scan's deadline has passed")
    return Limits(options.rate_limit, options.max_requests, time.monotonic() + seconds)


def open_client(target: str, ctx: ScanContext, limits: Limits) -> tuple[WebClient, Reply]:
    """A client on the first start URL that answers, and that answer; raises CheckSkipped when none does."""
    errors = []
    sent = 0
    for url in start_urls(target, ctx):
        client = WebClient(Origin.of(url), ctx, limits, ctx.cancelled, sent=sent)
        try:
            return client, client.get(url)
        except RequestFailed as exc:
            errors.append(str(exc))
            sent = client.sent
        except Stopped as exc:
            raise CheckSkipped(f"stopped before the first answer: {exc.reason}") from None
    raise CheckSkipped("no web server answered: " + "; ".join(errors))


def _ssrf_marker(client: WebClient, first: Reply) -> tuple[str, str] | None:
    """(the start URL, its <title>) when the start page has a title the SSRF check can look for."""
    title = parse_title(first.text)
    return (first.url, title) if title and len(title) >= 6 else None


def parse_title(text: str) -> str | None:
    """The text of the page's <title>, stripped, or None."""
    lowered = text.lower()
    start, end = lowered.find("<title>"), lowered.find("</title>")
    return text[start + 7:end].strip() or None if 0 <= start < end else None


def _run_builtin(client: WebClient, found: Crawl, first: Reply, options: WebappOptions) -> tuple[list[Finding], str]:
    probe = active.Probe(client, options.time_based, _ssrf_marker(client, first))
    ended = "finished"
    try:
        for endpoint in found.endpoints:
            active.probe_endpoint(probe, endpoint)
        replies = []
        for page in found.pages[:STORED_RECHECK_PAGES]:
            if probe.stored:
                replies.append(client.get(page.reply.url))
        active.check_stored(probe, replies)
    except Stopped as exc:
        ended = exc.reason
    return list(probe.findings.values()), ended


def merge(first: list[Finding], *others: list[Finding]) -> list[Finding]:
    """Findings deduplicated by id (code, URL, parameter): the first kept, later engines noted as confirming."""
    merged: dict[str, Finding] = {}
    for finding in first:
        merged.setdefault(finding.id, finding)
    for batch in others:
        for finding in batch:
            kept = merged.get(finding.id)
            if kept is None:
                merged[finding.id] = finding
                continue
            engine = finding.evidence.get("engine", "builtin")
            if engine == kept.evidence.get("engine", "builtin"):
                continue
            confirmed = sorted({*kept.evidence.get("confirmed_by", []), engine})
            merged[finding.id] = kept.model_copy(update={"evidence": {**kept.evidence, "confirmed_by": confirmed}})
    return list(merged.values())


def _info_findings(found: Crawl, client: WebClient, base: str) -> list[Finding]:
    findings = []
    if found.robots_disallowed:
        findings.append(make("robots-disallowed", url=base + "/robots.txt", evidence={
            "disallowed": found.robots_disallowed, "crawled_because_linked": found.robots_crawled[:50]}))
    if client.offsite_redirects:
        findings.append(make("offsite-redirect", url=base, evidence={"redirects": client.offsite_redirects[:20]}))
    if found.skipped_forms:
        findings.append(make("forms-skipped", url=base, evidence={"forms": found.skipped_forms[:50]}))
    return findings


def _check(target: str, ctx: ScanContext) -> list[Finding]:
    try:
        options = webapp_options(ctx.scan_options)
    except ValidationError as exc:
        raise CheckFailed(f"invalid webapp options: {exc.errors()[0].get('msg')}") from None
    chosen = options.engines or ("builtin", "wapiti", "sqlmap")
    client, first = open_client(target, ctx, _limits(options, ctx))
    found = crawl(client, first.url, options.max_pages, options.max_depth)
    if not found.pages and first.is_html:  # a start page that redirected elsewhere still tells us something
        found.pages.append(crawl_page(first))
    findings = passive_findings(found, client)
    start_path = urllib.parse.urlsplit(first.url).path or "/"
    blocked = sorted({urllib.parse.urlsplit(f["action"]).path for f in found.skipped_forms})
    runs: dict[str, engines.EngineRun] = {}
    threads = [threading.Thread(target=lambda n=name: runs.__setitem__(n, engines.run_engine(
        n, client, start_path=start_path, depth=options.max_depth, excluded=blocked)), name=f"webapp-{name}",
        daemon=True) for name in ("wapiti", "sqlmap") if name in chosen]
    for thread in threads:
        thread.start()
    builtin: list[Finding] = []
    builtin_ended = "not run"
    if "builtin" in chosen:
        builtin, builtin_ended = _run_builtin(client, found, first, options)
    for thread in threads:
        thread.join()
    findings = merge(findings + builtin, *(run.findings for run in runs.values()))
    findings += _info_findings(found, client, client.origin.base)
    coverage: dict[str, Any] = {
        "start_url": first.url, "pages": len(found.pages), "endpoints": len(found.endpoints),
        "parameters": sum(len(e.params) for e in found.endpoints), "requests_sent": client.sent,
        "crawl_stopped": found.stopped, "offsite_links_not_followed": found.offsite_links,
        "engines": [{"engine": "builtin", "ended": builtin_ended, "findings": len(builtin)}]
        + [runs[n].summary() if n in runs else {"engine": n, "ended": "not chosen"} for n in ("wapiti", "sqlmap")],
        "limits": options.model_dump(mode="json"), "js_data_version": libraries()[0],
        "signatures_version": signatures().version, "cancelled": client.cancelled.is_set(),
    }
    findings.append(make("webapp-coverage", url=client.origin.base, evidence=coverage))
    return findings


def crawl_page(reply: Reply) -> Any:
    """A crawler Page for a reply the crawl did not keep (depth 0)."""
    from chalicelib.scanners.webapp.crawler import Page

    return Page(reply, 0, parse_html(reply.url, reply.text))


run = safe_check(SignalKey.WEBAPP)(_check)
