"""Typed views of targets (proof of control for active scans), SBOM links and audit events.

Like `models`, every model keeps the decoded JSON it was built from in `raw`; tests/clients checks each
field against the served OpenAPI document.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from perimeter_client.models import SDK_ONLY, _opt_str, _time, parse_time

TARGET_STATUSES = ("pending", "verified", "expired", "lapsed")


@dataclass(frozen=True)
class DnsChallenge:
    """Proof by DNS: publish this TXT record (covers the domain and its subdomains)."""

    name: str
    type: str
    value: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DnsChallenge:
        """Build from the API's JSON."""
        return cls(name=str(data["name"]), type=str(data.get("type") or "TXT"), value=str(data["value"]), raw=data)


@dataclass(frozen=True)
class HttpChallenge:
    """Proof by HTTPS: serve `body` as the whole answer at `url` (covers exactly that host)."""

    url: str
    body: str
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> HttpChallenge:
        """Build from the API's JSON."""
        return cls(url=str(data["url"]), body=str(data["body"]), raw=data)


@dataclass(frozen=True)
class Challenge:
    """A target's challenge: one token, two ways to publish it."""

    token: str
    dns: DnsChallenge
    http: HttpChallenge
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Challenge:
        """Build from the API's JSON."""
        return cls(token=str(data["token"]), dns=DnsChallenge.from_dict(data["dns"]),
                   http=HttpChallenge.from_dict(data["http"]), raw=data)


@dataclass(frozen=True)
class Target:
    """A domain registered for active (`webapp`) scans, its challenge and what has been proven."""

    target_id: str
    domain: str
    status: str  # pending, verified, expired, lapsed
    challenge: Challenge
    created_at: datetime
    method: str | None = None  # dns or http, once proven
    covers_subdomains: bool = False
    verified_at: datetime | None = None
    expires_at: datetime | None = None
    last_checked_at: datetime | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        """Build from the API's JSON."""
        return cls(
            target_id=str(data["target_id"]), domain=str(data["domain"]), status=str(data["status"]),
            challenge=Challenge.from_dict(data["challenge"]), created_at=_time(data["created_at"]),
            method=_opt_str(data.get("method")), covers_subdomains=bool(data.get("covers_subdomains", False)),
            verified_at=parse_time(data.get("verified_at")), expires_at=parse_time(data.get("expires_at")),
            last_checked_at=parse_time(data.get("last_checked_at")), raw=data)

    @property
    def verified(self) -> bool:
        """True while control is proven and unexpired."""
        return self.status == "verified"


@dataclass(frozen=True)
class SbomLink:
    """A short-lived link to a container scan's CycloneDX SBOM and the SHA-256 of its bytes."""

    url: str
    expires_at: datetime
    sha256: str
    format: str = "cyclonedx+json"
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SbomLink:
        """Build from the API's JSON."""
        return cls(url=str(data["url"]), expires_at=_time(data["expires_at"]), sha256=str(data["sha256"]),
                   format=str(data.get("format") or "cyclonedx+json"), raw=data)


@dataclass(frozen=True)
class AuditEvent:
    """Who did what, when, with which key (admin keys only)."""

    event_id: str
    action: str
    status: int
    occurred_at: datetime
    actor_key_id: str | None = None
    actor_member_id: str | None = None
    target: dict[str, str] | None = None
    request_id: str | None = None
    source_ip: str | None = None
    detail: str | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False, metadata=SDK_ONLY)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AuditEvent:
        """Build from the API's JSON."""
        target = data.get("target")
        return cls(
            event_id=str(data["event_id"]), action=str(data["action"]), status=int(data["status"]),
            occurred_at=_time(data["occurred_at"]), actor_key_id=_opt_str(data.get("actor_key_id")),
            actor_member_id=_opt_str(data.get("actor_member_id")),
            target={str(k): str(v) for k, v in target.items()} if isinstance(target, dict) else None,
            request_id=_opt_str(data.get("request_id")), source_ip=_opt_str(data.get("source_ip")),
            detail=_opt_str(data.get("detail")), raw=data)
