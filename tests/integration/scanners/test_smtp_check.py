"""SMTP on each MX: the mail check (and smtp_findings) against SMTP doubles the lab's DNS points MX records at.

Each test adds its own names to the lab zone and starts its own double on a random 127.X.Y.Z, so the
double's port is the context's smtp_port.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import pytest

from chalicelib.scanners import mail
from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.smtp import smtp_findings
from chalicelib.scans.models import Finding, Severity, SignalStatus
from tests.support.lab import Lab
from tests.support.services import SmtpServer, loopback_address
from tests.support.tlsserver import server_context


@pytest.fixture
def mx(lab: Lab) -> Iterator[Any]:
    """`mx(cert=...)` starts an SMTP double and publishes a domain whose one MX is it; returns (domain, host, server).

    cert: "valid" (lab CA, MX name), "none" (no STARTTLS), "expired", "selfsigned", "wrongname".
    """
    started: list[SmtpServer] = []

    def make(cert: str = "valid") -> tuple[str, str, SmtpServer]:
        tag = f"p{random.randrange(1 << 30):x}"
        domain, host = f"{tag}.smtp.test", f"mx1.{tag}.smtp.test"
        issued = {
            "valid": lambda: lab.ca.issue(host),
            "expired": lambda: lab.ca.issue(host, days=30, not_before_days=-60),
            "selfsigned": lambda: lab.ca.issue(host, self_signed=True),
            "wrongname": lambda: lab.ca.issue(f"other.{tag}.test"),
        }
        context = server_context(issued[cert]()) if cert != "none" else None
        server = SmtpServer(context=context).start()
        started.append(server)
        lab.dns.resolver.update({domain: [("MX", f"10 {host}"), ("TXT", "v=spf1 -all")],
                                 host: [("A", server.host)]})
        return domain, host, server

    yield make
    for server in started:
        server.stop()


def context(lab: Lab, domain: str, server: SmtpServer, **overrides: Any) -> ScanContext:
    return lab.context(domain, smtp_port=server.port, **overrides)


def mx_findings(findings: list[Finding]) -> dict[str, Finding]:
    return {f.code: f for f in findings if f.code.startswith("mx-") and f.code != "mx-unresolvable"}


def test_an_mx_with_starttls_and_a_valid_certificate_has_no_smtp_finding(lab: Lab, mx: Any) -> None:
    domain, host, server = mx("valid")
    result = mail.run(domain, context(lab, domain, server))
    assert result.status is SignalStatus.COMPLETE
    assert mx_findings(result.findings) == {}
    seen = result.findings[-1].evidence["smtp"][host]
    assert seen["starttls"] and seen["trusted"] is True and seen["tls_version"] in ("TLSv1.2", "TLSv1.3")
    assert "ESMTP Postfix" in seen["greeting"] and "STARTTLS" in seen["capabilities"]
    assert f"CN={host}" in seen["certificate"]["subject"] and seen["certificate"]["not_after"]
    verbs = [c.split(" ")[0].upper() for c in server.wait_idle().commands]
    assert verbs == ["EHLO", "STARTTLS", "QUIT"]  # one session, never MAIL FROM


def test_an_mx_without_starttls_is_a_high_finding_in_the_mail_signal(lab: Lab, mx: Any) -> None:
    domain, host, server = mx("none")
    result = mail.run(domain, context(lab, domain, server))
    found = mx_findings(result.findings)
    assert list(found) == ["mx-no-starttls"]
    finding = found["mx-no-starttls"]
    assert finding.severity is Severity.HIGH and finding.evidence["host"] == host
    assert "STARTTLS" not in finding.evidence["capabilities"] and "PIPELINING" in finding.evidence["capabilities"]
    assert [c.split(" ")[0] for c in server.wait_idle().commands] == ["EHLO", "QUIT"]


def test_an_expired_mx_certificate_is_invalid(lab: Lab, mx: Any) -> None:
    domain, host, server = mx("expired")
    findings, _ = smtp_findings([host], context(lab, domain, server))
    found = mx_findings(findings)
    assert list(found) == ["mx-cert-invalid"]
    assert found["mx-cert-invalid"].severity is Severity.MEDIUM and "expired" in found["mx-cert-invalid"].detail
    assert server.wait_idle().accepted == 1  # the chain verified (clock ignored): no second session


def test_a_self_signed_mx_certificate_is_invalid_and_read_in_a_second_session(lab: Lab, mx: Any) -> None:
    domain, host, server = mx("selfsigned")
    findings, evidence = smtp_findings([host], context(lab, domain, server))
    found = mx_findings(findings)
    assert list(found) == ["mx-cert-invalid"] and "self-signed" in found["mx-cert-invalid"].detail
    assert evidence[host]["trusted"] is False and f"CN={host}" in evidence[host]["certificate"]["issuer"]
    assert server.wait_idle().accepted == 2


def test_a_certificate_for_another_name_is_a_low_name_mismatch(lab: Lab, mx: Any) -> None:
    domain, host, server = mx("wrongname")
    findings, _ = smtp_findings([host], context(lab, domain, server))
    found = mx_findings(findings)
    assert list(found) == ["mx-cert-name-mismatch"]
    assert found["mx-cert-name-mismatch"].severity is Severity.LOW and host in found["mx-cert-name-mismatch"].detail


def test_an_mx_where_nothing_answers_is_info_and_the_check_completes(lab: Lab, mx: Any) -> None:
    domain, host, server = mx("valid")
    lab.dns.resolver.update({host: [("A", loopback_address())]})  # nothing listens there
    result = mail.run(domain, context(lab, domain, server))
    assert result.status is SignalStatus.COMPLETE
    found = mx_findings(result.findings)
    assert list(found) == ["mx-smtp-unreachable"] and found["mx-smtp-unreachable"].severity is Severity.INFO
    assert server.accepted == 0


def test_a_guard_refused_mx_is_never_connected_to(lab: Lab, mx: Any) -> None:
    domain, host, server = mx("none")
    findings, evidence = smtp_findings([host], context(lab, domain, server, exempt=False))
    assert findings == [] and "target guard" in evidence[host]["skipped"]
    assert server.accepted == 0


def test_at_most_three_mx_hosts_are_probed(lab: Lab, mx: Any) -> None:
    domain, host, server = mx("none")
    findings, evidence = smtp_findings([host, host.upper(), *(f"mx{i}.nowhere.test" for i in range(5))],
                                       context(lab, domain, server))
    assert list(evidence) == [host, "mx0.nowhere.test", "mx1.nowhere.test"]
    assert [f.code for f in findings] == ["mx-no-starttls"]  # unresolvable hosts are the MX check's business
