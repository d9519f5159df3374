"""refresh-intel: rebuild the intel bundle from the live feeds (or from snapshot files) and store a new version.

Feeds (URLs from Settings, so tests serve them from a loopback server): the CISA KEV JSON feed, the
endoflife.date API (one request per mapped product, `{product}` in the URL) and endoflife.date
release-data (one per product). Every request goes through the guarded HTTP client with a deadline
and a body cap. Any feed that cannot be read or validated aborts the refresh before anything is
written (RefreshFailed): the current data stays in place.
"""

from __future__ import annotations

import json
import logging
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from chalicelib.core.objects import ObjectStore
from chalicelib.net.http import AddressRefused, Destination, Guard, HttpFailure, send
from chalicelib.net.ports import DomainNotFound, Resolver, ResolverUnavailable
from chalicelib.scanners.intel.build import (
    Bundle,
    BundleError,
    eol_product,
    next_version,
    prune_endoflife,
    prune_kev,
    prune_releases,
    release_versions,
    write_bundle,
)
from chalicelib.scanners.intel.model import Intel
from chalicelib.scanners.intel.store import code_tables, read_bundle, write_directory, write_objects

log = logging.getLogger(__name__)

MAX_FEED_BYTES = 16 * 1024 * 1024
MAX_PRODUCT_BYTES = 2 * 1024 * 1024
MAX_REDIRECTS = 3
USER_AGENT = "Perimeter-intel-refresh/1"

Fetch = Callable[[str, int], bytes]


class RefreshFailed(Exception):
    """A feed was unreachable or invalid; nothing was written."""


@dataclass(frozen=True)
class FeedUrls:
    """Where the feeds are: the KEV JSON URL and two templates with `{product}`."""

    kev: str
    endoflife: str
    releases: str


def http_fetcher(resolver: Resolver, guard: Guard, timeout: float) -> Fetch:
    """`fetch(url, max_bytes) -> body` over the guarded client, following up to 3 redirects; raises RefreshFailed."""

    def fetch(url: str, max_bytes: int) -> bytes:
        current = url
        for _ in range(MAX_REDIRECTS + 1):
            try:
                response = send(Destination.from_url(current), resolver=resolver, guard=guard, timeout=timeout,
                                max_body=max_bytes, user_agent=USER_AGENT, headers={"Accept": "application/json"})
            except (HttpFailure, AddressRefused, DomainNotFound, ResolverUnavailable, ValueError, OSError) as exc:
                raise RefreshFailed(f"{_safe(url)}: {type(exc).__name__}: {exc}") from None
            location = response.header("location")
            if response.status in (301, 302, 303, 307, 308) and location:
                current = urllib.parse.urljoin(current, location)
                continue
            if response.status != 200 or response.truncated or response.body_error:
                reason = response.body_error or ("larger than the cap" if response.truncated else "")
                raise RefreshFailed(f"{_safe(url)}: HTTP {response.status} {reason}".rstrip())
            return response.body
        raise RefreshFailed(f"{_safe(url)}: too many redirects")

    return fetch


