"""Signal `layer`: TLS certificate and protocol posture on 443 (and ctx.tls_ports), with ssl + cryptography.

Per endpoint: one inspection handshake (leaf certificate, negotiated protocol), one verifying handshake
against the default trust store (honours SSL_CERT_FILE; time is judged separately from trust), and one
handshake per protocol version from TLS 1.0 to 1.3.
"""

from __future__ import annotations

import hashlib
import ipaddress
import socket
import ssl
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from chalicelib.scanners.base import (
    Catalog,
    CheckFailed,
    CheckSkipped,
    FindingSpec,
    ScanContext,
    address_allowed,
    allowed_addresses,
    safe_check,
)
from chalicelib.scans.models import Finding, Severity, SignalKey

X509_V_FLAG_NO_CHECK_TIME = 0x200000  # trust is judged without the clock; expiry is its own finding
PERMISSIVE_CIPHERS = "ALL:@SECLEVEL=0"  # observe weak servers instead of refusing them
# (name used in findings, what SSLSocket.version() reports, the version to pin)
VERSIONS: tuple[tuple[str, str, ssl.TLSVersion], ...] = (
    ("TLSv1.0", "TLSv1", ssl.TLSVersion.TLSv1),
    ("TLSv1.1", "TLSv1.1", ssl.TLSVersion.TLSv1_1),
    ("TLSv1.2", "TLSv1.2", ssl.TLSVersion.TLSv1_2),
    ("TLSv1.3", "TLSv1.3", ssl.TLSVersion.TLSv1_3),
)
WEAK_HASHES = frozenset({"md5", "sha1", "md2", "md4"})
EXPIRING_SOON_DAYS = 14
EXPIRING_DAYS = 30

CATALOG = Catalog(SignalKey.LAYER, {
    "cert-expired": FindingSpec(Severity.CRITICAL, "TLS certificate has expired",
                                "Renew the certificate now and automate renewal (ACME).", "CWE-298"),
    "cert-not-yet-valid": FindingSpec(Severity.HIGH, "TLS certificate is not yet valid",
                                      "Check the server clock and the certificate's notBefore date.", "CWE-298"),
    "cert-expiring-soon": FindingSpec(Severity.MEDIUM, "TLS certificate expires within 14 days",
                                      "Renew the certificate and automate renewal.", "CWE-298"),
    "cert-expiring": FindingSpec(Severity.LOW, "TLS certificate expires within 30 days",
                                 "Plan the renewal, or automate it.", "CWE-298"),
    "cert-self-signed": FindingSpec(Severity.HIGH, "TLS certificate is self-signed",
                                    "Use a certificate from a publicly trusted CA.", "CWE-295"),
    "cert-untrusted": FindingSpec(Severity.HIGH, "TLS certificate chain is not trusted",
                                  "Serve the full chain (leaf and intermediates) issued by a trusted CA.",
                                  "CWE-295"),
    "cert-hostname-mismatch": FindingSpec(Severity.HIGH, "TLS certificate does not cover the host name",
                                          "Issue a certificate whose SANs include this name.", "CWE-297"),
    "weak-key": FindingSpec(Severity.HIGH, "TLS certificate key is too small",
                            "Use RSA 2048+ or ECDSA P-256+ keys.", "CWE-326"),
    "weak-signature": FindingSpec(Severity.HIGH, "TLS certificate signed with a weak hash",
                                  "Reissue the certificate with SHA-256 or better.", "CWE-328"),
    "tls10-enabled": FindingSpec(Severity.MEDIUM, "TLS 1.0 is offered",
                                 "Disable TLS 1.0; offer TLS 1.2 and 1.3 only.", "CWE-327"),
    "tls11-enabled": FindingSpec(Severity.MEDIUM, "TLS 1.1 is offered",
                                 "Disable TLS 1.1; offer TLS 1.2 and 1.3 only.", "CWE-327"),
    "no-tls13": FindingSpec(Severity.INFO, "TLS 1.3 is not offered", "Enable TLS 1.3."),
    "tls-summary": FindingSpec(Severity.INFO, "TLS endpoint observed"),
})


