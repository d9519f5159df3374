"""The loaded intel: products (CPE mapping), version-range rules, KEV entries, release cycles and dates.

`Intel.build(manifest, bundle, products, rules)` validates everything once; lookups after that are
dictionary reads. Raises BundleError for data the matcher could not use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chalicelib.scanners.intel.build import Bundle, BundleError, kev_matches
from chalicelib.scanners.intel.versions import Version, VersionError, parse_version

SEVERITIES = ("critical", "high", "medium", "low")


@dataclass(frozen=True)
class Range:
    """One affected range: first_affected <= v (None: every earlier version), v < first_fixed, v <= last_affected."""

    first_affected: Version | None
    last_affected: Version | None
    first_fixed: Version | None

    def contains(self, version: Version) -> bool:
        """True when `version` is inside the range."""
        if self.first_affected is not None and version < self.first_affected:
            return False
        if self.first_fixed is not None and not version < self.first_fixed:
            return False
        return self.last_affected is None or not self.last_affected < version

    def as_dict(self) -> dict[str, str | None]:
        """The range as written in rules.json."""
        return {"first_affected": _text(self.first_affected), "last_affected": _text(self.last_affected),
                "first_fixed": _text(self.first_fixed)}


def _text(version: Version | None) -> str | None:
    return version.text if version is not None else None


@dataclass(frozen=True)
class Rule:
    """One rules.json row."""

    id: str
    product: str  # products.json id
    cve: str
    title: str
    severity: str
    advisory: str
    kev: bool
    ransomware: bool
    ranges: tuple[Range, ...]
    note: str = ""

    def matching_range(self, version: Version) -> Range | None:
        """The first range containing `version`, or None."""
        return next((r for r in self.ranges if r.contains(version)), None)


@dataclass(frozen=True)
class Cycle:
    """One endoflife.date release cycle."""

    name: str
    version: Version | None  # the cycle name as a version prefix, when it is one
    eol: date | bool
    latest: str | None
    latest_date: str | None
    release_date: str | None


@dataclass(frozen=True)
class Product:
    """One products.json entry with its cycles, release dates and KEV family."""

    id: str
    name: str
    cpe: tuple[str, ...]
    eol: str | None
    cycles: tuple[Cycle, ...] = ()
    cycle_ranges: tuple[tuple[Version, Version, str], ...] = ()
    releases: Mapping[str, str] = field(default_factory=dict)
    kev_family: tuple[dict[str, Any], ...] = ()


@dataclass(frozen=True)
class Intel:
    """Everything intel_findings matches against, and the versions it was built from."""

    version: str
    rules_version: str
    products: Mapping[str, Product]
    by_cpe: Mapping[str, str]
    rules: Mapping[str, tuple[Rule, ...]]
    kev: Mapping[str, dict[str, Any]]
    manifest: Mapping[str, Any]

    @property
    def full_version(self) -> str:
        """What a scan records: the data bundle and the rules table, `2026-08-22.1+rules.2026-12-07.1`."""
        return f"{self.version}+rules.{self.rules_version}"

    def product_for(self, vendor_product: str | None) -> Product | None:
        """The mapped product of a CPE `vendor:product`, or None."""
        key = self.by_cpe.get((vendor_product or "").lower())
        return self.products.get(key) if key else None

    @classmethod
    def build(cls, manifest: Mapping[str, Any], bundle: Bundle, products: Mapping[str, Any],
              rules: Mapping[str, Any]) -> Intel:
        """Validate and index the documents; raises BundleError."""
        try:
            return _build(cls, manifest, bundle, products, rules)
        except (KeyError, TypeError, AttributeError, VersionError, re.error) as exc:
            raise BundleError(f"intel data invalid: {type(exc).__name__}: {exc}") from None


def _version(text: object) -> Version | None:
    return parse_version(str(text)) if text is not None else None


def _eol(value: object) -> date | bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    if value is None:
        return False
    raise BundleError(f"bad eol value {value!r}")


def _cycles(doc: Mapping[str, Any] | None) -> tuple[Cycle, ...]:
    if doc is None:
        return ()
    out = []
    for c in doc["releases"]:
        name = str(c["releaseCycle"])
        try:
            prefix: Version | None = parse_version(name)
        except VersionError:
            prefix = None
        out.append(Cycle(name, prefix, _eol(c.get("eol")), c.get("latest"), c.get("latestReleaseDate"),
                         c.get("releaseDate")))
    return tuple(out)


def _rule(row: Mapping[str, Any], product: str) -> Rule:
    ranges = tuple(Range(_version(r.get("first_affected")), _version(r.get("last_affected")),
                         _version(r.get("first_fixed"))) for r in row["ranges"])
    if not ranges or any(r.first_fixed is None and r.last_affected is None for r in ranges):
        raise BundleError(f"rule {row.get('id')}: every range needs first_fixed or last_affected")
    if row["severity"] not in SEVERITIES or not re.fullmatch(r"CVE-\d{4}-\d{4,7}", row["cve"]):
        raise BundleError(f"rule {row.get('id')}: bad severity or CVE")
    return Rule(id=row["id"], product=product, cve=row["cve"], title=row["title"], severity=row["severity"],
                advisory=row["advisory"], kev=bool(row["kev"]), ransomware=bool(row["ransomware"]),
                ranges=ranges, note=row.get("note", ""))


def _build(cls: type[Intel], manifest: Mapping[str, Any], bundle: Bundle, products: Mapping[str, Any],
           rules: Mapping[str, Any]) -> Intel:
    kev = {v["cveID"]: v for v in bundle.kev["vulnerabilities"]}
    eol_docs = bundle.endoflife["products"]
    release_docs = bundle.releases["products"]
    by_cpe: dict[str, str] = {}
    for entry in products["products"]:
        for cpe in entry["cpe"]:
            by_cpe[cpe.lower()] = entry["id"]
    by_product: dict[str, list[Rule]] = {}
    for row in rules["rules"]:
        key = by_cpe.get(row["product"].lower())
        if key is None:
            raise BundleError(f"rule {row.get('id')}: product {row['product']} is not in products.json")
        by_product.setdefault(key, []).append(_rule(row, key))
    mapped: dict[str, Product] = {}
    for entry in products["products"]:
        patterns = [(re.compile(p["vendor"], re.I), re.compile(p["product"], re.I)) for p in entry["kev"]]
        rule_cves = {r.cve for r in by_product.get(entry["id"], [])}
        family = tuple(sorted((v for v in kev.values() if v["cveID"] in rule_cves or kev_matches(v, patterns)),
                              key=lambda v: (str(v.get("dateAdded")), v["cveID"]), reverse=True))
        cycle_ranges = tuple((parse_version(c["from"]), parse_version(c["to"]), str(c["cycle"]))
                             for c in entry.get("cycles", []))
        mapped[entry["id"]] = Product(
            id=entry["id"], name=entry["name"], cpe=tuple(entry["cpe"]), eol=entry.get("eol"),
            cycles=_cycles(eol_docs.get(entry["eol"])) if entry.get("eol") else (), cycle_ranges=cycle_ranges,
            releases=release_docs.get(entry.get("releases") or "", {}), kev_family=family)
    return cls(version=str(manifest["intel_version"]), rules_version=str(rules["version"]), products=mapped,
               by_cpe=by_cpe, rules={k: tuple(v) for k, v in by_product.items()}, kev=kev, manifest=manifest)
