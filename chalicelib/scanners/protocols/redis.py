"""Redis: does `INFO server` answer without AUTH? Sends that one command, reads the server section only."""

from __future__ import annotations

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.identify.model import Service
from chalicelib.scanners.protocols.datastore import unauthenticated
from chalicelib.scanners.protocols.wire import Wire, printable, run_probe
from chalicelib.scans.models import Finding

NAMES = frozenset({"redis"})
PORTS = frozenset({6379})
INFO_SERVER = b"*2\r\n$4\r\nINFO\r\n$6\r\nserver\r\n"
MAX_BULK = 65536
# Fields of the server section kept as evidence (no paths, no run ids).
KEPT_FIELDS = ("redis_version", "redis_mode", "os", "arch_bits", "uptime_in_days")
# Error prefixes meaning the server wants a password, or refuses this client.
PROTECTED = ("-NOAUTH", "-NOPERM", "-WRONGPASS", "-DENIED")


def read_reply(wire: Wire) -> tuple[str, bytes]:
    """One RESP reply as (kind, payload): `+`/`-`/`:` with the line, `$` with the bulk body.

    Raises WireError, ValueError for a reply this probe does not expect (arrays, oversize bulk).
    """
    line = wire.readline()
    if not line:
        raise ValueError("empty reply")
    kind, rest = chr(line[0]), line[1:]
    if kind in "+-:":
        return kind, rest
    if kind == "$":
        length = int(rest)
        if length < 0:
            return kind, b""
        if length > MAX_BULK:
            raise ValueError(f"a {length}-byte reply is more than INFO server sends")
        body = wire.read_exact(length + 2)
        return kind, body[:-2]
    raise ValueError(f"unexpected RESP reply type {kind!r}")


def parse_info(body: bytes) -> dict[str, str]:
    """`key:value` lines of an INFO reply (section headers and blank lines skipped)."""
    fields: dict[str, str] = {}
    for raw in body.decode("utf-8", "replace").splitlines():
        key, sep, value = raw.partition(":")
        if sep and not key.startswith("#"):
            fields[key.strip()] = value.strip()
    return fields


def is_protected(error: bytes) -> bool:
    """True when a RESP error line says authentication is needed (or the client is refused)."""
    text = ("-" + error.decode("utf-8", "replace")).upper()
    return text.startswith(PROTECTED) or "AUTH" in text


def info_server(address: str, port: int, ctx: ScanContext) -> dict[str, str] | None:
    """The kept INFO server fields when Redis answers without AUTH, None when it is protected.

    Raises OSError, WireError, ValueError (not Redis, or an unexpected reply).
    """
    with Wire.connect(address, port, ctx) as wire:
        wire.send(INFO_SERVER)
        kind, payload = read_reply(wire)
        wire.send(b"*1\r\n$4\r\nQUIT\r\n")
    if kind == "-":
        if is_protected(payload):
            return None
        raise ValueError(f"Redis error: {printable(payload)}")
    if kind != "$":
        raise ValueError("INFO did not answer with a bulk string")
    fields = parse_info(payload)
    if "redis_version" not in fields:
        raise ValueError("INFO answered without redis_version: not Redis")
    return {key: printable(fields[key], 80) for key in KEPT_FIELDS if key in fields}


def check_redis(service: Service, ctx: ScanContext) -> list[Finding]:
    """`datastore-unauthenticated` when Redis answers INFO without AUTH; [] otherwise or for other services."""
    ran = run_probe(service, ctx, NAMES, PORTS, "Redis", info_server)
    if ran is None:
        return []
    address, info = ran
    version = info.get("redis_version")
    return [unauthenticated(service, address, "Redis", version, {"info_server": info},
                            f"Redis {version} on {address}:{service.port} answered INFO without a password.")]
