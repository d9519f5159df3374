"""Build an intel bundle: prune the KEV, endoflife.date and release-data catalogues to what the product uses.

A bundle is three JSON files and a manifest (`FEED_FILES` + `MANIFEST`); `products.json` (the CPE
mapping) and `rules.json` (the version-range rules) ship with the code and are not part of it.
The same functions vendor the packaged copy (from `../shared/data`) and build a refresh (from the
live feeds, `refresh.py`), so both are pruned and validated alike.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

FEED_FILES = ("kev.json", "endoflife.json", "release-dates.json")
MANIFEST = "manifest.json"
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_VERSION = re.compile(r"^(\d{4}-\d{2}-\d{2})\.(\d{1,4})$")
KEV_FIELDS = ("cveID", "vendorProject", "product", "vulnerabilityName", "dateAdded", "knownRansomwareCampaignUse")
CYCLE_FIELDS = ("releaseCycle", "releaseDate", "eol", "latest", "latestReleaseDate", "lts", "eoas")
MAX_RELEASES_PER_PRODUCT = 2000

SOURCES: dict[str, dict[str, str]] = {
    "kev.json": {"name": "CISA Known Exploited Vulnerabilities catalog", "licence": "CC0-1.0",
                 "url": "https://www.cisa.gov/known-exploited-vulnerabilities-catalog"},
    "endoflife.json": {"name": "endoflife.date release cycles", "licence": "MIT",
                       "url": "https://github.com/endoflife-date/endoflife.date"},
    "release-dates.json": {"name": "endoflife.date release-data (version release dates)", "licence": "MIT",
                           "url": "https://github.com/endoflife-date/release-data"},
}


class BundleError(ValueError):
    """A catalogue or bundle that does not have the shape the matcher needs."""


@dataclass(frozen=True)
class Bundle:
    """The three pruned documents with the snapshot date of each source."""

    kev: dict[str, Any]
    endoflife: dict[str, Any]
    releases: dict[str, Any]

    def documents(self) -> dict[str, dict[str, Any]]:
        """File name -> document."""
        return {"kev.json": self.kev, "endoflife.json": self.endoflife, "release-dates.json": self.releases}


def kev_patterns(products: Mapping[str, Any]) -> list[tuple[re.Pattern[str], re.Pattern[str]]]:
    """The (vendorProject, product) patterns of every mapped product (case-insensitive)."""
    return [(re.compile(p["vendor"], re.I), re.compile(p["product"], re.I))
            for entry in products["products"] for p in entry["kev"]]


def kev_matches(entry: Mapping[str, Any], patterns: Iterable[tuple[re.Pattern[str], re.Pattern[str]]]) -> bool:
    """True when a KEV entry's vendorProject fully matches and its product is found by one pattern pair."""
    vendor, product = str(entry.get("vendorProject", "")).strip(), str(entry.get("product", "")).strip()
    return any(v.fullmatch(vendor) and p.search(product) for v, p in patterns)


def prune_kev(raw: Mapping[str, Any], products: Mapping[str, Any], rule_cves: Iterable[str]) -> dict[str, Any]:
    """The KEV entries of mapped products and of rule CVEs, with the fields the matcher reads; raises BundleError."""
    vulns = raw.get("vulnerabilities")
    released = str(raw.get("dateReleased", ""))[:10]
    if not isinstance(vulns, list) or not vulns or not _DATE.match(released):
        raise BundleError("KEV feed: no vulnerabilities list or no dateReleased")
    patterns, wanted = kev_patterns(products), set(rule_cves)
    kept = [{f: v.get(f) for f in KEV_FIELDS} for v in vulns
            if isinstance(v, dict) and isinstance(v.get("cveID"), str)
            and (v["cveID"] in wanted or kev_matches(v, patterns))]
    kept.sort(key=lambda v: str(v["cveID"]))
    return {"catalogVersion": str(raw.get("catalogVersion", "")), "dateReleased": released,
            "count": len(vulns), "vulnerabilities": kept}


