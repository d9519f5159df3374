"""The `Client` calls for SBOMs, targets (proof of control) and audit events, as a mixin."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any, Callable, TypeVar
from urllib.parse import quote

from perimeter_client._transport import Transport
from perimeter_client.errors import TransportError
from perimeter_client.models import Page
from perimeter_client.resources import AuditEvent, SbomLink, Target

T = TypeVar("T")


class ResourcesMixin:
    """SBOM, target and audit-event calls; the class mixing it in provides `transport`."""

    transport: Transport

    # -- SBOM ----------------------------------------------------------------------------

    def sbom_link(self, token: str) -> SbomLink:
        """The signed SBOM link of a complete container scan as JSON (URL, expiry, SHA-256 of the bytes).

        Raises NotFoundError (`sbom-not-available` for other scan types) and ConflictError while the scan runs.
        """
        return SbomLink.from_dict(self.transport.json("GET", f"/v1/scans/{seg(token)}/sbom"))

    def download_sbom(self, token: str) -> bytes:
        """The SBOM's bytes, checked against the link's SHA-256 (the key is not sent to the signed link).

        Raises what `sbom_link` raises, and TransportError when the bytes do not match their digest.
        """
        link = self.sbom_link(token)
        data = self.transport.request("GET", link.url, auth=False, headers={"Accept": "*/*"}).content
        if hashlib.sha256(data).hexdigest() != link.sha256.lower():
            raise TransportError(f"the SBOM of scan {token} does not match its SHA-256")
        return data

    def get_sbom(self, token: str) -> dict[str, Any]:
        """A complete container scan's CycloneDX SBOM, decoded (raises as `download_sbom`)."""
        decoded = json.loads(self.download_sbom(token))
        if not isinstance(decoded, dict):
            raise TransportError(f"the SBOM of scan {token} is not a JSON object")
        return decoded

    # -- targets -------------------------------------------------------------------------

    def create_target(self, domain: str, *, idempotency_key: str | None = None) -> Target:
        """Register a domain for active scans; the answer carries its challenge (the same domain again: the
        same target). Raises ValidationError (`target-not-allowed` for a non-public domain)."""
        data = self.transport.json("POST", "/v1/targets", json={"domain": domain}, idempotency_key=idempotency_key)
        return Target.from_dict(data)

    def get_target(self, target_id: str) -> Target:
        """Read a target and its challenge."""
        return Target.from_dict(self.transport.json("GET", f"/v1/targets/{seg(target_id)}"))

    def list_targets(self, *, limit: int | None = None, cursor: str | None = None) -> Page[Target]:
        """One page of targets, newest first."""
        data = self.transport.json("GET", "/v1/targets", params={"limit": limit, "cursor": cursor})
        return Page.from_dict(data, Target.from_dict)

    def iter_targets(self, *, page_size: int | None = None) -> Iterator[Target]:
        """Every target, newest first."""
        return pages(lambda cursor: self.list_targets(limit=page_size, cursor=cursor))

    def verify_target(self, target_id: str, *, idempotency_key: str | None = None) -> Target:
        """Check the challenge now (the TXT record, then the HTTPS file); the verified target.

        Raises ValidationError with code `target-verification-failed` when neither is published; its
        `problem["checks"]` says what each check saw.
        """
        data = self.transport.json("POST", f"/v1/targets/{seg(target_id)}/verify", idempotency_key=idempotency_key)
        return Target.from_dict(data)

    def delete_target(self, target_id: str) -> None:
        """Forget a target (active scans of it are refused from then on)."""
        self.transport.request("DELETE", f"/v1/targets/{seg(target_id)}")

    # -- audit events --------------------------------------------------------------------

    def list_audit_events(self, *, action: str | None = None, actor: str | None = None,
                          since: datetime | str | None = None, limit: int | None = None,
                          cursor: str | None = None) -> Page[AuditEvent]:
        """One page of audit events, newest first (an admin key); `actor` is a key or member id."""
        when = since.isoformat() if isinstance(since, datetime) else since
        params = {"action": action, "actor": actor, "since": when, "limit": limit, "cursor": cursor}
        return Page.from_dict(self.transport.json("GET", "/v1/audit-events", params=params), AuditEvent.from_dict)

    def iter_audit_events(self, *, action: str | None = None, actor: str | None = None,
                          since: datetime | str | None = None, page_size: int | None = None) -> Iterator[AuditEvent]:
        """Every audit event matching the filters, newest first."""
        return pages(lambda cursor: self.list_audit_events(action=action, actor=actor, since=since,
                                                           limit=page_size, cursor=cursor))


def seg(value: str) -> str:
    """A path segment, percent-encoded."""
    return quote(value, safe="")


def pages(fetch: Callable[[str | None], Page[T]]) -> Iterator[T]:
    """Every item of every page, fetching the next page when the previous one is used up."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        yield from page.items
        if not page.next_cursor or page.next_cursor == cursor:
            return
        cursor = page.next_cursor
