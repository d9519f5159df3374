"""Breadth-first crawl of one origin: pages, injection points (query parameters, forms) and scripts.

Bounded by pages, depth and the client's request and time budgets. robots.txt is fetched and its
Disallow paths are reported; they are not seeded, and are crawled only when a page links to them
(reported as such). A form that looks destructive (delete, logout, pay, transfer...) is recorded as
skipped and never submitted. Links off the origin are counted, never requested.
"""

from __future__ import annotations

import urllib.parse
from collections import deque
from dataclasses import dataclass, field

from chalicelib.scanners.webapp.client import Origin, Reply, RequestFailed, Stopped, WebClient
from chalicelib.scanners.webapp.html import Form, ParsedPage, parse_html, robots_disallowed

PASSIVE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".svg", ".ico", ".webp", ".css", ".woff", ".woff2", ".ttf",
                      ".pdf", ".zip", ".gz", ".mp4", ".mp3", ".js", ".map")


@dataclass(frozen=True)
class Endpoint:
    """Somewhere parameters go: method, URL (no query), parameters with their default values, and its source."""

    method: str
    url: str
    params: tuple[tuple[str, str], ...]
    source: str  # "query" or "form"
    page: str  # where it was found

    @property
    def key(self) -> tuple[str, str, tuple[str, ...]]:
        """Identity for deduplication: method, URL and the sorted parameter names."""
        return self.method, self.url, tuple(sorted(n for n, _ in self.params))


@dataclass(frozen=True)
class Page:
    """A crawled page: its reply, its depth from the start URL and what its HTML holds."""

    reply: Reply
    depth: int
    parsed: ParsedPage


@dataclass
class Crawl:
    """What the crawl found, and what it deliberately left alone."""

    pages: list[Page] = field(default_factory=list)
    endpoints: list[Endpoint] = field(default_factory=list)
    scripts: dict[str, str] = field(default_factory=dict)  # script URL -> page that loads it
    robots_disallowed: list[str] = field(default_factory=list)
    robots_crawled: list[str] = field(default_factory=list)  # disallowed URLs crawled because linked
    skipped_forms: list[dict[str, str]] = field(default_factory=list)
    offsite_links: int = 0
    stopped: str | None = None


def _split(url: str) -> tuple[str, list[tuple[str, str]]]:
    parts = urllib.parse.urlsplit(url)
    bare = urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path or "/", "", ""))
    return bare, urllib.parse.parse_qsl(parts.query, keep_blank_values=True)


def _filler(kind: str, name: str, value: str) -> str:
    """A harmless value for a form control: its default, else something type-shaped."""
    if value:
        return value
    lowered = name.lower()
    if kind == "email" or "mail" in lowered:
        return "scanner@example.com"
    if kind == "number" or lowered in ("id", "page", "qty", "count"):
        return "1"
    if kind == "url" or lowered in ("url", "link", "website"):
        return "https://example.com/"
    return "perimeter"


def form_endpoint(form: Form) -> Endpoint:
    """The endpoint a form submits to, every field filled with a harmless value."""
    params = tuple((f.name, _filler(f.kind, f.name, f.value)) for f in form.fields)
    if form.method == "GET":
        bare, query = _split(form.action)
        return Endpoint("GET", bare, tuple(query) + params, "form", form.page)
    return Endpoint("POST", urllib.parse.urldefrag(form.action)[0], params, "form", form.page)


def _disallowed(url: str, rules: list[str]) -> bool:
    path = urllib.parse.urlsplit(url).path or "/"
    return any(path.startswith(rule.rstrip("*")) for rule in rules if rule != "/")


def _robots(client: WebClient, result: Crawl) -> None:
    """Read robots.txt's Disallow paths into `result` (reported, not obeyed); raises Stopped."""
    try:
        robots = client.get(client.origin.base + "/robots.txt")
    except RequestFailed:
        return
    if robots.status == 200 and not robots.is_html:
        result.robots_disallowed = robots_disallowed(robots.text)


def _take_forms(client: WebClient, parsed: ParsedPage, url: str, result: Crawl,
                endpoints: dict[tuple[str, str, tuple[str, ...]], Endpoint]) -> None:
    """Forms become endpoints, except destructive-looking or off-host ones (recorded once as skipped)."""
    for form in parsed.forms:
        reason = form.destructive_reason()
        if reason is None and client.origin.owns(form.action):
            found = form_endpoint(form)
            endpoints.setdefault(found.key, found)
        elif not any(s["action"] == form.action and s["method"] == form.method for s in result.skipped_forms):
            result.skipped_forms.append({"page": url, "action": form.action, "method": form.method,
                                         "reason": f"looks destructive ({reason})" if reason else "off the host"})


def _take_query(url: str, endpoints: dict[tuple[str, str, tuple[str, ...]], Endpoint]) -> None:
    """A URL with a query string is an endpoint of its own."""
    bare, query = _split(url)
    if query:
        found = Endpoint("GET", bare, tuple(query), "query", url)
        endpoints.setdefault(found.key, found)


def crawl(client: WebClient, start: str, max_pages: int, max_depth: int) -> Crawl:
    """Crawl from `start` on the client's origin; never raises Stopped (it ends the crawl, `stopped` says why).

    Raises what the client raises for a refused or unresolvable host.
    """
    origin: Origin = client.origin
    result = Crawl()
    seen: set[str] = set()
    endpoints: dict[tuple[str, str, tuple[str, ...]], Endpoint] = {}
    queue: deque[tuple[str, int]] = deque([(urllib.parse.urldefrag(start)[0], 0)])
    try:
        _robots(client, result)
        while queue and len(result.pages) < max_pages:
            url, depth = queue.popleft()
            if url in seen:
                continue
            seen.add(url)
            try:
                reply = client.get(url)
            except RequestFailed:
                continue
            if _disallowed(url, result.robots_disallowed):
                result.robots_crawled.append(url)
            _take_query(url, endpoints)
            location = reply.header("Location")
            if location and 300 <= reply.status < 400:
                target = urllib.parse.urljoin(url, location)
                if origin.owns(target):  # a redirect elsewhere is recorded by the client, never followed
                    queue.append((target, depth + 1))
                continue
            parsed = parse_html(url, reply.text) if reply.is_html else ParsedPage()
            result.pages.append(Page(reply, depth, parsed))
            result.scripts.update({script: url for script in parsed.scripts if script not in result.scripts})
            _take_forms(client, parsed, url, result, endpoints)
            if depth < max_depth:
                queue.extend((link, depth + 1) for link in parsed.links if origin.owns(link) and link not in seen
                             and not link.lower().endswith(PASSIVE_EXTENSIONS))
            result.offsite_links += sum(1 for link in parsed.links if not origin.owns(link))
    except Stopped as exc:
        result.stopped = exc.reason
    result.endpoints = list(endpoints.values())
    return result
