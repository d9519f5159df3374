"""A scripted challenge check: what the TXT record and the well-known file show, per domain, set by the test."""

from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.targets.challenge import CheckReport, DnsEvidence, HttpEvidence
from chalicelib.targets.models import CHALLENGE_LABEL, TXT_PREFIX, WELL_KNOWN_PATH


@dataclass
class Site:
    """What one domain publishes: TXT values at the challenge name and the well-known body (None: 404)."""

    txt: list[str] = field(default_factory=list)
    body: str | None = None
    dns_down: bool = False
    web_down: bool = False


class ScriptedCheck:
    """The ChallengeCheck port from a table of sites; unknown domains publish nothing. Records each call."""

    def __init__(self) -> None:
        self.sites: dict[str, Site] = {}
        self.calls: list[str] = []

    def site(self, domain: str) -> Site:
        return self.sites.setdefault(domain, Site())

    def publish_txt(self, domain: str, token: str) -> None:
        self.site(domain).txt.append(f"{TXT_PREFIX}{token}")

    def check(self, domain: str, token: str) -> CheckReport:
        self.calls.append(domain)
        site = self.sites.get(domain, Site())
        name, expected = f"{CHALLENGE_LABEL}.{domain}", f"{TXT_PREFIX}{token}"
        if site.dns_down:
            dns = DnsEvidence(name, expected, error="timed out")
        else:
            dns = DnsEvidence(name, expected, tuple(site.txt), passed=expected in site.txt)
        if dns.passed:
            return CheckReport(dns, None)
        url = f"https://{domain}{WELL_KNOWN_PATH}"
        if site.web_down:
            http = HttpEvidence(url, error="connect: refused")
        elif site.body is None:
            http = HttpEvidence(url, 404, error="answered 404", conclusive=True)
        else:
            http = HttpEvidence(url, 200, passed=site.body == token, conclusive=True)
        return CheckReport(dns, http)
