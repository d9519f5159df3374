"""Pure certificate analysis for signal `layer`: dates, trust verdict, self-signed, names, key, hash, and
whether a failed verification is an incomplete served chain. No network.
"""

from __future__ import annotations

import hashlib
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import AuthorityInformationAccessOID

WEAK_HASHES = frozenset({"md5", "sha1", "md2", "md4"})
EXPIRING_SOON_DAYS = 14
EXPIRING_DAYS = 30
UNABLE_TO_GET_ISSUER_LOCALLY = 20  # X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY


@dataclass(frozen=True)
class Trust:
    """The verdict of a verifying handshake (time not checked)."""

    trusted: bool
    code: int | None = None
    message: str | None = None


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


def date_issues(cert: x509.Certificate, now: datetime) -> list[tuple[str, str]]:
    """(code, detail) for an expired, expiring or not yet valid certificate."""
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
    return issues


def trust_issue(cert: x509.Certificate, trust: Trust,
                served: Sequence[x509.Certificate] | None) -> tuple[str, str] | None:
    """(code, detail) for an untrusted leaf: self-signed, chain-incomplete or cert-untrusted; None when trusted."""
    if trust.trusted:
        return None
    if is_self_signed(cert):
        return "cert-self-signed", "The certificate is its own issuer and no trusted CA vouches for it."
    if chain_incomplete(cert, trust, served):
        return ("chain-incomplete", f"The server does not send the intermediate that issued its certificate "
                f"({cert.issuer.rfc4514_string()}); clients that have not cached it fail.")
    return "cert-untrusted", f"Chain verification failed: {trust.message} (code {trust.code})."


def certificate_issues(cert: x509.Certificate, hostname: str, trust: Trust, now: datetime,
                       served: Sequence[x509.Certificate] | None = None) -> list[tuple[str, str]]:
    """(code, detail) for every certificate problem: dates, trust (chain-incomplete, self-signed or
    untrusted), host name, key, hash. `served` is the chain the server sent after the leaf, None when unread.
    """
    issues = date_issues(cert, now)
    trusted = trust_issue(cert, trust, served)
    if trusted is not None:
        issues.append(trusted)
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



def ca_issuers_urls(cert: x509.Certificate) -> list[str]:
    """The caIssuers URLs of the certificate's Authority Information Access extension (never fetched)."""
    try:
        aia = cert.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    except x509.ExtensionNotFound:
        return []
    return [d.access_location.value for d in aia
            if d.access_method == AuthorityInformationAccessOID.CA_ISSUERS
            and isinstance(d.access_location, x509.UniformResourceIdentifier)]


def chain_incomplete(leaf: x509.Certificate, trust: Trust, served: Sequence[x509.Certificate] | None) -> bool:
    """True when verification could not find the leaf's issuer (code 20), the server did not send it, and
    the leaf names where its issuer (an intermediate: public CAs put caIssuers in every leaf) is published.

    A leaf without caIssuers whose issuer is missing is more likely from a private root: cert-untrusted.
    With the served chain unread (a TLS 1.3-only server) nothing is claimed.
    """
    if trust.trusted or trust.code != UNABLE_TO_GET_ISSUER_LOCALLY or served is None:
        return False
    if any(cert.subject == leaf.issuer for cert in served):
        return False
    return bool(ca_issuers_urls(leaf))


def describe_chain(leaf: x509.Certificate, served: Sequence[x509.Certificate] | None) -> dict[str, Any]:
    """JSON-safe evidence of the served chain: subjects sent after the leaf (None: unread), leaf issuer, caIssuers."""
    return {
        "served_after_leaf": None if served is None else [c.subject.rfc4514_string() for c in served],
        "leaf_issuer": leaf.issuer.rfc4514_string(),
        "ca_issuers": ca_issuers_urls(leaf),
    }
