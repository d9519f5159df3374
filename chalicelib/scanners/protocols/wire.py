"""What every protocol probe shares: which services a probe handles, the guarded connect, bounded reads.

A probe opens at most one TCP connection per exchange, to an address the target guard allows, and
reads through a `Wire`: every read is bounded in bytes and by one deadline for the whole exchange.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import time
from collections.abc import Callable, Collection
from typing import TypeVar

from chalicelib.net.guard import parse_ip
from chalicelib.scanners.base import ScanContext, address_allowed
from chalicelib.scanners.identify.model import Service

log = logging.getLogger(__name__)
T = TypeVar("T")

# Names identification gives a port it could not name (nmap's, and ours for a port-number guess).
UNNAMED = frozenset({"", "unknown", "tcpwrapped"})
# Services whose identification is never a misreading (an HTTP status line, an SSH banner): another
# protocol is not tried on them even on its own port.
UNAMBIGUOUS = frozenset({"http", "https", "ssl/http", "ssh"})
MAX_LINE = 4096  # longest protocol line read
EXCHANGE_SECONDS_FACTOR = 3  # an exchange may take this many connect timeouts in all


class WireError(Exception):
    """The peer closed, timed out, or sent more than the probe reads."""


def handles(service: Service, names: Collection[str], ports: Collection[int]) -> bool:
    """True when `service` is named one of `names`, or sits on one of the protocol's own `ports`.

    On its own port the protocol is tried unless the service is plainly HTTP or SSH: a probe-file
    match can misname a server whose reply arrived in pieces (memcached's two `ERROR` lines read as
    "AChat"), and one harmless server-information command costs less than an open data store unseen.
    """
    name = service.name.lower()
    return name in names or (service.port in ports and name not in UNAMBIGUOUS)


def run_probe(service: Service, ctx: ScanContext, names: Collection[str], ports: Collection[int], what: str,
              probe: Callable[[str, int, ScanContext], T | None]) -> tuple[str, T] | None:
    """`probe(address, port, ctx)` on a service the protocol handles (`handles`) at an address the guard allows.

    Returns (address, what the probe found), or None when the service is not this protocol's, the guard
    refuses it, the probe found nothing, or the exchange failed (OSError, WireError, ValueError: logged).
    """
    if not handles(service, names, ports):
        return None
    address = guarded_address(service, ctx)
    if address is None:
        return None
    try:
        found = probe(address, service.port, ctx)
    except (OSError, WireError, ValueError) as exc:
        log.info("%s probe of %s:%s ended: %s", what, address, service.port, exc)
        return None
    return None if found is None else (address, found)


def guarded_address(service: Service, ctx: ScanContext) -> str | None:
    """The service's address when the target guard allows a connection to it on its port, else None."""
    address = parse_ip(service.address)
    if address is None or not address_allowed(address, ctx, service.port):
        return None
    return str(address)


class Wire:
    """One TCP connection with a deadline over the whole exchange and bounded reads."""

    def __init__(self, sock: socket.socket, deadline: float) -> None:
        self.sock = sock
        self.deadline = deadline
        self._buffer = b""

    @classmethod
    def connect(cls, address: str, port: int, ctx: ScanContext, budget: float | None = None) -> Wire:
        """Connect within ctx.connect_timeout; the exchange may then last `budget` seconds in all
        (default EXCHANGE_SECONDS_FACTOR connect timeouts).

        The caller has checked the address with the target guard. Raises OSError.
        """
        sock = socket.create_connection((address, port), timeout=ctx.connect_timeout)
        return cls(sock, time.monotonic() + (budget or ctx.connect_timeout * EXCHANGE_SECONDS_FACTOR))

    def __enter__(self) -> Wire:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the socket (errors ignored)."""
        with contextlib.suppress(OSError):
            self.sock.close()

    def _fill(self) -> None:
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise WireError("the exchange took too long")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(4096)
        except OSError as exc:  # includes TimeoutError and ssl.SSLError
            raise WireError(f"read failed: {exc}") from None
        if not chunk:
            raise WireError("the peer closed the connection")
        self._buffer += chunk

    def send(self, data: bytes) -> None:
        """Send all of `data` before the deadline; raises WireError."""
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            raise WireError("the exchange took too long")
        self.sock.settimeout(remaining)
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise WireError(f"write failed: {exc}") from None

    def readline(self, limit: int = MAX_LINE) -> bytes:
        """One line without its CR LF, at most `limit` bytes; raises WireError."""
        while b"\n" not in self._buffer:
            if len(self._buffer) > limit:
                raise WireError(f"a line longer than {limit} bytes")
            self._fill()
        line, _, self._buffer = self._buffer.partition(b"\n")
        if len(line) > limit:
            raise WireError(f"a line longer than {limit} bytes")
        return line.rstrip(b"\r")

    def read_exact(self, count: int) -> bytes:
        """Exactly `count` bytes; raises WireError."""
        while len(self._buffer) < count:
            self._fill()
        data, self._buffer = self._buffer[:count], self._buffer[count:]
        return data

    def pending(self) -> bytes:
        """Bytes read but not consumed (must be empty before a TLS upgrade)."""
        return self._buffer


def printable(raw: bytes | str, limit: int = 200) -> str:
    """`raw` as printable text for evidence: control characters replaced, cut to `limit` characters."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return "".join(ch if ch.isprintable() else "?" for ch in text)[:limit]
