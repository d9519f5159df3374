"""Probing one open port the way nmap's version scan does, under a deadline.

The NULL probe first (connect and read the greeting), then the probes listed for the port in rarity
order (once the port has answered like an HTTP server, only those that are text requests), each on a
fresh connection, each read stopping at the first hard match, at EOF, at the per-read wait or at the
deadline; once a probe's answer has begun, also after `idle` seconds without a further byte (a server
that answered and holds the connection has said what it will say). A port that answers with TLS (a
handshake record or alert, a `ssl` match, or a port nmap lists as TLS) is probed again inside TLS,
certificate not checked. The caller has checked the address against the target guard; this module
connects nowhere else.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import ssl
import time
from dataclasses import dataclass

from chalicelib.scanners.identify.probes import Identity, Probe, ProbeSet

MAX_READ = 16384
_TLS_RECORD = (b"\x15\x03", b"\x16\x03")
_HTTP_ANSWER = b"HTTP/1."
# GET /, OPTIONS / RTSP/1.0, OPTIONS sip:...: requests an HTTP server parses (and answers) at once
_TEXT_REQUEST = re.compile(rb"[A-Z]{3,10} ")


@dataclass(frozen=True)
class Plan:
    """How hard to try: the per-read wait, how many probes after NULL, the rarity ceiling, the deadline, and
    the silence that ends the read of an answer to a probe with a payload (None: read until the wait ends)."""

    wait: float
    connect_timeout: float
    max_probes: int
    max_rarity: int
    deadline: float
    idle: float | None = None


@dataclass
class PortResult:
    """What probing found: the best identity, the first bytes the port sent, the probe that named it."""

    identity: Identity | None = None
    banner: bytes = b""
    probe: str | None = None
    tls: bool = False
    refused: bool = False


def tls_context() -> ssl.SSLContext:
    """A client context without certificate checks, old protocols allowed: identification only."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with contextlib.suppress(ValueError, ssl.SSLError):
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.set_ciphers("DEFAULT:@SECLEVEL=0")
    return context


async def exchange(address: str, port: int, probe: Probe, probes: ProbeSet, plan: Plan, *,
                   tls: ssl.SSLContext | None = None, server_name: str | None = None,
                   wait: float | None = None) -> tuple[bytes, Identity | None] | None:
    """Send one probe on a fresh connection and read its answer; None when the connection failed.

    Reads at most MAX_READ bytes, until a hard match, EOF, `wait` (default plan.wait, capped by the
    probe's totalwaitms) or the deadline, whichever comes first; for a probe with a payload also after
    plan.idle seconds without a byte once the answer has begun (the NULL probe's greeting is never cut).
    """
    remaining = plan.deadline - time.monotonic()
    if remaining <= 0:
        return None
    try:
        async with asyncio.timeout(min(remaining, plan.connect_timeout + (2 * plan.wait if tls else 0))):
            reader, writer = await asyncio.open_connection(
                address, port, ssl=tls, server_hostname=(server_name or address) if tls else None)
    except (OSError, TimeoutError, ssl.SSLError, ValueError):
        return None
    end = min(plan.deadline, time.monotonic() + min(plan.wait if wait is None else wait, probe.totalwaitms / 1000))
    data, found = b"", None
    try:
        if probe.payload:
            writer.write(probe.payload)
            await writer.drain()
        data, found = await _read(reader, probe, probes, end, plan.idle if probe.payload else None)
    except (OSError, ssl.SSLError):
        pass
    finally:
        writer.transport.abort()
    return data, found


async def _read(reader: asyncio.StreamReader, probe: Probe, probes: ProbeSet, end: float,
                idle: float | None = None) -> tuple[bytes, Identity | None]:
    """Read until a hard match, EOF, MAX_READ bytes, `end`, or (with `idle`, once data arrived) `idle` seconds
    without a byte; match what arrived. Raises OSError, SSLError."""
    data, found = b"", None
    while len(data) < MAX_READ:
        left = end - time.monotonic()
        if left <= 0:
            break
        if data and idle is not None:
            left = min(left, idle)
        try:
            chunk = await asyncio.wait_for(reader.read(MAX_READ - len(data)), left)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
        found = probes.identify(probe, data)
        if found is not None and not found.soft:
            return data, found
    return data, found


def _wants_tls(data: bytes, found: Identity | None) -> bool:
    return data.startswith(_TLS_RECORD) or (found is not None and found.service in ("ssl", "tls"))


async def _run(address: str, port: int, probes: ProbeSet, plan: Plan, result: PortResult,
               tls: ssl.SSLContext | None, server_name: str | None) -> bool:
    """Probe in one mode (plain or TLS); True when the port asked for TLS. Fills `result`."""
    sequence = [p for p in (probes.null,) if p is not None]
    sequence += probes.candidates(port, tls=tls is not None, max_rarity=plan.max_rarity, limit=plan.max_probes)
    speaks_http = False
    for probe in sequence:
        if speaks_http and not _TEXT_REQUEST.match(probe.payload):
            continue  # an HTTP server waits silently for the end of a binary probe's "request line"
        answer = await exchange(address, port, probe, probes, plan, tls=tls, server_name=server_name,
                                wait=plan.wait / 2 if tls is not None and probe is probes.null else None)
        if answer is None:
            if probe is sequence[0] and tls is None:
                result.refused = True  # not even the first connection: stop
            return False
        data, found = answer
        speaks_http = speaks_http or data.startswith(_HTTP_ANSWER)
        if data and not result.banner and not data.startswith(_TLS_RECORD):
            result.banner = data
        if tls is None and _wants_tls(data, found):
            return True
        if found is not None and result.identity is not None and found.service != result.identity.service:
            continue  # after a softmatch only that service may be confirmed, as nmap does
        if found is not None and (not found.soft or result.identity is None):
            result.identity, result.probe = found, probe.name
            if not found.soft:
                result.banner = data
                return False
    return False


async def identify_port(address: str, port: int, probes: ProbeSet, plan: Plan,
                        server_name: str | None = None) -> PortResult:
    """Everything the probes say about (address, port) within the plan; never raises for network errors."""
    result = PortResult()
    wants_tls = await _run(address, port, probes, plan, result, None, server_name)
    listed_tls = any(p.listed(port, True) for p in probes.probes)
    if not result.refused and (wants_tls or (result.identity is None and listed_tls)):
        tls_result = PortResult()
        await _run(address, port, probes, plan, tls_result, tls_context(), server_name)
        if tls_result.identity is not None or tls_result.banner:
            tls_result.tls = True
            return tls_result
        if wants_tls:
            result.tls = True
    return result
