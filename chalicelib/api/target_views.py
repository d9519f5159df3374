"""Request and response models of the target routes (the OpenAPI document is generated from them)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.targets.models import Target, TargetStatus, VerificationMethod


class RegisterTarget(BaseModel):
    """`POST /v1/targets`: the domain to prove control of (normalised like a scan target)."""

    model_config = ConfigDict(extra="forbid")
    domain: Annotated[str, Field(min_length=1, max_length=300, description=(
        "A domain name; a scheme, path or port is stripped and the name is IDNA-encoded. IP addresses and "
        "names resolving to non-public addresses are refused."))]


class DnsChallenge(BaseModel):
    """Proof by DNS: publish this TXT record. It covers the domain and every subdomain."""

    name: str = Field(description="`_perimeter-challenge.<domain>`")
    type: Literal["TXT"] = "TXT"
    value: str = Field(description="`perimeter-challenge=<token>`")


class HttpChallenge(BaseModel):
    """Proof by HTTPS: serve the token as the whole body at this URL. It covers exactly that host."""

    url: str
    body: str = Field(description="The token; answer 200 with a valid certificate and no redirect to another host.")


class ChallengeView(BaseModel):
    """The challenge of a target: one token, two ways to publish it."""

    token: str = Field(description="256 random bits; public by nature, and different for every organization.")
    dns: DnsChallenge
    http: HttpChallenge


class TargetView(BaseModel):
    """A target: the domain, its challenge and what has been proven."""

    target_id: str
    domain: str
    status: TargetStatus = Field(description="`pending` until proven; `verified`; `expired` after `expires_at`; "
                                             "`lapsed` when a later check found the challenge gone.")
    method: VerificationMethod | None = Field(description="How control was last proven.")
    covers_subdomains: bool = Field(description="True when proven by DNS: active scans may then target subdomains.")
    challenge: ChallengeView
    created_at: datetime
    verified_at: datetime | None
    expires_at: datetime | None = Field(description="When the verification runs out; verify again to renew it "
                                                    "(a successful re-check before a scan renews it too).")
    last_checked_at: datetime | None


class TargetList(BaseModel):
    """A page of targets, newest first."""

    items: list[TargetView]
    next_cursor: str | None


def target_view(target: Target, now: datetime) -> TargetView:
    """The partner-facing view of a target at `now`."""
    return TargetView(
        target_id=target.target_id, domain=target.domain, status=target.current_status(now), method=target.method,
        covers_subdomains=target.covers_subdomains,
        challenge=ChallengeView(token=target.token, dns=DnsChallenge(name=target.dns_name, value=target.txt_value),
                                http=HttpChallenge(url=target.http_url, body=target.token)),
        created_at=target.created_at, verified_at=target.verified_at, expires_at=target.expires_at,
        last_checked_at=target.last_checked_at)
