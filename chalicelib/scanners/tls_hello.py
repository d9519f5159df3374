"""A hand-built TLS 1.2 ClientHello offering chosen cipher suites, and a bounded read of the server's first flight.

Python's ssl (OpenSSL 3) can no longer offer RC4, 3DES, DES or export suites, so asking a server whether
it accepts them takes a raw ClientHello: the ServerHello names the suite the server chose, an alert says
it chose none. The same read returns the certificate list a TLS 1.0-1.2 server sends in the clear, the
only way to see the served chain on Python 3.11 (no `get_unverified_chain`). Nothing past the server's
first flight is read and no key exchange is completed. The caller guards the address.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct
from collections.abc import Sequence
from dataclasses import dataclass

RECORD_ALERT = 21
RECORD_HANDSHAKE = 22
HANDSHAKE_CLIENT_HELLO = 1
HANDSHAKE_SERVER_HELLO = 2
HANDSHAKE_CERTIFICATE = 11
HANDSHAKE_SERVER_HELLO_DONE = 14
MAX_RECORD = 16384 + 2048  # the largest record TLS allows (ciphertext bound)
MAX_FLIGHT_BYTES = 65536  # read at most this much of the server's first flight
MAX_RECORDS = 32
MAX_SUITES = 200

# Widely deployed TLS 1.2 suites (ECDHE/DHE/RSA with AES and ChaCha20): any TLS 1.0-1.2 server picks one,
# which is all the chain read needs.
COMMON_SUITES: tuple[int, ...] = (
    0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC009, 0xC013, 0xC00A, 0xC014, 0xC023, 0xC027, 0xC024,
    0xC028, 0x009E, 0x009F, 0xCCAA, 0x0033, 0x0039, 0x009C, 0x009D, 0x002F, 0x0035, 0x003C, 0x003D,
)
SUPPORTED_GROUPS = (0x001D, 0x0017, 0x0018, 0x0019, 0x0100)  # x25519, P-256, P-384, P-521, ffdhe2048
SIGNATURE_ALGORITHMS = (0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601, 0x0203, 0x0201)


class HelloUnreachable(Exception):
    """Nothing accepted the TCP connection."""


@dataclass(frozen=True)
class ServerFlight:
    """What the server's first flight said: protocol version, chosen suite, and (if read) its certificates."""

    version: int
    suite: int
    certificates: tuple[bytes, ...] = ()


def _extension(kind: int, body: bytes) -> bytes:
    return struct.pack("!HH", kind, len(body)) + body


def _u16_list(values: Sequence[int]) -> bytes:
    data = b"".join(struct.pack("!H", v) for v in values)
    return struct.pack("!H", len(data)) + data


def client_hello(suites: Sequence[int], sni: str | None) -> bytes:
    """A TLS 1.2 ClientHello record offering `suites` (at most MAX_SUITES); raises ValueError for none."""
    if not suites or len(suites) > MAX_SUITES:
        raise ValueError(f"offer 1 to {MAX_SUITES} cipher suites, not {len(suites)}")
    extensions = [
        _extension(10, _u16_list(SUPPORTED_GROUPS)),
        _extension(11, b"\x01\x00"),  # ec_point_formats: uncompressed
        _extension(13, _u16_list(SIGNATURE_ALGORITHMS)),
        _extension(23, b""),  # extended_master_secret
        _extension(0xFF01, b"\x00"),  # renegotiation_info (empty)
    ]
    if sni and not _is_ip(sni):
        name = sni.rstrip(".").encode("idna")
        entry = b"\x00" + struct.pack("!H", len(name)) + name
        extensions.insert(0, _extension(0, struct.pack("!H", len(entry)) + entry))
    ext_data = b"".join(extensions)
    body = (b"\x03\x03" + os.urandom(32) + b"\x00" + _u16_list(suites) + b"\x01\x00"
            + struct.pack("!H", len(ext_data)) + ext_data)
    handshake = bytes([HANDSHAKE_CLIENT_HELLO]) + len(body).to_bytes(3, "big") + body
    return bytes([RECORD_HANDSHAKE]) + b"\x03\x01" + struct.pack("!H", len(handshake)) + handshake


