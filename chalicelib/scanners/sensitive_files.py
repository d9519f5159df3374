"""Sensitive files on a web host: version-control metadata, secrets, backups, status pages, listings.

One baseline request for a random path tells a soft-404 host (200 for everything) apart; then each
path of `sensitive_files.json` is requested once, no redirect followed. A path counts only when it
answers 200 with the content signature of its file type and a body unlike the baseline's. Evidence
carries a short excerpt with every value, key, token and password redacted.
"""

from __future__ import annotations

import functools
import json
import re
import secrets
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.net.http import header_value
from chalicelib.scanners.base import Catalog, CheckFailed, CheckSkipped, FindingSpec, ScanContext
from chalicelib.scanners.fetch import FetchError, FetchResult, fetch
from chalicelib.scans.models import Finding, Severity, SignalKey

RULES_FILE = Path(__file__).with_name("sensitive_files.json")
MAX_PROBES = 19  # plus the baseline: at most 20 requests per host
MAX_FAILURES = 3  # requests that fail before the rest are dropped (a host that stopped answering)
WORKERS = 4
EXCERPT_MODES = ("head", "match", "none")
HEAD_LINES = 4

CATALOG = Catalog(SignalKey.WEB, {
    "vcs-metadata-exposed": FindingSpec(
        Severity.CRITICAL, "Version-control metadata is downloadable",
        "Block /.git, /.svn and /.hg on the web server and deploy without repository metadata.", "CWE-527"),
    "secrets-file-exposed": FindingSpec(
        Severity.CRITICAL, "A file of credentials or secrets is downloadable",
        "Remove the file from the web root, deny dotfiles, and rotate every secret it held.", "CWE-538"),
    "backup-file-exposed": FindingSpec(
        Severity.HIGH, "A backup or database dump is downloadable",
        "Move backups and dumps out of the web root and rotate any credentials they contain.", "CWE-530"),
    "server-status-exposed": FindingSpec(
        Severity.MEDIUM, "The web server's status page is public",
        "Restrict /server-status to the administrators' addresses (`Require ip`) or disable mod_status.",
        "CWE-200"),
    "phpinfo-exposed": FindingSpec(
        Severity.MEDIUM, "A phpinfo() page is public",
        "Delete phpinfo() pages from production.", "CWE-200"),
    "directory-listing": FindingSpec(
        Severity.LOW, "Directory listing is enabled",
        "Disable automatic indexes (`Options -Indexes`, `autoindex off`).", "CWE-548"),
})


@dataclass(frozen=True)
class Probe:
    """One path to request and the content it must show to count."""

    id: str
    path: str
    code: str
    label: str
    require: tuple[re.Pattern[str], ...]
    min_count: int = 1
    html: bool = False
    excerpt: str = "match"


@dataclass(frozen=True)
class Rules:
    """The versioned probe table."""

    version: str
    max_body: int
    excerpt_chars: int
    probes: tuple[Probe, ...]


@dataclass(frozen=True)
class Reply:
    """What one GET answered (no redirect followed)."""

    url: str
    status: int
    headers: tuple[tuple[str, str], ...]
    body: bytes

    def header(self, name: str) -> str | None:
        """The first value of a header (case-insensitive), or None."""
        return header_value(self.headers, name)

    @classmethod
    def from_fetch(cls, result: FetchResult) -> Reply:
        """The first hop of a fetch and its body."""
        hop = result.hops[0]
        return cls(hop.url, hop.status, tuple(hop.headers), result.body)


Get = Callable[[str], Reply]


def parse_rules(data: dict[str, Any]) -> Rules:
    """Validate and compile the probe table; raises ValueError naming the first problem."""
    probes: list[Probe] = []
    seen: set[str] = set()
    for raw in data.get("probes", []):
        pid = raw.get("id", "?")
        if pid in seen or raw.get("code") not in CATALOG.specs or not str(raw.get("path", "")).startswith("/"):
            raise ValueError(f"probe {pid}: duplicate id, unknown code or path not starting with /")
        if raw.get("excerpt", "match") not in EXCERPT_MODES or not raw.get("require"):
            raise ValueError(f"probe {pid}: excerpt must be one of {EXCERPT_MODES} and require non-empty")
        try:
            require = tuple(re.compile(p) for p in raw["require"])
        except re.error as exc:
            raise ValueError(f"probe {pid}: bad pattern: {exc}") from None
        seen.add(pid)
        probes.append(Probe(pid, raw["path"], raw["code"], raw["label"], require, int(raw.get("min_count", 1)),
                            bool(raw.get("html", False)), raw.get("excerpt", "match")))
    if not probes or len(probes) > MAX_PROBES:
        raise ValueError(f"between 1 and {MAX_PROBES} probes, found {len(probes)}")
    return Rules(str(data["version"]), int(data["max_body"]), int(data["excerpt_chars"]), tuple(probes))


@functools.cache
def load_rules() -> Rules:
    """The probe table from sensitive_files.json, loaded once; raises ValueError when it is invalid."""
    return parse_rules(json.loads(RULES_FILE.read_text(encoding="utf-8")))


