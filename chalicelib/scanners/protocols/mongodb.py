"""MongoDB: does the server run a command that needs authentication? Never lists databases or collections.

One connection: `hello` (or `isMaster`) to see it is MongoDB, `buildInfo` for the version, then
`getParameter featureCompatibilityVersion`, which needs authentication on a protected server and
returns one server setting (no data) on an open one. OP_MSG first; servers before 3.6 get OP_QUERY.
"""

from __future__ import annotations

import itertools
import logging
import struct
from typing import Any

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.identify.model import Service
from chalicelib.scanners.protocols import bson
from chalicelib.scanners.protocols.datastore import unauthenticated
from chalicelib.scanners.protocols.wire import Wire, WireError, printable, run_probe
from chalicelib.scans.models import Finding

log = logging.getLogger(__name__)

NAMES = frozenset({"mongodb", "mongod", "mongos"})
PORTS = frozenset({27017, 27018, 27019})
OP_REPLY, OP_QUERY, OP_MSG = 1, 2004, 2013
MAX_MESSAGE = 65536
UNAUTHORIZED_CODES = frozenset({13, 18})  # Unauthorized, AuthenticationFailed
AUTH_PROBE: dict[str, Any] = {"getParameter": 1, "featureCompatibilityVersion": 1}
_HEADER = struct.Struct("<iiii")
_ids = itertools.count(1)


def op_msg(command: dict[str, Any], request_id: int) -> bytes:
    """An OP_MSG carrying `command` (with `$db: admin`) in one body section."""
    body = struct.pack("<I", 0) + b"\x00" + bson.encode({**command, "$db": "admin"})
    return _HEADER.pack(_HEADER.size + len(body), request_id, 0, OP_MSG) + body


def op_query(command: dict[str, Any], request_id: int) -> bytes:
    """A legacy OP_QUERY of `command` against `admin.$cmd` (servers before 3.6)."""
    body = struct.pack("<i", 0) + b"admin.$cmd\x00" + struct.pack("<ii", 0, -1) + bson.encode(command)
    return _HEADER.pack(_HEADER.size + len(body), request_id, 0, OP_QUERY) + body


def parse_reply(opcode: int, body: bytes) -> dict[str, Any]:
    """The reply document of an OP_MSG (body section) or OP_REPLY body; raises bson.BsonError."""
    if opcode == OP_MSG:
        if len(body) < 10 or body[4] != 0:
            raise bson.BsonError("OP_MSG reply without a body section first")
        (length,) = struct.unpack("<i", body[5:9])
        return bson.decode(body[5: 5 + length])
    if opcode == OP_REPLY:
        if len(body) < 25:
            raise bson.BsonError("OP_REPLY too short")
        (returned,) = struct.unpack("<i", body[16:20])
        if returned < 1:
            raise bson.BsonError("OP_REPLY with no document")
        (length,) = struct.unpack("<i", body[20:24])
        return bson.decode(body[20: 20 + length])
    raise bson.BsonError(f"unexpected reply opcode {opcode}")


def exchange(wire: Wire, command: dict[str, Any], legacy: bool) -> dict[str, Any]:
    """Send one command, read its reply document. Raises WireError, bson.BsonError."""
    request_id = next(_ids) & 0x7FFFFFFF
    wire.send(op_query(command, request_id) if legacy else op_msg(command, request_id))
    length, _, response_to, opcode = _HEADER.unpack(wire.read_exact(_HEADER.size))
    if not _HEADER.size < length <= MAX_MESSAGE:
        raise bson.BsonError(f"a {length}-byte reply is not one this probe reads")
    body = wire.read_exact(length - _HEADER.size)
    if response_to != request_id:
        raise bson.BsonError("the reply answers another request")
    return parse_reply(opcode, body)


def auth_state(reply: dict[str, Any]) -> str:
    """`open` (the command ran), `protected` (authentication required) or `unknown` for the AUTH_PROBE reply."""
    if reply.get("ok") in (1, 1.0, True):
        return "open"
    message = str(reply.get("errmsg", "")).lower()
    if reply.get("code") in UNAUTHORIZED_CODES or reply.get("codeName") == "Unauthorized" \
            or "requires authentication" in message or "not authorized" in message:
        return "protected"
    return "unknown"


def session(address: str, port: int, ctx: ScanContext, legacy: bool) -> dict[str, Any]:
    """hello, buildInfo, AUTH_PROBE on one connection; the evidence. Raises OSError, WireError, BsonError."""
    with Wire.connect(address, port, ctx) as wire:
        hello = exchange(wire, {"hello": 1}, legacy)
        if hello.get("ok") not in (1, 1.0, True):
            hello = exchange(wire, {"isMaster": 1}, legacy)
        if not isinstance(hello.get("maxWireVersion"), int):
            raise bson.BsonError("no maxWireVersion in the hello reply: not MongoDB")
        build = exchange(wire, {"buildInfo": 1}, legacy)
        probe = exchange(wire, AUTH_PROBE, legacy)
    version = build.get("version") if isinstance(build.get("version"), str) else None
    return {"version": printable(version, 40) if version else None, "max_wire_version": hello["maxWireVersion"],
            "protocol": "OP_QUERY" if legacy else "OP_MSG", "auth_probe": "getParameter featureCompatibilityVersion",
            "auth_state": auth_state(probe), "auth_reply": printable(str(probe.get("codeName") or probe.get("ok")), 60)}


def probe_mongodb(address: str, port: int, ctx: ScanContext) -> dict[str, Any]:
    """`session` over OP_MSG, retried once over OP_QUERY when the server drops OP_MSG. Raises like session."""
    try:
        return session(address, port, ctx, legacy=False)
    except WireError as exc:
        log.info("MongoDB OP_MSG probe of %s:%s ended (%s); trying OP_QUERY", address, port, exc)
        return session(address, port, ctx, legacy=True)


def check_mongodb(service: Service, ctx: ScanContext) -> list[Finding]:
    """`datastore-unauthenticated` when MongoDB runs a command needing authentication without it; [] otherwise."""
    ran = run_probe(service, ctx, NAMES, PORTS, "MongoDB", probe_mongodb)
    if ran is None or ran[1]["auth_state"] != "open":
        return []
    address, evidence = ran
    version = evidence["version"]
    named = f"MongoDB {version}" if version else "MongoDB"
    return [unauthenticated(service, address, "MongoDB", version, evidence,
                            f"{named} on {address}:{service.port} ran a command that needs authentication "
                            "without any; nothing was listed or read.")]