def _cycle(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """One release cycle in front-matter form, from front matter, API v0 (`cycle`) or API v1 (`name`)."""
    if "releaseCycle" in raw or "cycle" in raw:
        out = {f: raw.get(f) for f in CYCLE_FIELDS}
        out["releaseCycle"] = str(raw.get("releaseCycle", raw.get("cycle")))
        out["eoas"] = raw.get("eoas", raw.get("support"))
        return out
    if "name" in raw:  # endoflife.date API v1
        latest = raw.get("latest") or {}
        return {"releaseCycle": str(raw["name"]), "releaseDate": raw.get("releaseDate"),
                "eol": raw.get("eolFrom") or bool(raw.get("isEol")), "latest": latest.get("name"),
                "latestReleaseDate": latest.get("date"), "lts": bool(raw.get("isLts")),
                "eoas": raw.get("eoasFrom")}
    return None


def eol_product(name: str, raw: Any) -> dict[str, Any]:
    """One endoflife.date product in the bundle's form from any of its published shapes; raises BundleError."""
    if isinstance(raw, dict) and isinstance(raw.get("result"), dict):
        raw = raw["result"]
    cycles = raw.get("releases") if isinstance(raw, dict) else raw
    if not isinstance(cycles, list):
        raise BundleError(f"endoflife {name}: no release cycles")
    releases = [c for c in (_cycle(r) for r in cycles if isinstance(r, dict)) if c is not None]
    if not releases:
        raise BundleError(f"endoflife {name}: no release cycles")
    return {"product": name, "releases": releases}


def prune_endoflife(raw: Mapping[str, Any], products: Mapping[str, Any], snapshot: str) -> dict[str, Any]:
    """The endoflife products the mapping names (`eol`), cycles only; raises BundleError."""
    wanted = {e["eol"] for e in products["products"] if e.get("eol")}
    source = raw.get("products")
    by_name = ({p.get("product"): p for p in source if isinstance(p, dict)} if isinstance(source, list)
               else dict(source) if isinstance(source, dict) else {})
    kept = {name: eol_product(name, by_name[name]) for name in sorted(wanted) if name in by_name}
    if not kept:
        raise BundleError("endoflife: none of the mapped products present")
    return {"snapshot": snapshot, "products": kept}


def release_versions(name: str, raw: Any) -> dict[str, str]:
    """version -> release date from a release-data file (`versions: {v: {date}}`) or a plain map; raises BundleError."""
    if isinstance(raw, dict) and isinstance(raw.get("versions"), dict):
        raw = {v: (d.get("date") if isinstance(d, dict) else d) for v, d in raw["versions"].items()}
    if not isinstance(raw, dict):
        raise BundleError(f"release-data {name}: not a version map")
    out = {str(v): str(d)[:10] for v, d in raw.items() if isinstance(d, str) and _DATE.match(str(d)[:10])}
    newest = sorted(out.items(), key=lambda item: item[1], reverse=True)[:MAX_RELEASES_PER_PRODUCT]
    return dict(newest)


def prune_releases(raw: Mapping[str, Any], products: Mapping[str, Any], snapshot: str) -> dict[str, Any]:
    """Release dates of the products the mapping names (`releases`); raises BundleError."""
    wanted = {e["releases"] for e in products["products"] if e.get("releases")}
    source = raw.get("products", {})
    kept = {name: release_versions(name, source[name]) for name in sorted(wanted) if name in source}
    if not kept:
        raise BundleError("release-data: none of the mapped products present")
    return {"snapshot": snapshot, "products": kept}


def encode(document: Mapping[str, Any]) -> bytes:
    """The canonical bytes of a bundle file (sorted keys, compact, newline-terminated)."""
    return (json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False) + "\n").encode()


def digest(body: bytes) -> str:
    """SHA-256 hex of a file's bytes."""
    return hashlib.sha256(body).hexdigest()


def snapshot_date(bundle: Bundle) -> str:
    """The newest of the sources' snapshot dates (the date part of the intel version)."""
    return str(max(bundle.kev["dateReleased"], bundle.endoflife["snapshot"], bundle.releases["snapshot"]))


def next_version(bundle: Bundle, current: str | None) -> str:
    """`<newest source date>.<n>`: n is 1, or one more than `current`'s when it has the same date."""
    day = snapshot_date(bundle)
    parsed = parse_intel_version(current) if current else None
    serial = parsed[1] + 1 if parsed and parsed[0] == day else 1
    return f"{day}.{serial}"


def parse_intel_version(text: str) -> tuple[str, int] | None:
    """(date, serial) of `YYYY-MM-DD.N`, or None."""
    match = _VERSION.match(text or "")
    if not match:
        return None
    date.fromisoformat(match.group(1))
    return match.group(1), int(match.group(2))


def write_bundle(bundle: Bundle, version: str, origin: Mapping[str, str]) -> dict[str, bytes]:
    """File name -> bytes of the bundle and its manifest (version, sources, dates, licences, digests)."""
    files = {name: encode(doc) for name, doc in bundle.documents().items()}
    snapshots = {"kev.json": bundle.kev["dateReleased"], "endoflife.json": bundle.endoflife["snapshot"],
                 "release-dates.json": bundle.releases["snapshot"]}
    manifest = {
        "intel_version": version,
        "files": {name: {**SOURCES[name], "fetched_from": origin.get(name, ""), "snapshot": snapshots[name],
                         "sha256": digest(body), "bytes": len(body)} for name, body in files.items()},
    }
    files[MANIFEST] = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    return files
