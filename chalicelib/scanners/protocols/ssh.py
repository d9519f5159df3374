"""SSH: the server's identification line and KEXINIT algorithm lists, judged against ssh_algorithms.json.

The probe sends its own identification, reads the server's first binary packet (KEXINIT, sent in
clear before any key exchange) and closes: no key exchange, no authentication attempt.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass
from fnmatch import fnmatchcase
from functools import cache
from pathlib import Path
from typing import Any

from chalicelib.scanners.base import Catalog, FindingSpec, ScanContext
from chalicelib.scanners.identify.model import Service
from chalicelib.scanners.protocols.wire import Wire, printable, run_probe
from chalicelib.scans.models import Finding, Severity, SignalKey

NAMES = frozenset({"ssh"})
PORTS = frozenset({22, 2222})
CLIENT_IDENT = b"SSH-2.0-PerimeterScanner_1.0\r\n"
MAX_PREAMBLE_LINES = 20  # lines a server may send before its identification (RFC 4253 4.2)
MAX_PACKET = 35000  # RFC 4253 6.1: implementations must accept packets up to 35000 bytes
MSG_KEXINIT = 20
RULES_FILE = Path(__file__).with_name("ssh_algorithms.json")
CATEGORIES = ("kex", "hostkey", "cipher", "mac")

CATALOG = Catalog(SignalKey.SCAN, {
    "ssh-weak-algorithms": FindingSpec(Severity.LOW, "SSH server offers weak algorithms",
                                       "Remove the named algorithms from the server's KexAlgorithms, "
                                       "HostKeyAlgorithms, Ciphers and MACs (OpenSSH: `ssh -Q` lists what the "
                                       "build supports); prefer curve25519, ed25519/rsa-sha2, AES-GCM/ChaCha20 "
                                       "and *-etm MACs.", "CWE-327"),
})
_IDENT = re.compile(r"^SSH-(\d+\.\d+)-(\S+)(?: (.*))?$")
_SOFTWARE = re.compile(r"^([A-Za-z][A-Za-z0-9]*?)[_-](\d[0-9A-Za-z.]*)")


@dataclass(frozen=True)
class KexInit:
    """The algorithm name-lists of a KEXINIT message (both directions merged)."""

    kex: tuple[str, ...]
    hostkey: tuple[str, ...]
    cipher: tuple[str, ...]
    mac: tuple[str, ...]
    compression: tuple[str, ...]


def parse_ident(line: bytes) -> tuple[str, str, str] | None:
    """(protocol version, software, comment) of an `SSH-2.0-OpenSSH_9.2p1 Debian-2` line, or None."""
    match = _IDENT.match(line.decode("utf-8", "replace").strip())
    return (match.group(1), match.group(2), match.group(3) or "") if match else None


def software_version(software: str) -> tuple[str | None, str | None]:
    """(product, version) from an identification's software part: `OpenSSH_9.2p1` -> (OpenSSH, 9.2p1)."""
    match = _SOFTWARE.match(software)
    return (match.group(1), match.group(2)) if match else (None, None)


def parse_kexinit(payload: bytes) -> KexInit:
    """The name-lists of a KEXINIT payload (message byte, 16-byte cookie, ten lists); raises ValueError."""
    if not payload or payload[0] != MSG_KEXINIT:
        raise ValueError("not a KEXINIT message")
    pos = 17
    lists: list[tuple[str, ...]] = []
    for _ in range(10):
        if pos + 4 > len(payload):
            raise ValueError("KEXINIT ends inside a name-list length")
        (length,) = struct.unpack(">I", payload[pos: pos + 4])
        raw = payload[pos + 4: pos + 4 + length]
        if len(raw) != length:
            raise ValueError("KEXINIT ends inside a name-list")
        lists.append(tuple(n for n in raw.decode("ascii", "replace").split(",") if n))
        pos += 4 + length
    both = [tuple(dict.fromkeys(lists[i] + lists[i + 1])) for i in (2, 4, 6)]  # client-to-server, server-to-client
    return KexInit(kex=lists[0], hostkey=lists[1], cipher=both[0], mac=both[1], compression=both[2])


