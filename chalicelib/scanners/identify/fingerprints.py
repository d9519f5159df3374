"""Where the probes come from: nmap's service-probes file when the system has it, else the built-in table.

`fingerprints.json` (next to this module, versioned) holds the built-in probes, in the same model
as nmap's file, for the products a posture scan must name (SSH, FTP, SMTP, HTTP, MySQL, PostgreSQL,
MSSQL, MongoDB, Redis, Elasticsearch, memcached, RDP, VNC, SMB, Telnet), and the web rules that
name software from HTTP headers and the page's generator.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from chalicelib.scanners.identify.probes import (
    Identity,
    MatchRule,
    Probe,
    ProbeFileError,
    ProbeSet,
    parse_ports,
    parse_probe_file,
    unescape,
)

NMAP_PROBES = "/usr/share/nmap/nmap-service-probes"
FINGERPRINTS = Path(__file__).with_name("fingerprints.json")
_FLAGS = {"s": re.DOTALL, "i": re.IGNORECASE}


@dataclass(frozen=True)
class WebRule:
    """Names software from one HTTP header (lower-case name) or `generator` (the page's meta generator)."""

    header: str
    rule: MatchRule

    def apply(self, value: str) -> Identity | None:
        """The Identity this rule gives a header value, or None."""
        return self.rule.match(value.encode("latin-1", "replace"))


def _rule(spec: dict[str, Any], service: str | None = None) -> MatchRule:
    flags = 0
    for letter in spec.get("flags", ""):
        flags |= _FLAGS[letter]
    templates: dict[str, str] = {k: str(spec[k]) for k in ("p", "v", "i") if k in spec}
    cpes = (str(spec["cpe"]),) if "cpe" in spec else ()
    return MatchRule(service or str(spec["service"]), str(spec["pattern"]), flags, templates, cpes,
                     bool(spec.get("soft", False)))


def _probe(spec: dict[str, Any]) -> Probe:
    return Probe(
        name=str(spec["name"]), payload=unescape(str(spec["payload"])), rarity=int(spec.get("rarity", 1)),
        ports=parse_ports(str(spec.get("ports", ""))), sslports=parse_ports(str(spec.get("sslports", ""))),
        totalwaitms=int(spec.get("totalwaitms", 5000)), matches=[_rule(m) for m in spec["matches"]],
    )


@lru_cache(maxsize=1)
def builtin_table() -> tuple[ProbeSet, tuple[WebRule, ...]]:
    """The built-in probes and web rules, loaded once; raises ProbeFileError/KeyError on a bad file."""
    data = json.loads(FINGERPRINTS.read_text(encoding="utf-8"))
    probes = ProbeSet([_probe(p) for p in data["probes"]], f"builtin:{data['version']}")
    web = tuple(WebRule(str(r["header"]), _rule(r, "http")) for r in data["web"])
    return probes, web


def web_rules() -> tuple[WebRule, ...]:
    """The web software rules of the built-in table."""
    return builtin_table()[1]


@lru_cache(maxsize=4)
def _nmap_probes(path: str, mtime: float) -> ProbeSet:
    text = Path(path).read_text(encoding="latin-1")
    return ProbeSet(parse_probe_file(text), f"nmap:{path}")


def load_probes(path: str | None = NMAP_PROBES) -> ProbeSet:
    """nmap's probes from `path` when it is a readable file (parsed once per mtime), else the built-in table.

    A file that cannot be parsed falls back to the built-in table too (never raises for it).
    """
    if path:
        try:
            return _nmap_probes(path, os.stat(path).st_mtime)
        except (OSError, ProbeFileError, ValueError):
            pass
    return builtin_table()[0]
