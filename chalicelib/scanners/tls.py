"""Signal `layer`: TLS posture on 443 (and ctx.tls_ports) with ssl + cryptography, missing HTTPS, DNS hygiene.

Per endpoint: one inspection handshake (leaf certificate, negotiated protocol), one verifying handshake
against the default trust store (honours SSL_CERT_FILE; time is judged separately from trust), one
handshake per protocol version from TLS 1.0 to 1.3, the cipher probes of tls_ciphers (a handful more),
and, when verification misses the leaf's issuer, one raw hello to read the served chain (tls_hello).
A host where no TLS port answers but HTTP on ctx.http_port does gets `no-https` instead of `not_tested`.
A domain target whose layer check completes also gets its DNSSEC and CAA state (dns_hygiene).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from chalicelib.core.addresses import IPAddress
from chalicelib.scanners import dns_hygiene, tls_ciphers, tls_hello
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
from chalicelib.scanners.fetch import FetchError, fetch
from chalicelib.scanners.tls_certs import (
    UNABLE_TO_GET_ISSUER_LOCALLY,
    Trust,
    certificate_issues,
    describe_certificate,
    describe_chain,
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
CHAIN_EVIDENCE_CODES = frozenset({"chain-incomplete", "cert-untrusted"})

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
    "chain-incomplete": FindingSpec(Severity.MEDIUM, "TLS server does not send its intermediate certificate",
                                    "Serve the full chain: the leaf followed by every intermediate up to the root.",
                                    "CWE-295"),
    "no-forward-secrecy": FindingSpec(Severity.MEDIUM, "TLS without forward secrecy",
                                      "Enable ECDHE suites and TLS 1.3; a stolen key must not decrypt past traffic.",
                                      "CWE-327"),
    "rsa-key-exchange": FindingSpec(Severity.LOW, "TLS accepts RSA key exchange",
                                    "Disable the TLS_RSA_* suites; keep ECDHE and TLS 1.3.", "CWE-327"),
    "weak-cipher": FindingSpec(Severity.MEDIUM, "TLS accepts weak cipher suites",
                               "Disable RC4, DES, 3DES, export, NULL and anonymous suites.", "CWE-327"),
    "no-https": FindingSpec(Severity.HIGH, "The host serves HTTP but no HTTPS",
                            "Serve the site over HTTPS (a free ACME certificate) and redirect HTTP to it.", "CWE-319"),
    "dnssec-missing": FindingSpec(Severity.LOW, "The domain's zone is not DNSSEC-signed",
                                  "Sign the zone and publish its DS record at the registrar.", "CWE-345"),
    "caa-missing": FindingSpec(Severity.LOW, "No CAA record limits which CAs may issue certificates",
                               "Publish a CAA record naming the CAs you use (e.g. `0 issue \"letsencrypt.org\"`)."),
    "tls-summary": FindingSpec(Severity.INFO, "TLS endpoint observed"),
})


class Unreachable(Exception):
    """Nothing accepted the TCP connection."""


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
    ciphers: tls_ciphers.CipherReport | None = None
    served: tuple[x509.Certificate, ...] | None = None  # sent after the leaf; None when not read


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


def served_chain(address: str, port: int, sni: str | None, timeout: float) -> tuple[x509.Certificate, ...] | None:
    """The certificates a TLS 1.0-1.2 server sends after its leaf, read from one raw hello; None when the
    server would not answer it (TLS 1.3 only) or sent no certificate list. Never raises."""
    try:
        flight = tls_hello.probe(address, port, sni, tls_hello.COMMON_SUITES, timeout, certificates=True)
    except (tls_hello.HelloUnreachable, ValueError):
        return None
    if flight is None or not flight.certificates:
        return None
    chain: list[x509.Certificate] = []
    for der in flight.certificates[1:]:
        try:
            chain.append(x509.load_der_x509_certificate(der))
        except ValueError:
            continue
    return tuple(chain)


def inspect_endpoint(address: str, port: int, sni: str | None, timeout: float) -> Endpoint:
    """Leaf, trust, versions, cipher kinds (and the served chain when the leaf's issuer was missing) of one
    endpoint; raises Unreachable, or CheckFailed if TLS fails."""
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
    versions = probe_versions(address, port, sni, timeout)
    served = served_chain(address, port, sni, timeout) if trust.code == UNABLE_TO_GET_ISSUER_LOCALLY else None
    return Endpoint(
        address=address, port=port, leaf=x509.load_der_x509_certificate(der), negotiated=negotiated,
        cipher=cipher, trust=trust, versions=versions, served=served,
        ciphers=tls_ciphers.probe_ciphers(address, port, sni, timeout, tls13=versions.get("TLSv1.3") is True),
    )


def endpoint_findings(endpoint: Endpoint, hostname: str, now: datetime) -> list[Finding]:
    """Findings for one endpoint: certificate (as evidence), versions, cipher kinds, and the summary."""
    cert_info = describe_certificate(endpoint.leaf)
    where = {"address": endpoint.address, "port": endpoint.port}
    chain = describe_chain(endpoint.leaf, endpoint.served)
    findings = [
        CATALOG.make(code, key=f"{endpoint.port}:{cert_info['sha256']}", detail=detail,
                     evidence={**where, "certificate": cert_info, **({"chain": chain} if code in CHAIN_EVIDENCE_CODES
                                                                     else {})})
        for code, detail in certificate_issues(endpoint.leaf, hostname, endpoint.trust, now, endpoint.served)
    ]
    version_codes = (("TLSv1.0", "tls10-enabled"), ("TLSv1.1", "tls11-enabled"))
    for version, code in version_codes:
        if endpoint.versions.get(version):
            findings.append(CATALOG.make(code, key=f"{endpoint.port}", detail=f"The server completed a {version} "
                                         "handshake.", evidence={**where, "versions": endpoint.versions}))
    if endpoint.versions.get("TLSv1.3") is False:
        findings.append(CATALOG.make("no-tls13", key=f"{endpoint.port}",
                                     evidence={**where, "versions": endpoint.versions}))
    ciphers = endpoint.ciphers.evidence() if endpoint.ciphers else None
    if endpoint.ciphers is not None:
        for code, detail in tls_ciphers.cipher_issues(endpoint.ciphers):
            findings.append(CATALOG.make(code, key=f"{endpoint.port}", detail=detail,
                                         evidence={**where, "ciphers": ciphers}))
    summary = {**where, "negotiated": endpoint.negotiated, "cipher": endpoint.cipher, "versions": endpoint.versions,
               "ciphers": ciphers, "trusted": endpoint.trust.trusted, "trust_error": endpoint.trust.message,
               "days_left": (endpoint.leaf.not_valid_after_utc - now).days, "certificate": cert_info}
    findings.append(CATALOG.make("tls-summary", key=f"{endpoint.port}:{endpoint.address}",
                                 detail=f"{endpoint.negotiated} with {endpoint.cipher}.", evidence=summary))
    return findings


def no_https_finding(target: str, ctx: ScanContext, unreachable: list[str]) -> Finding | None:
    """`no-https` when a guarded GET of http://target:ctx.http_port/ answers (any status), else None.

    Called only once no TLS port answered. Never raises: a refused, unresolvable or silent host is None.
    """
    host = f"[{target.strip('[]')}]" if ":" in target else target
    url = f"http://{host}:{ctx.http_port}/"
    try:
        result = fetch(url, ctx, max_redirects=0, max_body=1024)
    except (FetchError, CheckSkipped, CheckFailed):
        return None
    if not result.hops:
        return None
    hop = result.hops[0]
    ports = ", ".join(str(p) for p in ctx.tls_ports)
    evidence: dict[str, Any] = {"url": url, "status": hop.status, "address": hop.address,
                                "tls_ports_tried": list(ctx.tls_ports), "tls_unreachable": unreachable[:8]}
    if hop.header("Location"):
        evidence["location"] = hop.header("Location")
    return CATALOG.make("no-https", key=str(ctx.http_port), evidence=evidence,
                        detail=f"{target} answers HTTP on port {ctx.http_port} (status {hop.status}) but no TLS "
                               f"port ({ports}) answers: pages and credentials travel in clear text.")


def _endpoints(target: str, addresses: list[IPAddress], ctx: ScanContext) -> tuple[dict[str, Finding], list[str],
                                                                            list[str], bool]:
    """Inspect every allowed (address, TLS port): (findings by id, unreachable, failed, any connection tried)."""
    now = datetime.now(UTC)
    sni = None if _is_ip(target) else target
    findings: dict[str, Finding] = {}
    unreachable: list[str] = []
    failed: list[str] = []
    attempted = False
    for port in ctx.tls_ports:
        for address in addresses:
            if not address_allowed(address, ctx, port):
                unreachable.append(f"{address}:{port} is one of the system's own endpoints; not scanned")
                continue
            attempted = True
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
    return findings, unreachable, failed, attempted


def _check(target: str, ctx: ScanContext) -> list[Finding]:
    findings, unreachable, failed, attempted = _endpoints(target, allowed_addresses(target, ctx), ctx)
    if not findings and failed:
        raise CheckFailed("; ".join(failed))
    if not findings:
        plain = no_https_finding(target, ctx, unreachable) if attempted else None
        if plain is None:
            raise CheckSkipped("no TLS service answered: " + "; ".join(unreachable))
        findings[plain.id] = plain
    for issue in dns_hygiene.layer_issues(target, ctx):
        finding = CATALOG.make(issue.code, key=issue.key, detail=issue.detail, evidence=issue.evidence)
        findings.setdefault(finding.id, finding)
    return list(findings.values())


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


run = safe_check(SignalKey.LAYER)(_check)