class Unreachable(Exception):
    """Nothing accepted the TCP connection."""


@dataclass(frozen=True)
class Trust:
    """The verdict of a verifying handshake (time not checked)."""

    trusted: bool
    code: int | None = None
    message: str | None = None


@dataclass
class Endpoint:
    """What one (address, port) showed."""

    address: str
    port: int
    leaf: x509.Certificate
    negotiated: str | None
    cipher: str | None
    trust: Trust
    versions: dict[str, bool | None] = field(default_factory=dict)


def _client_context(version: ssl.TLSVersion | None = None) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    context.set_ciphers(PERMISSIVE_CIPHERS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TLS 1.0/1.1 are deprecated: we probe them
        context.minimum_version = version or ssl.TLSVersion.TLSv1
        context.maximum_version = version or ssl.TLSVersion.MAXIMUM_SUPPORTED
    return context


def _handshake(address: str, port: int, sni: str | None, context: ssl.SSLContext,
               timeout: float) -> tuple[bytes | None, str | None, str | None]:
    """Handshake once; returns (leaf DER, protocol, cipher). Raises Unreachable or ssl.SSLError/OSError."""
    try:
        raw = socket.create_connection((address, port), timeout=timeout)
    except OSError as exc:
        raise Unreachable(f"{address}:{port}: {exc}") from None
    with raw, context.wrap_socket(raw, server_hostname=sni) as tls:
        cipher = tls.cipher()
        return tls.getpeercert(binary_form=True), tls.version(), cipher[0] if cipher else None


def verify_trust(address: str, port: int, sni: str | None, timeout: float) -> Trust:
    """Verify the served chain against the default trust store (SSL_CERT_FILE honoured), clock ignored.

    Raises Unreachable, or ssl.SSLError/OSError when the handshake fails for another reason.
    """
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_flags = context.verify_flags | X509_V_FLAG_NO_CHECK_TIME
    context.set_ciphers(PERMISSIVE_CIPHERS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        context.minimum_version = ssl.TLSVersion.TLSv1
    try:
        _handshake(address, port, sni, context, timeout)
    except ssl.SSLCertVerificationError as exc:
        return Trust(False, exc.verify_code, exc.verify_message)
    return Trust(True)


def probe_versions(address: str, port: int, sni: str | None, timeout: float) -> dict[str, bool | None]:
    """{"TLSv1.0": offered?, ...}; None where this client cannot attempt the version."""
    result: dict[str, bool | None] = {}
    for name, reported, version in VERSIONS:
        try:
            context = _client_context(version)
            _, negotiated, _ = _handshake(address, port, sni, context, timeout)
            result[name] = negotiated == reported
        except ssl.SSLError as exc:
            result[name] = None if "NO_PROTOCOLS_AVAILABLE" in str(exc).upper() else False
        except (Unreachable, OSError, ValueError):
            result[name] = False
    return result


def inspect_endpoint(address: str, port: int, sni: str | None, timeout: float) -> Endpoint:
    """Leaf, trust and versions of one endpoint; raises Unreachable, or CheckFailed if TLS fails."""
    try:
        der, negotiated, cipher = _handshake(address, port, sni, _client_context(), timeout)
    except (ssl.SSLError, OSError) as exc:
        raise CheckFailed(f"TLS handshake with {address}:{port} failed: {exc}") from None
    if not der:
        raise CheckFailed(f"{address}:{port} presented no certificate")
    try:
        trust = verify_trust(address, port, sni, timeout)
    except (Unreachable, ssl.SSLError, OSError) as exc:
        raise CheckFailed(f"verifying handshake with {address}:{port} failed: {exc}") from None
    return Endpoint(
        address=address, port=port, leaf=x509.load_der_x509_certificate(der), negotiated=negotiated,
        cipher=cipher, trust=trust, versions=probe_versions(address, port, sni, timeout),
    )


# ---------------------------------------------------------------------- pure certificate analysis


def key_description(cert: x509.Certificate) -> tuple[str, int]:
    """(key type, size in bits) of the certificate's public key."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return "RSA", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC-{key.curve.name}", key.curve.key_size
    if isinstance(key, dsa.DSAPublicKey):
        return "DSA", key.key_size
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    return type(key).__name__, 0


def key_is_weak(key_type: str, bits: int) -> bool:
    """True for RSA/DSA under 2048 bits or EC under 224 bits."""
    if key_type in ("RSA", "DSA"):
        return bits < 2048
    if key_type.startswith("EC-"):
        return bits < 224
    return False


def signature_hash(cert: x509.Certificate) -> str | None:
    """The signature hash name (sha256, sha1...), or None for hash-less schemes such as Ed25519."""
    try:
        algorithm = cert.signature_hash_algorithm
    except UnsupportedAlgorithm:
        return "unsupported"
    return algorithm.name if algorithm is not None else None


def is_self_signed(cert: x509.Certificate) -> bool:
    """True when the certificate names itself as issuer and its own key verifies its signature."""
    if cert.issuer != cert.subject:
        return False
    try:
        cert.verify_directly_issued_by(cert)
    except (ValueError, TypeError, InvalidSignature, UnsupportedAlgorithm):
        return False
    return True


def subject_alt_names(cert: x509.Certificate) -> tuple[list[str], list[str]]:
    """(DNS names, IP addresses) from the SAN extension; empty lists when absent."""
    try:
        ext = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return [], []
    return ext.get_values_for_type(x509.DNSName), [str(a) for a in ext.get_values_for_type(x509.IPAddress)]


def hostname_matches(hostname: str, dns_names: list[str], ip_names: list[str]) -> bool:
    """RFC 6125 matching against SANs only: exact, or a `*.` wildcard covering exactly one left label."""
    host = hostname.lower().rstrip(".")
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        ip = None
    if ip is not None:
        return any(ipaddress.ip_address(n) == ip for n in ip_names)
    for pattern in (n.lower().rstrip(".") for n in dns_names):
        if pattern == host:
            return True
        if pattern.startswith("*.") and "*" not in pattern[2:]:
            head, _, rest = host.partition(".")
            if head and rest == pattern[2:] and rest.count(".") >= 1:
                return True
    return False


def describe_certificate(cert: x509.Certificate) -> dict[str, Any]:
    """JSON-safe evidence: PEM, subject, issuer, SANs, dates, key, signature hash, fingerprint."""
    dns_names, ip_names = subject_alt_names(cert)
    key_type, bits = key_description(cert)
    der = cert.public_bytes(serialization.Encoding.DER)
    return {
        "subject": cert.subject.rfc4514_string(),
        "issuer": cert.issuer.rfc4514_string(),
        "serial": format(cert.serial_number, "x"),
        "sans": dns_names + ip_names,
        "not_before": cert.not_valid_before_utc.isoformat(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "key_type": key_type,
        "key_bits": bits,
        "signature_hash": signature_hash(cert),
        "self_signed": is_self_signed(cert),
        "sha256": hashlib.sha256(der).hexdigest(),
        "pem": cert.public_bytes(serialization.Encoding.PEM).decode("ascii"),
    }


def certificate_issues(cert: x509.Certificate, hostname: str, trust: Trust, now: datetime) -> list[tuple[str, str]]:
    """(code, detail) for every certificate problem: dates, trust, self-signed, host name, key, hash."""
    issues: list[tuple[str, str]] = []
    days_left = (cert.not_valid_after_utc - now).days
    if cert.not_valid_after_utc <= now:
        issues.append(("cert-expired", f"Expired on {cert.not_valid_after_utc.date()} ({-days_left} days ago)."))
    elif days_left < EXPIRING_SOON_DAYS:
        issues.append(("cert-expiring-soon", f"Expires on {cert.not_valid_after_utc.date()} ({days_left} days left)."))
    elif days_left < EXPIRING_DAYS:
        issues.append(("cert-expiring", f"Expires on {cert.not_valid_after_utc.date()} ({days_left} days left)."))
    if cert.not_valid_before_utc > now:
        issues.append(("cert-not-yet-valid", f"Valid only from {cert.not_valid_before_utc.isoformat()}."))
    if not trust.trusted:
        if is_self_signed(cert):
            issues.append(("cert-self-signed", "The certificate is its own issuer and no trusted CA vouches for it."))
        else:
            issues.append(("cert-untrusted", f"Chain verification failed: {trust.message} (code {trust.code})."))
    dns_names, ip_names = subject_alt_names(cert)
    if not hostname_matches(hostname, dns_names, ip_names):
        names = ", ".join(dns_names + ip_names) or "none"
        issues.append(("cert-hostname-mismatch", f"{hostname} is not among the certificate's names ({names})."))
    key_type, bits = key_description(cert)
    if key_is_weak(key_type, bits):
        issues.append(("weak-key", f"{key_type} key of {bits} bits."))
    digest = signature_hash(cert)
    if digest in WEAK_HASHES:
        issues.append(("weak-signature", f"Signed with {digest}."))
    return issues


def endpoint_findings(endpoint: Endpoint, hostname: str, now: datetime) -> list[Finding]:
    """Findings for one endpoint, the certificate as evidence."""
    cert_info = describe_certificate(endpoint.leaf)
    where = {"address": endpoint.address, "port": endpoint.port}
    findings = [
        CATALOG.make(code, key=f"{endpoint.port}:{cert_info['sha256']}", detail=detail,
                     evidence={**where, "certificate": cert_info})
        for code, detail in certificate_issues(endpoint.leaf, hostname, endpoint.trust, now)
    ]
    version_codes = (("TLSv1.0", "tls10-enabled"), ("TLSv1.1", "tls11-enabled"))
    for version, code in version_codes:
        if endpoint.versions.get(version):
            findings.append(CATALOG.make(code, key=f"{endpoint.port}", detail=f"The server completed a {version} "
                                         "handshake.", evidence={**where, "versions": endpoint.versions}))
    if endpoint.versions.get("TLSv1.3") is False:
        findings.append(CATALOG.make("no-tls13", key=f"{endpoint.port}",
                                     evidence={**where, "versions": endpoint.versions}))
    summary = {**where, "negotiated": endpoint.negotiated, "cipher": endpoint.cipher, "versions": endpoint.versions,
               "trusted": endpoint.trust.trusted, "trust_error": endpoint.trust.message,
               "days_left": (endpoint.leaf.not_valid_after_utc - now).days, "certificate": cert_info}
    findings.append(CATALOG.make("tls-summary", key=f"{endpoint.port}:{endpoint.address}",
                                 detail=f"{endpoint.negotiated} with {endpoint.cipher}.", evidence=summary))
    return findings


def _check(target: str, ctx: ScanContext) -> list[Finding]:
    addresses = allowed_addresses(target, ctx)
    now = datetime.now(UTC)
    sni = None if _is_ip(target) else target
    findings: dict[str, Finding] = {}
    unreachable: list[str] = []
    failed: list[str] = []
    for port in ctx.tls_ports:
        for address in addresses:
            if not address_allowed(address, ctx, port):
                unreachable.append(f"{address}:{port} is one of the system's own endpoints; not scanned")
                continue
            try:
                endpoint = inspect_endpoint(str(address), port, sni, ctx.connect_timeout)
            except Unreachable as exc:
                unreachable.append(str(exc))
                continue
            except CheckFailed as exc:
                failed.append(str(exc))
                continue
            for finding in endpoint_findings(endpoint, target, now):
                findings.setdefault(finding.id, finding)
    if not findings and failed:
        raise CheckFailed("; ".join(failed))
    if not findings:
        raise CheckSkipped("no TLS service answered: " + "; ".join(unreachable))
    return list(findings.values())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


run = safe_check(SignalKey.LAYER)(_check)
