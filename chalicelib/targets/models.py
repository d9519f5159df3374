"""A registered target: the domain, its challenge token, and what the last verification proved."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel

CHALLENGE_LABEL = "_perimeter-challenge"
WELL_KNOWN_PATH = "/.well-known/perimeter-challenge"
TXT_PREFIX = "perimeter-challenge="


class TargetStatus(StrEnum):
    """`pending` never proven; `verified` proven and unexpired; `expired` proven once, past `expires_at`;
    `lapsed` a later check (a re-check before a scan, or a verify) found the proof gone."""

    PENDING = "pending"
    VERIFIED = "verified"
    EXPIRED = "expired"
    LAPSED = "lapsed"


class VerificationMethod(StrEnum):
    """How control was proven: the TXT record (covers subdomains) or the well-known file (that host only)."""

    DNS = "dns"
    HTTP = "http"


class Target(BaseModel):
    """One domain a tenant registered for active scans; stored under its tenant."""

    target_id: str
    tenant_id: str
    domain: str  # normalised: lower-case IDNA A-labels, no trailing dot
    token: str  # public by nature (published in DNS); random per registration, so per organization
    status: TargetStatus = TargetStatus.PENDING  # as stored: pending, verified or lapsed (expiry is computed)
    method: VerificationMethod | None = None
    created_at: datetime
    updated_at: datetime
    verified_at: datetime | None = None
    expires_at: datetime | None = None
    last_checked_at: datetime | None = None

    @property
    def dns_name(self) -> str:
        """Where the TXT record goes."""
        return f"{CHALLENGE_LABEL}.{self.domain}"

    @property
    def txt_value(self) -> str:
        """The TXT record's value."""
        return f"{TXT_PREFIX}{self.token}"

    @property
    def http_url(self) -> str:
        """Where the well-known file is served (its body is the token)."""
        return f"https://{self.domain}{WELL_KNOWN_PATH}"

    def current_status(self, now: datetime) -> TargetStatus:
        """The status at `now`: a verified target past `expires_at` is `expired`."""
        if self.status is TargetStatus.VERIFIED and (self.expires_at is None or self.expires_at <= now):
            return TargetStatus.EXPIRED
        return self.status

    def is_valid(self, now: datetime) -> bool:
        """True when control is proven and unexpired at `now`."""
        return self.current_status(now) is TargetStatus.VERIFIED

    @property
    def covers_subdomains(self) -> bool:
        """True when the proof extends to every name under the domain (DNS proof only)."""
        return self.method is VerificationMethod.DNS

    def covers(self, host: str) -> bool:
        """True when `host` (normalised) is this domain, or a subdomain of a DNS-verified one."""
        return host == self.domain or (self.covers_subdomains and host.endswith("." + self.domain))
