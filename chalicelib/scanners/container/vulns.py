"""Match components against OSV records: range events per ecosystem's version rules, severity, CVE, fix.

OSV semantics: a version is affected by a range when, walking the events in version order, the last
`introduced` at or below it is not followed by a `fixed` at or below it or a `last_affected` below
it; a `limit` caps the range (versions at or above every limit are not affected). `versions` lists
count too. Version ordering is univers's per ecosystem (Debian epochs and revisions, Alpine `-rN`,
PEP 440, semver for npm, Go, Maven, rpm). Severity: the highest CVSS v3/v4 base score of the record,
else its `database_specific.severity`, else medium.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cvss import CVSS3, CVSS4
from univers.versions import (
    AlpineLinuxVersion,
    DebianVersion,
    GolangVersion,
    MavenVersion,
    PypiVersion,
    RpmVersion,
    SemverVersion,
    Version,
)

from chalicelib.scanners.container.inventory import Component

log = logging.getLogger(__name__)

_CLASSES: dict[str, type[Version]] = {
    "Debian": DebianVersion, "Ubuntu": DebianVersion, "Alpine": AlpineLinuxVersion, "PyPI": PypiVersion,
    "npm": SemverVersion, "Go": GolangVersion, "Maven": MavenVersion, "Rocky Linux": RpmVersion,
    "AlmaLinux": RpmVersion, "Red Hat": RpmVersion,
}
_DB_SEVERITY = {"critical": "critical", "high": "high", "important": "high", "moderate": "medium",
                "medium": "medium", "low": "low", "negligible": "low", "unimportant": "low"}
ZERO = "0"


class VersionUnparsable(ValueError):
    """A version the ecosystem's rules cannot read."""


def version_class(ecosystem: str) -> type[Version] | None:
    """The univers version class of an OSV ecosystem (`Debian:12` -> DebianVersion), or None."""
    return _CLASSES.get(ecosystem.split(":", 1)[0])


@dataclass(frozen=True)
class Match:
    """One (component, vulnerability) pair."""

    component: Component
    osv_id: str
    cve: str | None
    aliases: tuple[str, ...]
    summary: str
    severity: str
    cvss_score: float | None
    cvss_vector: str | None
    fixed: str | None


def _parse(cls: type[Version], text: str) -> Version:
    try:
        return cls(text.removeprefix("v") if cls is GolangVersion or cls is SemverVersion else text)
    except Exception as exc:  # univers raises InvalidVersion, ValueError or TypeError
        raise VersionUnparsable(f"{text!r}: {exc}") from None


def _event_version(cls: type[Version], value: str) -> Version | None:
    return None if value == ZERO else _parse(cls, value)


def affected_by_range(version: Version, events: Sequence[Mapping[str, str]],
                      cls: type[Version]) -> tuple[bool, str | None]:
    """(affected, the fixed version that ends the range it is in) for one OSV range; raises VersionUnparsable."""
    parsed: list[tuple[Version | None, str, str]] = []
    for event in events:
        (kind, value), = event.items()
        parsed.append((_event_version(cls, value), kind, value))
    limits = [v for v, kind, _ in parsed if kind == "limit" and v is not None]
    if limits and not any(version < limit for limit in limits):
        return False, None
    order = {"introduced": 0, "last_affected": 1, "fixed": 2, "limit": 3}
    ordered = sorted((p for p in parsed if p[1] != "limit"),
                     key=lambda p: (p[0] is not None, p[0] if p[0] is not None else 0, order[p[1]]))
    affected = False
    for at, kind, _ in ordered:
        # Only `<` is used: univers's AlpineLinuxVersion answers `>=` wrongly (3.1.10-r0 >= 3.1.4-r5 is False).
        if kind == "introduced" and (at is None or not version < at):
            affected = True
        elif at is not None and ((kind == "fixed" and not version < at) or (kind == "last_affected" and at < version)):
            affected = False
    if not affected:
        return False, None
    fixes = sorted(v for v, kind, _ in parsed if kind == "fixed" and v is not None and version < v)
    fixed_text = next((text for v, kind, text in parsed if kind == "fixed" and fixes and v == fixes[0]), None)
    return True, fixed_text


