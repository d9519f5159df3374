"""SMTP on each MX (signal `mail`): greeting, EHLO, STARTTLS, and the certificate the MX serves.

Per MX host (at most MAX_MX_HOSTS, each on at most MAX_ADDRESSES guard-allowed addresses): connect to
ctx.smtp_port, read the greeting, EHLO, STARTTLS when offered, one TLS handshake that verifies the
chain (clock ignored: expiry is judged separately), a second unverified one only to read an untrusted
certificate, then QUIT. Never MAIL FROM, RCPT or DATA.
"""

from __future__ import annotations

import re
import ssl
import time
import warnings
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509

from chalicelib.scanners.base import (
    Catalog,
    CheckFailed,
    CheckSkipped,
    FindingSpec,
    ScanContext,
    allowed_addresses,
)
from chalicelib.scanners.protocols.wire import Wire, WireError, printable
from chalicelib.scanners.tls import PERMISSIVE_CIPHERS, X509_V_FLAG_NO_CHECK_TIME
from chalicelib.scanners.tls_certs import hostname_matches, is_self_signed, subject_alt_names
from chalicelib.scans.models import Finding, Severity, SignalKey

MAX_MX_HOSTS = 3
MAX_ADDRESSES = 2
MAX_REPLY_LINES = 50
# Seconds one SMTP session may take after connecting: Postfix postscreen holds the greeting up to 6 s.
SESSION_SECONDS = 12.0
EHLO_NAME = "scanner.perimeter.invalid"

CATALOG = Catalog(SignalKey.MAIL, {
    "mx-no-starttls": FindingSpec(Severity.HIGH, "Mail server does not offer STARTTLS",
                                  "Enable STARTTLS on every MX (Postfix `smtpd_tls_security_level = may` with a "
                                  "certificate); without it mail to the domain crosses the internet in clear.",
                                  "CWE-319"),
    "mx-cert-invalid": FindingSpec(Severity.MEDIUM, "Mail server certificate is expired or untrusted",
                                   "Serve a current certificate from a publicly trusted CA with its full chain; "
                                   "MTA-STS and DANE senders refuse to deliver otherwise.", "CWE-295"),
    "mx-cert-name-mismatch": FindingSpec(Severity.LOW, "Mail server certificate does not name the MX host",
                                         "Issue the MX certificate for the host name the MX record points at.",
                                         "CWE-297"),
    "mx-smtp-unreachable": FindingSpec(Severity.INFO, "Mail server did not answer SMTP"),
})
_REPLY = re.compile(rb"^(\d{3})([ -])(.*)$")


@dataclass(frozen=True)
class SmtpReply:
    """One SMTP reply: code and text lines."""

    code: int
    lines: tuple[str, ...]


def read_reply(wire: Wire) -> SmtpReply:
    """One (possibly multi-line, `250-` ... `250 `) reply; raises WireError, ValueError."""
    lines: list[str] = []
    code = None
    for _ in range(MAX_REPLY_LINES):
        match = _REPLY.match(wire.readline(2048))
        if match is None or (code is not None and match.group(1) != code):
            raise ValueError("not an SMTP reply")
        code = match.group(1)
        lines.append(printable(match.group(3)))
        if match.group(2) == b" ":
            return SmtpReply(int(code), tuple(lines))
    raise WireError(f"a reply longer than {MAX_REPLY_LINES} lines")


def ehlo_capabilities(reply: SmtpReply) -> list[str]:
    """The extension lines of an EHLO reply (the first line is the server's name), upper-cased keywords."""
    capabilities = []
    for line in reply.lines[1:]:
        keyword, _, params = line.partition(" ")
        capabilities.append(f"{keyword.upper()} {params}".strip())
    return capabilities


def offers_starttls(capabilities: Sequence[str]) -> bool:
    """True when STARTTLS is among the EHLO extensions."""
    return any(c.split(" ")[0] == "STARTTLS" for c in capabilities)


