"""Cipher-suite depth of one TLS endpoint: forward secrecy, RSA key exchange, weak suites.

A handful of extra handshakes per endpoint, each bounded by the scan's connect timeout:
- one `ssl` handshake at TLS 1.0-1.2 offering only ECDHE/DHE suites (is forward secrecy offered?);
- `ssl` handshakes offering only RSA key-exchange suites, each accepted suite excluded from the next
  offer, at most MAX_PER_KIND;
- raw ClientHellos (tls_hello) offering the RC4, DES, 3DES, export, NULL and anonymous suites of
  `tls_weak_suites.json`, the same way, at most MAX_PER_KIND.
TLS 1.3 suites all have forward secrecy: whether 1.3 was accepted comes from the version probe.
"""

from __future__ import annotations

import json
import socket
import ssl
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from chalicelib.scanners import tls_hello

FS_SUITES = "kECDHE:kDHE:!aNULL:!eNULL"
RSA_KX_SUITES = "kRSA:!aNULL:!eNULL"
MAX_PER_KIND = 3
WEAK_SUITES_FILE = Path(__file__).with_name("tls_weak_suites.json")
WEAKNESSES = frozenset({"RC4", "DES", "3DES", "export", "NULL", "anonymous"})


@dataclass(frozen=True)
class WeakSuite:
    """One suite of the weak-suite table."""

    id: int
    name: str
    openssl: str
    weakness: str


@cache
def weak_suites() -> tuple[WeakSuite, ...]:
    """The weak-suite table, loaded once; raises ValueError when the file is malformed."""
    data = json.loads(WEAK_SUITES_FILE.read_text())
    suites = tuple(WeakSuite(int(s["id"], 16), s["name"], s["openssl"], s["weakness"]) for s in data["suites"])
    ids = [s.id for s in suites]
    if len(set(ids)) != len(ids) or not all(0 < i <= 0xFFFF for i in ids):
        raise ValueError(f"{WEAK_SUITES_FILE.name}: suite ids must be unique 16-bit values")
    unknown = {s.weakness for s in suites} - WEAKNESSES
    if unknown:
        raise ValueError(f"{WEAK_SUITES_FILE.name}: unknown weakness {sorted(unknown)}")
    return suites


@dataclass
class CipherReport:
    """Suites one endpoint accepted, by kind (OpenSSL names for ssl probes, IANA names for weak ones)."""

    forward_secret: list[str] = field(default_factory=list)
    rsa_key_exchange: list[str] = field(default_factory=list)
    weak: list[str] = field(default_factory=list)
    weaknesses: list[str] = field(default_factory=list)
    tls13: bool = False

    def evidence(self) -> dict[str, Any]:
        """JSON-safe evidence: the accepted suites by kind."""
        return {"forward_secrecy": self.forward_secret, "rsa_key_exchange": self.rsa_key_exchange,
                "weak": self.weak, "weaknesses": self.weaknesses, "tls13": self.tls13,
                "probed_up_to": MAX_PER_KIND}


def _context(ciphers: str) -> ssl.SSLContext:
    """A non-verifying client context at TLS 1.0-1.2 offering `ciphers`; raises ssl.SSLError if none is left."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers(f"{ciphers}:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_2
    return context


def accepted_by_ssl(address: str, port: int, sni: str | None, ciphers: str, timeout: float,
                    limit: int = MAX_PER_KIND) -> list[str]:
    """Suites of the OpenSSL cipher string `ciphers` the server accepts, found by excluding each accepted
    suite from the next offer; at most `limit` handshakes. Never raises: a failed handshake ends the walk."""
    accepted: list[str] = []
    for _ in range(limit):
        exclusions = "".join(f":!{name}" for name in accepted)
        try:
            context = _context(ciphers + exclusions)
            with socket.create_connection((address, port), timeout=timeout) as raw, \
                    context.wrap_socket(raw, server_hostname=sni) as tls:
                chosen = tls.cipher()
        except (ssl.SSLError, OSError, ValueError):
            break
        if not chosen or chosen[0] in accepted:
            break
        accepted.append(chosen[0])
    return accepted


def accepted_weak(address: str, port: int, sni: str | None, timeout: float,
                  limit: int = MAX_PER_KIND) -> list[WeakSuite]:
    """Weak suites the server accepts from raw ClientHellos, each accepted one dropped from the next offer;
    at most `limit` hellos. Never raises: a refused or failed hello ends the walk."""
    table = {s.id: s for s in weak_suites()}
    offer = list(table)
    accepted: list[WeakSuite] = []
    for _ in range(limit):
        try:
            flight = tls_hello.probe(address, port, sni, offer, timeout)
        except (tls_hello.HelloUnreachable, ValueError):
            break
        if flight is None or flight.suite not in offer:
            break
        accepted.append(table[flight.suite])
        offer.remove(flight.suite)
        if not offer:
            break
    return accepted


def probe_ciphers(address: str, port: int, sni: str | None, timeout: float, tls13: bool) -> CipherReport:
    """Probe one endpoint's suites by kind (see the module docstring); never raises."""
    weak = accepted_weak(address, port, sni, timeout)
    return CipherReport(
        forward_secret=accepted_by_ssl(address, port, sni, FS_SUITES, timeout, limit=1),
        rsa_key_exchange=accepted_by_ssl(address, port, sni, RSA_KX_SUITES, timeout),
        weak=[s.name for s in weak],
        weaknesses=sorted({s.weakness for s in weak}),
        tls13=tls13,
    )


def cipher_issues(report: CipherReport) -> list[tuple[str, str]]:
    """(code, detail) for `no-forward-secrecy`, `rsa-key-exchange` and `weak-cipher`."""
    issues: list[tuple[str, str]] = []
    has_fs = bool(report.forward_secret) or report.tls13
    weak_rsa = [name for name in report.weak if name.startswith("TLS_RSA_")]
    if not has_fs and (report.rsa_key_exchange or weak_rsa):
        suites = ", ".join(report.rsa_key_exchange + weak_rsa)
        issues.append(("no-forward-secrecy", f"No ECDHE/DHE suite and no TLS 1.3: only RSA key exchange ({suites})."))
    elif report.rsa_key_exchange:
        issues.append(("rsa-key-exchange", "RSA key exchange is accepted beside forward-secret suites: "
                       + ", ".join(report.rsa_key_exchange) + "."))
    if report.weak:
        issues.append(("weak-cipher", f"Weak suites accepted ({', '.join(report.weaknesses)}): "
                       + ", ".join(report.weak) + "."))
    return issues
