"""Certificates made on the fly with cryptography (a test root, intermediates, good/bad leaves), TLS server
contexts (restricted to cipher strings and versions, sending or omitting the intermediate), and a fake TLS
server that answers a raw ServerHello choosing suites the local OpenSSL can no longer speak (3DES, RC4).

`tls10_server_supported()` says whether the local OpenSSL can still run a TLS 1.0-only server.
Measured here (OpenSSL 3.0.19): a server can still accept NULL, anonymous (ADH/AECDH), RSA key exchange,
ECDHE and TLS 1.0/1.1 at @SECLEVEL=0; RC4, DES, 3DES and export suites are compiled out (client and
server), so they are tested against FakeHelloServer only.
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import ssl
import struct
import threading
import warnings
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtendedKeyUsageOID, NameOID

# What a modern server offers at TLS <= 1.2: ECDHE only (no RSA key exchange, no NULL or anonymous suites).
MODERN_CIPHERS = "ECDHE:!aNULL:!eNULL:@SECLEVEL=0"
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def make_key(kind: str = "ec") -> PrivateKey:
    """`ec` (P-256), `rsa2048` or `rsa1024` (weak, for tests)."""
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    bits = int(kind.removeprefix("rsa"))
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Perimeter tests")])


@dataclass(frozen=True)
class Issued:
    """A leaf certificate and key, in memory and as PEM files."""

    cert: x509.Certificate
    key: PrivateKey
    cert_file: Path
    key_file: Path
    chain_file: Path | None = None  # leaf then intermediate, for leaves an intermediate issued


class TestCA:
    """A throw-away CA writing its files under `directory`: a root, or with `parent` an intermediate.

    An intermediate's leaves carry an AIA caIssuers URL (as public CAs' do) and a chain file.
    """

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, *, name: str = "Perimeter Test Root", parent: TestCA | None = None) -> None:
        self.directory = directory
        self.parent = parent
        self.slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
        self.key = make_key("ec")
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(parent.cert.subject if parent else _name(name))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=30))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
        )
        if parent is not None:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(parent.key.public_key()), critical=False)
        self.cert: x509.Certificate = builder.sign(parent.key if parent else self.key, hashes.SHA256())
        self.ca_file = directory / ("ca.pem" if parent is None else f"ca-{self.slug}.pem")
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

    def intermediate(self, name: str = "Perimeter Test Intermediate") -> TestCA:
        """An intermediate CA this CA signs (files in the same directory)."""
        return TestCA(self.directory, name=name, parent=self)

    @property
    def ca_issuers_url(self) -> str:
        """Where this CA's certificate would be published (never served: tests only read the URL)."""
        return f"http://{self.slug}.ca.test/ca.crt"

    def issue(self, name: str, names: list[str] | None = None, *, key: str = "ec", days: int = 90,
              not_before_days: int = -1, self_signed: bool = False) -> Issued:
        """A leaf for `names` (default [name]) valid from now+not_before_days for `days` days."""
        leaf_key = make_key(key)
        now = datetime.now(UTC)
        start = now + timedelta(days=not_before_days)
        sans: list[x509.GeneralName] = []
        for entry in names or [name]:
            try:
                sans.append(x509.IPAddress(ipaddress.ip_address(entry)))
            except ValueError:
                sans.append(x509.DNSName(entry))
        issuer_name = _name(name) if self_signed else self.cert.subject
        signer: PrivateKey = leaf_key if self_signed else self.key
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(issuer_name)
            .public_key(leaf_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(start + timedelta(days=days))
            .add_extension(x509.SubjectAlternativeName(sans), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        )
        if not self_signed:
            builder = builder.add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False)
            if self.parent is not None:
                builder = builder.add_extension(x509.AuthorityInformationAccess([x509.AccessDescription(
                    AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(self.ca_issuers_url))]),
                    critical=False)
        cert = builder.sign(signer, hashes.SHA256())
        prefix = "" if self.parent is None else f"{self.slug}-"
        stem = f"{prefix}{name.replace('*', 'star')}-{key}-{days}-{not_before_days}-{int(self_signed)}"
        cert_file = self.directory / f"{stem}.crt"
        key_file = self.directory / f"{stem}.key"
        cert_pem = cert.public_bytes(serialization.Encoding.PEM)
        cert_file.write_bytes(cert_pem)
        key_file.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        chain_file = None
        if self.parent is not None and not self_signed:
            chain_file = self.directory / f"{stem}.chain.crt"
            chain_file.write_bytes(cert_pem + self.cert.public_bytes(serialization.Encoding.PEM))
        return Issued(cert, leaf_key, cert_file, key_file, chain_file)