class FlightParser:
    """Reassembles handshake messages from records; `feed` returns a ServerFlight once it has enough.

    Raises ValueError on anything that is not a TLS handshake flight (an alert, another protocol,
    a malformed message).
    """

    def __init__(self, want_certificates: bool) -> None:
        self.want_certificates = want_certificates
        self._records = b""
        self._handshake = b""
        self._hello: tuple[int, int] | None = None
        self.records = 0

    def feed(self, data: bytes) -> ServerFlight | None:
        """Add bytes from the socket; the flight when complete enough, else None."""
        self._records += data
        while len(self._records) >= 5:
            kind, _, length = struct.unpack("!BHH", self._records[:5])
            if length > MAX_RECORD:
                raise ValueError(f"record of {length} bytes is not TLS")
            if len(self._records) < 5 + length:
                return None
            fragment, self._records = self._records[5: 5 + length], self._records[5 + length:]
            self.records += 1
            if kind == RECORD_ALERT:
                raise ValueError(f"alert {fragment[-1:].hex() or '?'}")
            if kind != RECORD_HANDSHAKE:
                raise ValueError(f"record type {kind} before the handshake completed")
            self._handshake += fragment
            flight = self._messages()
            if flight is not None:
                return flight
        return None

    def _messages(self) -> ServerFlight | None:
        while len(self._handshake) >= 4:
            kind = self._handshake[0]
            length = int.from_bytes(self._handshake[1:4], "big")
            if len(self._handshake) < 4 + length:
                return None
            body, self._handshake = self._handshake[4: 4 + length], self._handshake[4 + length:]
            if kind == HANDSHAKE_SERVER_HELLO:
                self._hello = _server_hello(body)
                if not self.want_certificates:
                    return ServerFlight(*self._hello)
            elif self._hello is None:
                raise ValueError(f"handshake message {kind} before ServerHello")
            elif kind == HANDSHAKE_CERTIFICATE:
                return ServerFlight(*self._hello, certificates=_certificates(body))
            elif kind == HANDSHAKE_SERVER_HELLO_DONE:
                return ServerFlight(*self._hello)
        return None


def _server_hello(body: bytes) -> tuple[int, int]:
    if len(body) < 38:
        raise ValueError("short ServerHello")
    version = struct.unpack("!H", body[:2])[0]
    session_length = body[34]
    offset = 35 + session_length
    if len(body) < offset + 2:
        raise ValueError("short ServerHello")
    return version, struct.unpack("!H", body[offset: offset + 2])[0]


def _certificates(body: bytes) -> tuple[bytes, ...]:
    if len(body) < 3:
        raise ValueError("short Certificate message")
    total = int.from_bytes(body[:3], "big")
    data, certs = body[3: 3 + total], []
    while len(data) >= 3:
        length = int.from_bytes(data[:3], "big")
        certs.append(data[3: 3 + length])
        data = data[3 + length:]
    return tuple(certs)


def probe(address: str, port: int, sni: str | None, suites: Sequence[int], timeout: float, *,
          certificates: bool = False) -> ServerFlight | None:
    """Offer `suites` in a raw ClientHello; the server's choice (and certificates, if asked), or None when
    it refused them (alert, close, anything but a ServerHello).

    Reads at most MAX_FLIGHT_BYTES in at most MAX_RECORDS records. Raises HelloUnreachable when the
    TCP connection fails, ValueError for an empty or oversized suite list.
    """
    hello = client_hello(suites, sni)
    try:
        sock = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise HelloUnreachable(f"{address}:{port}: {exc}") from None
    parser = FlightParser(certificates)
    received = 0
    with sock:
        try:
            sock.sendall(hello)
            while received < MAX_FLIGHT_BYTES and parser.records < MAX_RECORDS:
                chunk = sock.recv(min(16384, MAX_FLIGHT_BYTES - received))
                if not chunk:
                    return None
                received += len(chunk)
                flight = parser.feed(chunk)
                if flight is not None:
                    return flight
        except (OSError, ValueError):
            return None
    return None


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True