@dataclass
class MxSession:
    """What one SMTP session with an MX address showed."""

    host: str
    address: str
    port: int
    greeting: str = ""
    capabilities: list[str] = field(default_factory=list)
    starttls: bool = False
    tls_version: str | None = None
    cipher: str | None = None
    leaf: x509.Certificate | None = None
    trusted: bool | None = None
    trust_error: str | None = None
    tls_error: str | None = None

    def evidence(self) -> dict[str, Any]:
        """JSON-safe evidence: greeting, EHLO capabilities, TLS version, certificate subject/issuer/expiry."""
        item: dict[str, Any] = {"host": self.host, "address": self.address, "port": self.port,
                                "greeting": self.greeting, "capabilities": self.capabilities,
                                "starttls": self.starttls, "tls_version": self.tls_version, "cipher": self.cipher,
                                "trusted": self.trusted, "trust_error": self.trust_error, "tls_error": self.tls_error}
        if self.leaf is not None:
            dns_names, ip_names = subject_alt_names(self.leaf)
            item["certificate"] = {"subject": self.leaf.subject.rfc4514_string(),
                                   "issuer": self.leaf.issuer.rfc4514_string(),
                                   "not_before": self.leaf.not_valid_before_utc.isoformat(),
                                   "not_after": self.leaf.not_valid_after_utc.isoformat(),
                                   "sans": dns_names + ip_names}
        return item


def tls_context(verify: bool) -> ssl.SSLContext:
    """A client context: verifying the chain against the default store (clock and name not checked), or not."""
    context = ssl.create_default_context() if verify else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    if verify:
        context.verify_flags |= X509_V_FLAG_NO_CHECK_TIME
    else:
        context.verify_mode = ssl.CERT_NONE
    context.set_ciphers(PERMISSIVE_CIPHERS)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # old MX hosts still speak TLS 1.0: observe them
        context.minimum_version = ssl.TLSVersion.TLSv1
    return context


class Unreachable(Exception):
    """No SMTP greeting from the address."""


def _starttls(wire: Wire, session: MxSession, context: ssl.SSLContext) -> None:
    """STARTTLS and the handshake on `wire`; fills the session's TLS fields. Raises ssl.SSLError, WireError."""
    wire.send(b"STARTTLS\r\n")
    reply = read_reply(wire)
    if reply.code != 220:
        raise WireError(f"STARTTLS refused: {reply.code} {' '.join(reply.lines)}")
    if wire.pending():
        raise WireError("the server sent data before the TLS handshake")
    wire.sock.settimeout(max(wire.deadline - time.monotonic(), 0.001))
    wire.sock = context.wrap_socket(wire.sock, server_hostname=session.host)
    der = wire.sock.getpeercert(binary_form=True)
    session.leaf = x509.load_der_x509_certificate(der) if der else None
    session.tls_version = wire.sock.version()
    cipher = wire.sock.cipher()
    session.cipher = cipher[0] if cipher else None
    wire.send(b"QUIT\r\n")


def smtp_session(host: str, address: str, ctx: ScanContext, verify: bool) -> MxSession:
    """Greeting, EHLO (HELO when refused) and, when offered, STARTTLS with a verifying or plain context.

    Raises Unreachable (no connection or greeting), ssl.SSLError (handshake), WireError/ValueError after it.
    """
    session = MxSession(host, address, ctx.smtp_port)
    try:
        wire = Wire.connect(address, ctx.smtp_port, ctx, SESSION_SECONDS)
    except OSError as exc:
        raise Unreachable(f"{address}:{ctx.smtp_port}: {exc}") from None
    with wire:
        try:
            greeting = read_reply(wire)
        except (WireError, ValueError) as exc:
            raise Unreachable(f"{address}:{ctx.smtp_port}: no SMTP greeting ({exc})") from None
        session.greeting = " ".join(greeting.lines)[:300]
        if greeting.code != 220:
            raise Unreachable(f"{address}:{ctx.smtp_port} greeted with {greeting.code} {session.greeting}")
        wire.send(f"EHLO {EHLO_NAME}\r\n".encode())
        ehlo = read_reply(wire)
        if ehlo.code == 250:
            session.capabilities = ehlo_capabilities(ehlo)
            session.starttls = offers_starttls(session.capabilities)
        if session.starttls:
            _starttls(wire, session, tls_context(verify))
        else:
            wire.send(b"QUIT\r\n")
    return session


def probe_mx(host: str, address: str, ctx: ScanContext) -> MxSession:
    """One MX address: a verifying session, and an unverified one to read a certificate that failed.

    Raises Unreachable, WireError, ValueError.
    """
    try:
        session = smtp_session(host, address, ctx, verify=True)
    except (ssl.SSLError, OSError) as exc:  # the handshake failed (or the peer dropped it)
        reason = getattr(exc, "verify_message", None) or str(exc)
        try:
            session = smtp_session(host, address, ctx, verify=False)
        except (ssl.SSLError, OSError) as again:
            return MxSession(host, address, ctx.smtp_port, starttls=True, tls_error=str(again) or type(again).__name__)
        session.trusted, session.trust_error = False, reason
        return session
    if session.starttls:
        session.trusted = True
    return session