def server_context(issued: Issued, *, minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
                   maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED, ciphers: str = MODERN_CIPHERS,
                   send_intermediate: bool = True) -> ssl.SSLContext:
    """A server context for `issued` offering `ciphers` at TLS <= 1.2 (TLS 1.3 suites are fixed), security
    level 0 so weak keys and old versions load at all; the intermediate is sent unless `send_intermediate`
    is False. Raises ssl.SSLError when `ciphers` selects nothing."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers(ciphers)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = minimum
        context.maximum_version = maximum
    chain = issued.chain_file if send_intermediate and issued.chain_file else issued.cert_file
    context.load_cert_chain(chain, issued.key_file)
    return context


@cache
def tls10_server_supported(directory: str) -> bool:
    """True when a TLS 1.0-only server and client can complete a handshake with this OpenSSL."""
    try:
        issued = TestCA(Path(directory)).issue("tls10-probe.test", key="rsa2048")
        server = server_context(issued, minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1)
        client = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        client.check_hostname = False
        client.verify_mode = ssl.CERT_NONE
        client.set_ciphers("ALL:@SECLEVEL=0")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            client.minimum_version = client.maximum_version = ssl.TLSVersion.TLSv1
    except (ssl.SSLError, ValueError):
        return False
    listener = socket.create_server(("127.0.0.1", 0))
    result: list[bool] = []

    def serve() -> None:
        conn, _ = listener.accept()
        try:
            with server.wrap_socket(conn, server_side=True):
                result.append(True)
        except (ssl.SSLError, OSError):
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with socket.create_connection(listener.getsockname(), timeout=3) as raw, \
                client.wrap_socket(raw, server_hostname="tls10-probe.test") as tls:
            ok = tls.version() == "TLSv1"
    except (ssl.SSLError, OSError):
        ok = False
    thread.join(timeout=3)
    listener.close()
    return ok and bool(result)


@dataclass
class FakeHelloServer:
    """Answers each ClientHello with a bare ServerHello choosing the first offered suite in `accepts`, or a
    handshake_failure alert; then closes. For suites no local OpenSSL can serve. Records every offer.
    """

    accepts: Iterable[int]
    host: str = "127.0.0.1"
    offers: list[list[int]] = field(default_factory=list)

    def start(self) -> FakeHelloServer:
        """Listen on a free port of `host` (loopback only)."""
        if not self.host.startswith("127."):
            raise ValueError("test servers bind loopback only")
        self._accepted = list(self.accepts)
        self._stop = threading.Event()
        self._listener = socket.create_server((self.host, 0))
        self._listener.settimeout(0.05)
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    @property
    def port(self) -> int:
        return int(self._listener.getsockname()[1])

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            with conn, contextlib.suppress(OSError, ValueError, IndexError):
                conn.settimeout(3)
                offered = _offered_suites(conn)
                self.offers.append(offered)
                chosen = next((s for s in offered if s in self._accepted), None)
                conn.sendall(_server_hello(chosen) if chosen is not None else b"\x15\x03\x03\x00\x02\x02\x28")

    def stop(self) -> None:
        """Stop accepting and close the listener."""
        self._stop.set()
        self._thread.join(timeout=3)
        self._listener.close()


def _read_exact(conn: socket.socket, count: int) -> bytes:
    data = b""
    while len(data) < count:
        chunk = conn.recv(count - len(data))
        if not chunk:
            raise ValueError("closed")
        data += chunk
    return data


def _offered_suites(conn: socket.socket) -> list[int]:
    """The cipher suites of one ClientHello record."""
    _, _, length = struct.unpack("!BHH", _read_exact(conn, 5))
    body = _read_exact(conn, length)[4:]  # skip the handshake header
    offset = 2 + 32
    offset += 1 + body[offset]  # session id
    count = struct.unpack("!H", body[offset: offset + 2])[0]
    raw = body[offset + 2: offset + 2 + count]
    return [struct.unpack("!H", raw[i: i + 2])[0] for i in range(0, len(raw), 2)]


def _server_hello(suite: int) -> bytes:
    body = b"\x03\x03" + bytes(32) + b"\x00" + struct.pack("!H", suite) + b"\x00"
    handshake = b"\x02" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x03" + struct.pack("!H", len(handshake)) + handshake
