"""memcached: does the text protocol answer `version` without SASL? Sends `version` and `quit` only."""

from __future__ import annotations

import re

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.identify.model import Service
from chalicelib.scanners.protocols.datastore import unauthenticated
from chalicelib.scanners.protocols.wire import Wire, printable, run_probe
from chalicelib.scans.models import Finding

NAMES = frozenset({"memcache", "memcached"})
PORTS = frozenset({11211})
_VERSION = re.compile(r"^VERSION ([0-9A-Za-z.+_-]{1,40})$")


def parse_version(line: bytes) -> str | None:
    """The version of a `VERSION 1.6.21` reply; None for anything else (ERROR, CLIENT_ERROR unauthenticated)."""
    match = _VERSION.match(line.decode("ascii", "replace").strip())
    return match.group(1) if match else None


def memcached_version(address: str, port: int, ctx: ScanContext) -> tuple[str | None, str]:
    """(version or None, the raw reply for evidence). Raises OSError, WireError."""
    with Wire.connect(address, port, ctx) as wire:
        wire.send(b"version\r\n")
        line = wire.readline(256)
        wire.send(b"quit\r\n")
    return parse_version(line), printable(line, 120)


def check_memcached(service: Service, ctx: ScanContext) -> list[Finding]:
    """`datastore-unauthenticated` when memcached answers `version` unauthenticated; [] otherwise."""
    ran = run_probe(service, ctx, NAMES, PORTS, "memcached", memcached_version)
    if ran is None or ran[1][0] is None:
        return []
    address, (version, reply) = ran
    return [unauthenticated(service, address, "memcached", version, {"reply": reply},
                            f"memcached {version} on {address}:{service.port} answered without authentication.")]