# Redaction, applied in this order to every excerpt.
_REDACTIONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|\Z)", re.S),
     "[redacted private key]"),
    (re.compile(r"([a-z][a-z0-9+.\-]*://)[^/\s@]+@", re.I), r"\1[redacted]@"),
    (re.compile(r"(?m)^([ \t]*(?:export[ \t]+)?[\w.\-]+[ \t]*=[ \t]*)\S.*$"), r"\1[redacted]"),
    (re.compile(r"(?i)((?:pass(?:word|wd)?|pwd|secret|token|api[_-]?key|auth\w*|credential\w*|private[_-]?key)"
                r"[\"']?\s*[:=]\s*)\S.*"), r"\1[redacted]"),
    (re.compile(r"(?i)(\bVALUES\s*)\(.*"), r"\1[redacted]"),
    (re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), "[redacted]"),
    (re.compile(r"[A-Za-z0-9+/_\-]{24,}={0,2}"), "[redacted]"),
)


def redact(text: str) -> str:
    """`text` with KEY=value values, URL credentials, private keys, key ids and long tokens replaced."""
    for pattern, replacement in _REDACTIONS:
        text = pattern.sub(replacement, text)
    return text


def _is_html(text: str) -> bool:
    head = text[:512].lstrip().lower()
    return head.startswith(("<!doctype html", "<html", "<head", "<body")) or "<html" in head[:200]


def signature(probe: Probe, text: str) -> re.Match[str] | None:
    """The first require pattern's match when every pattern holds (the first `min_count` times), else None."""
    first, *others = probe.require
    matches = list(first.finditer(text))
    if len(matches) < probe.min_count or not all(p.search(text) for p in others):
        return None
    return matches[0]


def excerpt(probe: Probe, text: str, match: re.Match[str], limit: int) -> str | None:
    """A short redacted excerpt: the first lines (`head`), the matched line (`match`), or None."""
    if probe.excerpt == "none":
        return None
    if probe.excerpt == "head":
        lines = [line.rstrip() for line in text[:4096].splitlines() if line.strip()][:HEAD_LINES]
        chosen = "\n".join(lines)
    else:
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        chosen = text[start: end if end != -1 else len(text)].strip()
    return redact(chosen)[:limit]


def assess(probe: Probe, reply: Reply, baseline: Reply | None, rules: Rules) -> Finding | None:
    """The finding `reply` makes for `probe`, or None (not 200, no signature, baseline body, HTML)."""
    if reply.status != 200 or not reply.body:
        return None
    if baseline is not None and baseline.status == 200 and reply.body == baseline.body:
        return None  # the host's answer to anything
    text = reply.body.decode("latin-1")
    if not probe.html and _is_html(text):
        return None
    match = signature(probe, text)
    if match is None:
        return None
    length = reply.header("Content-Length") or ""
    evidence: dict[str, Any] = {
        "url": reply.url, "status": reply.status,
        "size": int(length) if length.isdigit() else len(reply.body),
        "content_type": reply.header("Content-Type"),
        "signature": f"{probe.id}: {probe.label}",
        "excerpt": excerpt(probe, text, match, rules.excerpt_chars),
        "soft_404": bool(baseline is not None and baseline.status == 200),
        "rules_version": rules.version,
    }
    return CATALOG.make(probe.code, key=reply.url, evidence=evidence, detail=f"{probe.label} served at {reply.url}.")


def guarded_get(ctx: ScanContext, max_body: int) -> Get:
    """A GET through chalicelib/scanners/fetch.py (guarded, no redirect followed, body capped)."""

    def get(url: str) -> Reply:
        return Reply.from_fetch(fetch(url, ctx, max_redirects=0, max_body=max_body))

    return get


def _join(base_url: str, path: str) -> str:
    return base_url.rstrip("/") + path


def sensitive_file_findings(base_url: str, ctx: ScanContext, get: Get | None = None,
                            rules: Rules | None = None) -> list[Finding]:
    """Findings for the sensitive paths of the host at `base_url` (scheme://host[:port]/), in table order.

    At most one baseline plus len(rules.probes) requests, WORKERS at a time; after MAX_FAILURES failed
    requests the rest are dropped. Never raises for a failed request; raises nothing else.
    """
    rules = rules or load_rules()
    get = get or guarded_get(ctx, rules.max_body)
    failures = 0
    lock = threading.Lock()

    def attempt(url: str) -> Reply | None:
        nonlocal failures
        with lock:
            if failures >= MAX_FAILURES:
                return None
        try:
            return get(url)
        except (FetchError, CheckSkipped, CheckFailed):
            with lock:
                failures += 1
            return None

    baseline = attempt(_join(base_url, f"/perimeter-{secrets.token_hex(8)}.txt"))

    def one(probe: Probe) -> Finding | None:
        reply = attempt(_join(base_url, probe.path))
        return assess(probe, reply, baseline, rules) if reply is not None else None

    with ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="sensitive") as pool:
        return [f for f in pool.map(one, rules.probes) if f is not None]