def unpack_packet(header: bytes, rest: bytes) -> bytes:
    """The payload of a binary packet (4-byte length, padding length, payload, padding; no MAC yet)."""
    (length,) = struct.unpack(">I", header[:4])
    padding = header[4]
    if padding + 1 > length:
        raise ValueError("padding longer than the packet")
    return (header[5:] + rest)[: length - padding - 1]


@cache
def rules() -> dict[str, Any]:
    """The weak-algorithm rules, loaded once from ssh_algorithms.json."""
    data: dict[str, Any] = json.loads(RULES_FILE.read_text(encoding="utf-8"))
    return data


def _match(name: str, table: dict[str, str]) -> str | None:
    if name in table:
        return table[name]
    return next((reason for pattern, reason in table.items() if fnmatchcase(name, pattern)), None)


def weak_algorithms(kexinit: KexInit) -> dict[str, dict[str, str]]:
    """{category: {algorithm: reason}} for every weak algorithm offered; categories with none left out."""
    table = rules()
    weak: dict[str, dict[str, str]] = {}
    for category in CATEGORIES:
        offered: tuple[str, ...] = getattr(kexinit, category)
        found = {name: reason for name in offered if (reason := _match(name, table[category])) is not None}
        if category == "hostkey" and not any(_match(n, dict.fromkeys(table["hostkey_strong"], "")) is not None
                                             for n in offered):
            found.update({name: reason for name in offered
                          if (reason := _match(name, table["hostkey_weak_when_alone"])) is not None})
        if found:
            weak[category] = found
    return weak


def read_server_hello(wire: Wire) -> tuple[bytes, KexInit]:
    """Send our identification; read the server's identification line and its KEXINIT.

    Raises WireError, ValueError (not SSH-2, or a malformed packet).
    """
    wire.send(CLIENT_IDENT)
    for _ in range(MAX_PREAMBLE_LINES):
        line = wire.readline(255)
        if line.startswith(b"SSH-"):
            break
    else:
        raise ValueError("no SSH identification line")
    ident = parse_ident(line)
    if ident is None or ident[0] not in ("2.0", "1.99"):
        raise ValueError(f"not an SSH-2 server: {printable(line)!r}")
    header = wire.read_exact(5)
    (length,) = struct.unpack(">I", header[:4])
    if not 12 <= length <= MAX_PACKET:
        raise ValueError(f"a {length}-byte first packet is not a KEXINIT")
    payload = unpack_packet(header, wire.read_exact(length - 1))
    return line, parse_kexinit(payload)


def server_hello(address: str, port: int, ctx: ScanContext) -> tuple[bytes, KexInit]:
    """The server's identification line and KEXINIT; raises OSError, WireError, ValueError."""
    with Wire.connect(address, port, ctx) as wire:
        return read_server_hello(wire)


def check_ssh(service: Service, ctx: ScanContext) -> list[Finding]:
    """`ssh-weak-algorithms` naming every weak algorithm the SSH server offers; [] otherwise or for other services."""
    ran = run_probe(service, ctx, NAMES, PORTS, "SSH", server_hello)
    if ran is None:
        return []
    address, (line, kexinit) = ran
    weak = weak_algorithms(kexinit)
    if not weak:
        return []
    ident = parse_ident(line)
    product, version = software_version(ident[1]) if ident else (None, None)
    names = sorted({name for found in weak.values() for name in found})
    evidence = {"address": address, "port": service.port, "banner": printable(line), "weak": weak,
                "offered": {c: list(getattr(kexinit, c)) for c in CATEGORIES}}
    return [CATALOG.make("ssh-weak-algorithms", key=f"{address}:{service.port}",
                         detail=f"{address}:{service.port} offers {', '.join(names)}.", evidence=evidence,
                         product=service.product or product, version=service.version or version, cpe=service.cpe)]
