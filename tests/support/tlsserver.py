"""Certificates made on the fly with cryptography (a test CA and good/bad leaves) and TLS server contexts.

`tls10_server_supported()` says whether the local OpenSSL can still run a TLS 1.0-only server.
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import threading
import warnings
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

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


class TestCA:
    """A throw-away root CA writing its files under `directory`."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.key = make_key("ec")
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(_name("Perimeter Test Root"))
            .issuer_name(_name("Perimeter Test Root"))
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=30))
            .not_valid_after(now + timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                                         data_encipherment=False, key_agreement=False, key_cert_sign=True,
                                         crl_sign=True, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(self.key.public_key()), critical=False)
            .sign(self.key, hashes.SHA256())
        )
        self.ca_file = directory / "ca.pem"
        self.ca_file.write_bytes(self.cert.public_bytes(serialization.Encoding.PEM))

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
        cert = builder.sign(signer, hashes.SHA256())
        stem = f"{name.replace('*', 'star')}-{key}-{days}-{not_before_days}-{int(self_signed)}"
        cert_file = self.directory / f"{stem}.crt"
        key_file = self.directory / f"{stem}.key"
        cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        key_file.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                    serialization.NoEncryption()))
        return Issued(cert, leaf_key, cert_file, key_file)


def server_context(issued: Issued, *, minimum: ssl.TLSVersion = ssl.TLSVersion.TLSv1_2,
                   maximum: ssl.TLSVersion = ssl.TLSVersion.MAXIMUM_SUPPORTED) -> ssl.SSLContext:
    """A server context for `issued`; security level 0 so weak keys and old versions load at all."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.set_ciphers("ALL:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = minimum
        context.maximum_version = maximum
    context.load_cert_chain(issued.cert_file, issued.key_file)
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