@dataclass(frozen=True)
class HostOutcome:
    """One MX host: its session, or why there is none (`probed` False when no address could be tried)."""

    host: str
    session: MxSession | None = None
    reason: str = ""
    probed: bool = True


def probe_host(host: str, ctx: ScanContext) -> HostOutcome:
    """The first of the host's guard-allowed addresses (at most MAX_ADDRESSES) that greets; never raises."""
    try:
        addresses = allowed_addresses(host, ctx, ctx.smtp_port)[:MAX_ADDRESSES]
    except (CheckSkipped, CheckFailed) as exc:
        return HostOutcome(host, reason=str(exc), probed=False)
    failures = []
    for address in addresses:
        try:
            return HostOutcome(host, probe_mx(host, str(address), ctx))
        except (Unreachable, WireError, ValueError, OSError) as exc:
            failures.append(str(exc))
    return HostOutcome(host, reason="; ".join(failures))


def session_findings(session: MxSession, now: datetime) -> list[Finding]:
    """The findings one MX session supports: no STARTTLS, invalid certificate, name mismatch."""
    evidence = session.evidence()
    key = session.host
    if not session.starttls or session.tls_error:
        detail = (f"STARTTLS is offered but the TLS handshake failed: {session.tls_error}" if session.tls_error
                  else f"{session.host} does not list STARTTLS after EHLO.")
        return [CATALOG.make("mx-no-starttls", key=key, detail=detail, evidence=evidence)]
    leaf = session.leaf
    if leaf is None:
        return []
    findings = []
    reasons = []
    if leaf.not_valid_after_utc <= now:
        reasons.append(f"expired on {leaf.not_valid_after_utc.date()}")
    if leaf.not_valid_before_utc > now:
        reasons.append(f"not valid before {leaf.not_valid_before_utc.date()}")
    if session.trusted is False:
        reasons.append("self-signed" if is_self_signed(leaf) else f"untrusted chain ({session.trust_error})")
    if reasons:
        findings.append(CATALOG.make("mx-cert-invalid", key=key, evidence=evidence,
                                     detail=f"The certificate of {session.host} is {', '.join(reasons)}."))
    dns_names, ip_names = subject_alt_names(leaf)
    if not hostname_matches(session.host, dns_names, ip_names):
        findings.append(CATALOG.make("mx-cert-name-mismatch", key=key, evidence=evidence,
                                     detail=f"{session.host} is not among the certificate's names "
                                            f"({', '.join(dns_names + ip_names) or 'none'})."))
    return findings


def smtp_findings(mx_hosts: Sequence[str], ctx: ScanContext) -> tuple[list[Finding], dict[str, Any]]:
    """SMTP findings for the first MAX_MX_HOSTS MX hosts (probed in parallel), and the evidence per host.

    Hosts without an allowed address are left to the MX checks (evidence only); never raises for a host.
    """
    hosts = list(dict.fromkeys(h.lower().rstrip(".") for h in mx_hosts if h))[:MAX_MX_HOSTS]
    if not hosts:
        return [], {}
    now = datetime.now(UTC)
    with ThreadPoolExecutor(max_workers=len(hosts)) as pool:
        outcomes = list(pool.map(lambda h: probe_host(h, ctx), hosts))
    findings: list[Finding] = []
    evidence: dict[str, Any] = {}
    for outcome in outcomes:
        host = outcome.host
        if outcome.session is not None:
            evidence[host] = outcome.session.evidence()
            findings.extend(session_findings(outcome.session, now))
        elif not outcome.probed:
            evidence[host] = {"skipped": outcome.reason}
        else:
            evidence[host] = {"unreachable": outcome.reason}
            findings.append(CATALOG.make("mx-smtp-unreachable", key=host,
                                         evidence={"host": host, "port": ctx.smtp_port, "reason": outcome.reason},
                                         detail=f"No SMTP session with {host} on port {ctx.smtp_port}: "
                                                f"{outcome.reason}"))
    return findings, evidence