def _safe(url: str) -> str:
    """The URL without query or credentials (for messages)."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.hostname or ''}{parts.path}"


def _json(body: bytes, what: str) -> Any:
    try:
        return json.loads(body)
    except ValueError as exc:
        raise RefreshFailed(f"{what}: not JSON ({exc})") from None


def fetch_bundle(fetch: Fetch, urls: FeedUrls, today: date) -> tuple[Bundle, dict[str, str]]:
    """Fetch every feed and prune it; raises RefreshFailed (unreachable) or BundleError (invalid)."""
    products, rules = code_tables()
    kev = prune_kev(_json(fetch(urls.kev, MAX_FEED_BYTES), "KEV feed"), products,
                    [r["cve"] for r in rules["rules"]])
    eol_raw: dict[str, Any] = {}
    release_raw: dict[str, Any] = {}
    for entry in products["products"]:
        if entry.get("eol"):
            url = urls.endoflife.format(product=urllib.parse.quote(entry["eol"]))
            eol_raw[entry["eol"]] = eol_product(entry["eol"], _json(fetch(url, MAX_PRODUCT_BYTES), url))
        if entry.get("releases"):
            url = urls.releases.format(product=urllib.parse.quote(entry["releases"]))
            release_raw[entry["releases"]] = release_versions(entry["releases"],
                                                              _json(fetch(url, MAX_PRODUCT_BYTES), url))
    snapshot = today.isoformat()
    bundle = Bundle(kev=kev, endoflife=prune_endoflife({"products": eol_raw}, products, snapshot),
                    releases=prune_releases({"products": release_raw}, products, snapshot))
    origin = {"kev.json": _safe(urls.kev), "endoflife.json": _safe(urls.endoflife),
              "release-dates.json": _safe(urls.releases)}
    return bundle, origin


def bundle_from_snapshots(directory: Path) -> tuple[Bundle, dict[str, str]]:
    """A bundle from snapshot files (`kev.json`, `endoflife.json`, `release-dates.json`, the shared data
    directory's shape); raises BundleError or OSError."""
    products, rules = code_tables()
    raw = {name: json.loads((directory / name).read_text()) for name in ("kev.json", "endoflife.json",
                                                                           "release-dates.json")}
    eol_date = _snapshot(raw["endoflife.json"].get("source", ""))
    rel_date = _snapshot(raw["release-dates.json"].get("source", ""))
    kev_raw = dict(raw["kev.json"])
    kev_raw["dateReleased"] = str(kev_raw.get("dateReleased", ""))[:10]
    bundle = Bundle(kev=prune_kev(kev_raw, products, [r["cve"] for r in rules["rules"]]),
                    endoflife=prune_endoflife(raw["endoflife.json"], products, eol_date),
                    releases=prune_releases(raw["release-dates.json"], products, rel_date))
    origin = {name: f"snapshot: {raw[name].get('source') or raw[name].get('title', name)}" for name in raw}
    return bundle, origin


def _snapshot(source: str) -> str:
    """The `snapshot YYYY-MM-DD` date a shared data file's `source` names; raises BundleError."""
    marker = "snapshot "
    at = source.find(marker)
    if at < 0:
        raise BundleError(f"no snapshot date in {source!r}")
    return source[at + len(marker): at + len(marker) + 10]


def validate(bundle: Bundle, version: str, origin: Mapping[str, str]) -> tuple[dict[str, bytes], Intel]:
    """The bundle's files, proven to load as Intel the way a scanner would; raises BundleError."""
    files = write_bundle(bundle, version, origin)
    manifest, reread = read_bundle(lambda name: files[name])
    products, rules = code_tables()
    return files, Intel.build(manifest, reread, products, rules)


@dataclass(frozen=True)
class RefreshResult:
    """What a refresh wrote."""

    intel_version: str
    previous: str
    location: str
    kev_entries: int
    products: int
    osv: Mapping[str, object] | None = None  # the OSV refresh's summary, or its error (the bundle stands either way)

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        out: dict[str, object] = {"intel_version": self.intel_version, "previous": self.previous,
                                  "written_to": self.location, "kev_entries": self.kev_entries,
                                  "products": self.products}
        if self.osv is not None:
            out["osv"] = dict(self.osv)
        return out


def refresh(bundle: Bundle, origin: Mapping[str, str], current: Intel, *, out_dir: Path | None = None,
            objects: ObjectStore | None = None, prefix: str = "intel") -> RefreshResult:
    """Validate `bundle` and write it as a new version to `out_dir` or `objects` under `prefix`.

    The version is the newest source date plus a serial above `current`'s (the intel in use) on the
    same date. Raises BundleError (invalid: nothing written), OSError or the object store's errors.
    """
    version = next_version(bundle, current.version)
    files, intel = validate(bundle, version, origin)
    if out_dir is not None:
        location = str(write_directory(out_dir, version, files))
    elif objects is not None:
        location = write_objects(objects, prefix, version, files)
    else:
        raise ValueError("refresh needs out_dir or objects")
    disagree = [r.id for rows in intel.rules.values() for r in rows if (r.cve in intel.kev) != r.kev]
    if disagree:
        log.warning("KEV now disagrees with rules.json for %s: the scanner follows KEV", ", ".join(disagree))
    return RefreshResult(version, current.version, location, len(intel.kev), len(intel.products))


def vendor_packaged(snapshots: Path, data_dir: Path) -> str:
    """Write the packaged bundle (flat, into `data_dir`) from snapshot files; the version it got. Raises BundleError."""
    bundle, origin = bundle_from_snapshots(snapshots)
    version = next_version(bundle, None)
    files, _ = validate(bundle, version, origin)
    for name, body in files.items():
        (data_dir / name).write_bytes(body)
    return version
