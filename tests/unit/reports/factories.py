"""Builders for scans and branding used by the report tests and by bench/bench_pdf.py."""

from __future__ import annotations

import struct
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.reports.branding import Branding, ContactCard
from chalicelib.scans.models import (
    Finding,
    Scan,
    ScanStatus,
    ScanType,
    Severity,
    SignalKey,
    SignalResult,
    SignalStatus,
)

T0 = datetime(2026, 4, 20, 12, 30, 0, tzinfo=UTC)
SIGNALS = (SignalKey.SCAN, SignalKey.BREACH, SignalKey.REPUTATION, SignalKey.MAIL, SignalKey.LAYER, SignalKey.WEB)
SEVERITIES = (Severity.CRITICAL, Severity.HIGH, Severity.MEDIUM, Severity.LOW, Severity.INFO)
MAX_SCORE = {"scan": 25, "breach": 20, "reputation": 20, "mail": 20, "layer": 15, "web": 0}
SCORES = {"scan": 18, "breach": 14, "reputation": 20, "mail": 12, "layer": 11, "web": 0}

_PEM_LINE = "MIIDdzCCAl+gAwIBAgIEAgAAuTANBgkqhkiG9w0BAQUFADBaMQswCQYDVQQGEwJJ"
_PEM = "-----BEGIN CERTIFICATE-----\n" + "\n".join([_PEM_LINE] * 24) + "\n-----END CERTIFICATE-----"

# (code, title template, detail, remediation, cwe, evidence factory) per signal.
_TEMPLATES: dict[SignalKey, tuple[str, str, str, str, str | None]] = {
    SignalKey.SCAN: (
        "scan.port.exposed", "Port {n}/tcp exposes a remote administration service",
        "The service answered a TCP connection from the internet and identified itself in its banner.",
        "Restrict the port to a VPN or an allow-list of management addresses, or close it.", "CWE-284",
    ),
    SignalKey.BREACH: (
        "breach.accounts", "{n} accounts found in a credential breach",
        "Addresses at the domain appear in a published breach corpus with passwords or hashes.",
        "Force a password reset for the affected accounts and enforce multi-factor authentication.", "CWE-521",
    ),
    SignalKey.REPUTATION: (
        "reputation.listed", "Address listed on blocklist zone {n}",
        "A mail or web address of the domain is listed on a DNS blocklist used by receiving servers.",
        "Find the cause of the listing (compromised host, open relay), fix it and request delisting.", None,
    ),
    SignalKey.MAIL: (
        "mail.dmarc.weak", "DMARC policy check {n} does not reject spoofed mail",
        "The DMARC record exists but its policy is none, so forged messages are still delivered.",
        "Move the DMARC policy to quarantine and then reject once reports show legitimate mail aligns.",
        "CWE-290",
    ),
    SignalKey.LAYER: (
        "layer.tls.legacy", "TLS endpoint {n} accepts a legacy protocol version",
        "The server completed a handshake using TLS 1.0, which lacks modern cipher suites.",
        "Disable TLS 1.0 and 1.1 on the endpoint and keep TLS 1.2 and 1.3 enabled.", "CWE-326",
    ),
    SignalKey.WEB: (
        "web.header.missing", "Security header missing on page {n}",
        "The response lacks Strict-Transport-Security and Content-Security-Policy headers.",
        "Add HSTS with a long max-age and a Content-Security-Policy suited to the site.", "CWE-693",
    ),
}


def _evidence(signal: SignalKey, n: int) -> dict[str, Any]:
    if signal is SignalKey.SCAN:
        return {"port": 2000 + n, "protocol": "tcp", "banner": f"SSH-2.0-OpenSSH_7.4 build-{n}"}
    if signal is SignalKey.BREACH:
        return {"breaches": [{"name": f"Breach{n}", "date": "2024-02-01", "accounts": n * 3}]}
    if signal is SignalKey.REPUTATION:
        return {"zone": f"zen{n}.blocklist.example", "answer": ["127.0.0.2"], "address": "198.51.100.7"}
    if signal is SignalKey.MAIL:
        return {"record": "v=DMARC1; p=none; rua=mailto:dmarc@example.com", "query": "_dmarc.example.com TXT"}
    if signal is SignalKey.LAYER:
        return {"certificate": _PEM, "protocols": ["TLSv1", "TLSv1.2"], "not_after": "2026-09-01T00:00:00Z"}
    return {"headers": {"server": "nginx", "content-type": "text/html"}, "url": f"https://example.com/p{n}"}


