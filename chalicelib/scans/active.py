"""Targets, options and the CI gate of `webapp` and `container` scans (issue 14): pure, no I/O.

A webapp target is a host or an http(s) URL on it; a container target is an image reference naming its
registry (`host[:port]/path[:tag][@sha256:<64 hex>]`). Both hosts then go through the same target guard
as every other scan (ScanService.check_target).
"""

from __future__ import annotations

import re
from typing import NamedTuple
from urllib.parse import urlsplit

from pydantic import BaseModel, Field

from chalicelib.core.errors import InvalidDomain, Unprocessable
from chalicelib.scans.models import Scan, ScanOptions, ScanType, Severity

ACTIVE_TYPES = frozenset({ScanType.WEBAPP, ScanType.CONTAINER})
DEFAULT_FAIL_ON = Severity.HIGH
SEVERITY_RANK: dict[Severity, int] = {s: i for i, s in enumerate(Severity)}  # critical 0 ... info 4

# Registry host (a DNS name with a dot, `localhost`, an IPv4 literal or a bracketed IPv6 literal) and port;
# then lower-case path components (the distribution spec's grammar), an optional tag and digest.
_HOST = r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+" \
        r"|localhost|\[[0-9A-Fa-f:.]+\])"
_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
IMAGE_REF = re.compile(
    rf"^(?P<host>{_HOST})(?::(?P<port>[0-9]{{1,5}}))?"
    rf"/(?P<path>{_COMPONENT}(?:/{_COMPONENT}){{0,15}})"
    r"(?::(?P<tag>[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}))?"
    r"(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)
_URL_PATH = re.compile(r"^[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")


class ImageRef(NamedTuple):
    """A parsed image reference."""

    registry: str  # host[:port] as written (host lower-cased)
    host: str
    port: int | None
    repository: str
    tag: str | None
    digest: str | None

    @property
    def canonical(self) -> str:
        """`registry/repository[:tag][@digest]`; `:latest` when neither tag nor digest is given."""
        tag = self.tag if self.tag or self.digest else "latest"
        return f"{self.registry}/{self.repository}" + (f":{tag}" if tag else "") + \
            (f"@{self.digest}" if self.digest else "")


def parse_image_ref(raw: str) -> ImageRef:
    """Parse `host[:port]/path[:tag][@sha256:...]`; raises InvalidDomain (422 `invalid-image-reference`).

    The registry must be named (`docker.io/library/nginx`, not `nginx`): a container scan contacts only
    the registry its reference names, so none is guessed.
    """
    text = raw.strip()
    match = IMAGE_REF.match(text) if len(text) <= 512 else None
    if match is None:
        raise InvalidDomain(
            f"{raw[:100]!r} is not an image reference of the form host[:port]/path[:tag][@sha256:<digest>] "
            "(name the registry, e.g. docker.io/library/nginx:1.27).", code="invalid-image-reference")
    port = int(match["port"]) if match["port"] else None
    if port is not None and not 1 <= port <= 65535:
        raise InvalidDomain(f"registry port {port} is out of range.", code="invalid-image-reference")
    host = match["host"].lower()
    registry = f"{host}:{port}" if port else host
    return ImageRef(registry, host, port, match["path"], match["tag"], match["digest"])


class WebappTarget(NamedTuple):
    """A webapp scan's start URL, split: scheme, host as written, port, path."""

    scheme: str
    host: str
    port: int | None
    path: str

    def url(self, host: str) -> str:
        """The start URL with `host` (the normalised form of `self.host`)."""
        named = f"[{host}]" if ":" in host else host
        return f"{self.scheme}://{named}{f':{self.port}' if self.port else ''}{self.path}"


def parse_webapp_target(raw: str) -> WebappTarget:
    """A host or an http(s) URL, split; raises InvalidDomain.

    A bare host becomes `https://host/`; userinfo, query and fragment are refused (the start URL is a
    place, not a credential); the host is returned as written, for the caller to normalise and guard.
    """
    text = raw.strip()
    if "://" not in text:
        text = f"https://{text}"
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise InvalidDomain(f"{raw[:100]!r} is not a valid URL: {exc}.") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise InvalidDomain("A webapp target is a host or an http(s) URL.")
    if "@" in parts.netloc:
        raise InvalidDomain("A webapp target must not carry credentials.")
    if parts.query or parts.fragment or "?" in text or "#" in text or not _URL_PATH.match(parts.path):
        raise InvalidDomain("A webapp target URL takes a path only (no query or fragment).")
    if not parts.hostname:
        raise InvalidDomain(f"{raw[:100]!r} names no host.")
    return WebappTarget(parts.scheme.lower(), parts.hostname, port, parts.path or "/")


def target_host(scan_type: ScanType, target: str) -> str:
    """The host a stored target connects to: the URL's host (webapp), the registry host (container)."""
    if scan_type is ScanType.WEBAPP and "://" in target:
        return (urlsplit(target).hostname or target).lower()
    if scan_type is ScanType.CONTAINER:
        return parse_image_ref(target).host.strip("[]")
    return target


def check_options_for_type(scan_type: ScanType, options: ScanOptions) -> None:
    """Refuse options that do not belong to the scan type; raises Unprocessable (422 `option-not-applicable`)."""
    active = scan_type in ACTIVE_TYPES
    wrong: list[str] = []
    if options.webapp is not None and scan_type is not ScanType.WEBAPP:
        wrong.append("webapp")
    if options.container is not None and scan_type is not ScanType.CONTAINER:
        wrong.append("container")
    if options.fail_on is not None and not active:
        wrong.append("fail_on")
    if active:
        wrong += [name for name in ("ports", "dkim_selectors", "timing") if getattr(options, name) is not None]
        if options.service_detection:
            wrong.append("service_detection")
    if wrong:
        raise Unprocessable(f"options {', '.join(sorted(wrong))} do not apply to a {scan_type.value} scan.",
                            code="option-not-applicable")


class Gate(BaseModel):
    """The CI gate of a webapp or container scan: fails when any finding is at or above `fail_on`."""

    passed: bool | None = Field(description="null until the scan is scored, and when nothing could be tested "
                                            "(`coverage.not_scored`) and no finding fails it.")
    fail_on: Severity
    counts: dict[Severity, int] = Field(description="Findings per severity, over all of them.")


def empty_counts() -> dict[Severity, int]:
    """{critical: 0, ..., info: 0}."""
    return {s: 0 for s in Severity}


def gate(scan_type: ScanType, options: ScanOptions, counts: dict[Severity, int] | None, *,
         tested: bool = True) -> Gate | None:
    """The scan's gate (None for posture-family scans); `passed` is None while counts are unknown.

    With `tested` False (no signal could be tested: an image that could not be pulled, a host that did
    not answer) an empty result proves nothing, so `passed` is None rather than True: a CI gate must not
    pass what was never looked at. A failing finding still fails it.
    """
    if scan_type not in ACTIVE_TYPES:
        return None
    fail_on = options.fail_on or DEFAULT_FAIL_ON
    if counts is None:
        return Gate(passed=None, fail_on=fail_on, counts=empty_counts())
    failing = sum(n for s, n in counts.items() if SEVERITY_RANK[s] <= SEVERITY_RANK[fail_on])
    passed = False if failing else (True if tested else None)
    return Gate(passed=passed, fail_on=fail_on, counts={**empty_counts(), **counts})


def scan_gate(scan: Scan) -> Gate | None:
    """The gate of a stored scan: its options and counts, and whether Score found any signal tested."""
    tested = scan.coverage is None or bool(scan.coverage.get("tested"))
    return gate(scan.scan_type, scan.options, scan.severity_counts, tested=tested)
