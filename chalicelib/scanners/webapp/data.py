"""The versioned data next to the code (js_libraries.json, signatures.json), loaded once and validated."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from chalicelib.scans.models import Severity

HERE = Path(__file__).parent


def version_key(version: str) -> tuple[int, ...]:
    """A dotted version as a comparable tuple (non-numeric parts count as 0); raises nothing."""
    return tuple(int(p) if p.isdigit() else 0 for p in re.split(r"[.+-]", version)[:4])


@dataclass(frozen=True)
class Vulnerability:
    """One CVE of a library: the versions it holds for, [introduced, fixed)."""

    cve: str
    introduced: str
    fixed: str
    severity: Severity
    summary: str

    def affects(self, version: str) -> bool:
        """True when `version` is inside [introduced, fixed)."""
        return version_key(self.introduced) <= version_key(version) < version_key(self.fixed)


@dataclass(frozen=True)
class Library:
    """A JavaScript library: how to read its version from a URL or a file, and its vulnerable ranges."""

    name: str
    file_patterns: tuple[re.Pattern[str], ...]
    content_patterns: tuple[re.Pattern[str], ...]
    vulnerabilities: tuple[Vulnerability, ...]

    def affecting(self, version: str) -> list[Vulnerability]:
        """The vulnerabilities whose range holds `version`."""
        return [v for v in self.vulnerabilities if v.affects(version)]


@dataclass(frozen=True)
class Signatures:
    """Compiled response signatures: SQL errors by database, stack traces, server paths, internal IPs."""

    version: str
    sql_errors: dict[str, tuple[re.Pattern[str], ...]]
    stack_traces: tuple[re.Pattern[str], ...]
    server_paths: tuple[re.Pattern[str], ...]
    internal_ips: re.Pattern[str]

    def sql_error(self, text: str) -> tuple[str, str] | None:
        """(database, matched text) of the first SQL error message in `text`, or None."""
        for database, patterns in self.sql_errors.items():
            for pattern in patterns:
                match = pattern.search(text)
                if match:
                    return database, match.group(0)
        return None


@lru_cache(maxsize=1)
def libraries() -> tuple[str, tuple[Library, ...]]:
    """(data version, libraries) from js_libraries.json; raises ValueError/KeyError/re.error when malformed."""
    raw = json.loads((HERE / "js_libraries.json").read_text())
    built = []
    for entry in raw["libraries"]:
        vulns = tuple(Vulnerability(v["cve"], v["introduced"], v["fixed"], Severity(v["severity"]), v["summary"])
                      for v in entry["vulnerabilities"])
        for vuln in vulns:
            if not re.fullmatch(r"CVE-\d{4}-\d{4,}", vuln.cve) or version_key(vuln.introduced) >= version_key(
                    vuln.fixed):
                raise ValueError(f"{entry['name']}: bad entry {vuln}")
        built.append(Library(entry["name"], tuple(re.compile(p, re.IGNORECASE) for p in entry["file_patterns"]),
                             tuple(re.compile(p) for p in entry["content_patterns"]), vulns))
    return str(raw["version"]), tuple(built)


@lru_cache(maxsize=1)
def signatures() -> Signatures:
    """The compiled signatures.json; raises KeyError/re.error when malformed."""
    raw = json.loads((HERE / "signatures.json").read_text())
    return Signatures(
        version=str(raw["version"]),
        sql_errors={db: tuple(re.compile(p) for p in patterns) for db, patterns in raw["sql_errors"].items()},
        stack_traces=tuple(re.compile(p) for p in raw["stack_traces"]),
        server_paths=tuple(re.compile(p) for p in raw["server_paths"]),
        internal_ips=re.compile(raw["internal_ips"]),
    )