def make_findings(count: int = 40) -> list[Finding]:
    """`count` findings cycling over every signal and severity (all 30 pairs once count >= 30)."""
    findings = []
    for i in range(count):
        signal = SIGNALS[i % len(SIGNALS)]
        severity = SEVERITIES[i % len(SEVERITIES)]
        code, title, detail, remediation, cwe = _TEMPLATES[signal]
        findings.append(Finding(
            id=f"f-{i:03d}", signal=signal, code=code, severity=severity, title=title.format(n=100 + i),
            detail=detail, remediation=remediation, cwe=cwe, evidence=_evidence(signal, i),
        ))
    return findings


def make_scan(
    findings: list[Finding] | None = None,
    *,
    target: str = "example.com",
    not_tested: dict[str, str] | None = None,
    score: int | None = None,
    ready_threshold: int = 65,
    coverage: dict[str, Any] | None = None,
) -> Scan:
    """A scored posture scan; `not_tested` maps signal names to the reason they could not run."""
    findings = make_findings() if findings is None else findings
    not_tested = not_tested or {}
    signals: dict[str, SignalResult] = {}
    for key in SIGNALS:
        if key.value in not_tested:
            signals[key.value] = SignalResult(
                status=SignalStatus.NOT_TESTED, max_score=MAX_SCORE[key.value], error=not_tested[key.value],
            )
            continue
        signals[key.value] = SignalResult(
            status=SignalStatus.COMPLETE, score=SCORES[key.value], max_score=MAX_SCORE[key.value],
            findings=[f for f in findings if f.signal is key],
        )
    total = sum(s.score or 0 for s in signals.values()) if score is None else score
    return Scan(
        scan_id="scn_01JZ4Q7W3T8M2K5XH9RBDV6NPC", tenant_id="t_demo", target=target,
        scan_type=ScanType.POSTURE, name="Quote intake 2026-04", tags=["broker:acme", "renewal"],
        timeout_seconds=600, status=ScanStatus.SCORING, progress=90, created_at=T0, updated_at=T0,
        started_at=T0 + timedelta(seconds=2), completed_at=T0 + timedelta(seconds=31), signals=signals,
        score=total, ready_threshold=ready_threshold, scoring_version="2026.04.1", coverage=coverage,
        findings_count=len(findings),
    )


def png_bytes(
    width: int = 240, height: int = 80, rgb: tuple[int, int, int] = (31, 58, 95), noise: bool = False,
) -> bytes:
    """A valid RGB PNG; `noise` makes it incompressible (for oversize tests)."""
    import random

    rng = random.Random(7)
    rows = []
    for y in range(height):
        if noise:
            row = bytes(rng.getrandbits(8) for _ in range(width * 3))
        else:
            shade = (y * 2) % 60
            row = bytes((min(255, rgb[0] + shade), rgb[1], rgb[2])) * width
        rows.append(b"\x00" + row)

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"".join(rows), 9))
            + chunk(b"IEND", b""))


def make_branding(logo: bytes | None = None, **overrides: Any) -> Branding:
    """Partner branding with a contact card and, by default, a generated PNG logo."""
    fields: dict[str, Any] = {
        "partner_name": "Harbour Underwriting Partners",
        "contact": ContactCard(
            name="Jordan Ellis", role="Cyber underwriting lead", email="jordan.ellis@harbour-uw.example",
            phone="+44 20 7946 0958", website="harbour-uw.example/cyber",
        ),
        "primary_color": "#0B4F6C",
        "accent_color": "#F2A541",
        "logo": png_bytes() if logo is None else logo,
    }
    fields.update(overrides)
    return Branding(**fields)