def affected(component: Component, item: Mapping[str, Any], cls: type[Version]) -> tuple[bool, str | None]:
    """Whether one `affected[]` entry covers the component's version, and the fix; raises VersionUnparsable."""
    installed = _parse(cls, component.match_version)
    fixes: list[str] = []
    hit = component.match_version in (item.get("versions") or [])
    for block in item.get("ranges") or []:
        range_cls = SemverVersion if block.get("type") == "SEMVER" else cls
        version = installed if range_cls is cls else _parse(range_cls, component.match_version)
        inside, fixed = affected_by_range(version, block.get("events") or [], range_cls)
        if inside:
            hit = True
            if fixed:
                fixes.append(fixed)
    return hit, (fixes[0] if fixes else None)


def severity_of(record: Mapping[str, Any],
                item: Mapping[str, Any] | None = None) -> tuple[str, float | None, str | None]:
    """(severity, CVSS base score, vector): the highest CVSS v3/v4 score, else the database's word, else medium."""
    best: tuple[float, str] | None = None
    for entry in record.get("severity") or []:
        vector, kind = str(entry.get("score", "")), str(entry.get("type", ""))
        try:
            score = float(CVSS4(vector).base_score) if kind == "CVSS_V4" else (
                float(CVSS3(vector).base_score) if kind == "CVSS_V3" else None)
        except Exception:  # a malformed vector is ignored, the next source decides
            score = None
        if score is not None and (best is None or score > best[0]):
            best = (score, vector)
    if best is not None:
        score = best[0]
        word = "critical" if score >= 9.0 else "high" if score >= 7.0 else "medium" if score >= 4.0 else "low"
        return word, score, best[1]
    for source in ((item or {}).get("ecosystem_specific"), (item or {}).get("database_specific"),
                   record.get("database_specific")):
        named = _DB_SEVERITY.get(str((source or {}).get("severity", "")).lower())
        if named:
            return named, None, None
    return "medium", None, None


def cve_of(record: Mapping[str, Any]) -> str | None:
    """The CVE id of a record: its own id when a CVE, else the first CVE alias."""
    ids = [str(record.get("id", "")), *[str(a) for a in record.get("aliases") or []]]
    return next((i for i in ids if i.startswith("CVE-")), None)


Lookup = Callable[[str, str], list[dict[str, Any]]]
"""`records(ecosystem, name)`: OsvData.records."""


def match_components(components: Iterable[Component], lookup: Lookup) -> tuple[list[Match], list[str]]:
    """Every (component, record) match, one per pair, and notes on versions that could not be compared."""
    matches: list[Match] = []
    notes: list[str] = []
    for component in components:
        if component.ecosystem is None:
            continue
        cls = version_class(component.ecosystem)
        if cls is None:
            continue
        for record in lookup(component.ecosystem, component.match_name):
            hit, fixed, item = False, None, None
            for candidate in record.get("affected") or []:
                package = candidate.get("package") or {}
                if package.get("ecosystem") != component.ecosystem or package.get("name") != component.match_name:
                    continue
                try:
                    inside, fix = affected(component, candidate, cls)
                except VersionUnparsable as exc:
                    notes.append(f"{record.get('id')} / {component.name}: version not comparable ({exc})")
                    continue
                if inside:
                    hit, fixed, item = True, fixed or fix, candidate
            if hit:
                severity, score, vector = severity_of(record, item)
                matches.append(Match(component=component, osv_id=str(record["id"]), cve=cve_of(record),
                                     aliases=tuple(record.get("aliases") or ()), summary=str(record.get("summary", "")),
                                     severity=severity, cvss_score=score, cvss_vector=vector, fixed=fixed))
    return matches, notes
