"""The `certiq` format: CertIQ's webhook payload, event names and `X-CertIQ-*` headers.

CertIQ signs `sha256=<hex HMAC-SHA256 of the raw body>` keyed with the webhook secret, and its Ruby,
Node and Python snippets all hash the raw bytes received: any serialisation verifies, so the body
is compact JSON in the documented key order. The report URL is the CertIQ dialect's report route,
which the partner fetches with its key (it answers the PDF itself).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chalicelib.webhooks.formats.perimeter import MAX_BODY_BYTES, json_default
from chalicelib.webhooks.signing import body_signature

EVENT_HEADER = "X-CertIQ-Event"
SIGNATURE_HEADER = "X-CertIQ-Signature"
DIALECT_PATH = "/api/v1"  # chalicelib.api.dialects.certiq's base path (api imports webhooks, not the reverse)

# Perimeter's event -> CertIQ's. Events CertIQ has no name for are not delivered to a certiq endpoint.
EVENTS: dict[str, str] = {
    "scan.completed": "scan.completed",
    "scan.self_assessment_completed": "scan.self_assessment_completed",  # the insured submitted (DESIGN.md 9)
    "webhook.test": "webhook.test",
}
# Perimeter's scan status -> CertIQ's (as in the dialect: a cancelled scan reads `failed`).
STATUSES: dict[str, str] = {"pending": "pending", "scanning": "scanning", "scoring": "scoring",
                            "complete": "complete", "failed": "failed", "cancelled": "failed"}


def _utc(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def dialect_report_url(data: Mapping[str, Any]) -> str | None:
    """`<base>/api/v1/scans/<token>/report` from the event's /v1 status URL; None without a report."""
    token, status_url = data.get("scan_token"), data.get("status_url")
    if not data.get("report_url") or not isinstance(token, str) or not isinstance(status_url, str):
        return None
    base = status_url.removesuffix(f"/v1/scans/{token}")
    return None if base == status_url else f"{base}{DIALECT_PATH}/scans/{token}/report"


def scan_payload(event: str, created_at: datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    """The documented `scan.completed` payload (also used for `scan.self_assessment_completed`).

    `completed_at` is when the event was raised: Finalize raises `scan.completed` as the scan completes.
    """
    return {
        "event": event,
        "scan_token": data.get("scan_token"),
        "status": STATUSES.get(str(data.get("status")), data.get("status")),
        "score": data.get("score"),
        "combined_score": data.get("combined_score"),
        "sa_complete": bool(data.get("sa_complete", False)),
        "grade": data.get("grade"),
        "report_url": dialect_report_url(data),
        "completed_at": _utc(created_at),
    }


class CertiqFormat:
    """CertIQ's payloads, with X-CertIQ-Event and X-CertIQ-Signature (sha256=hex of the raw body)."""

    name = "certiq"

    def event_name(self, event: str) -> str | None:
        """CertIQ's name for `event`, or None (not delivered)."""
        return EVENTS.get(event)

    def body(self, event_id: str, event: str, created_at: datetime, data: Mapping[str, Any]) -> str:
        """Compact JSON of the CertIQ payload; raises ValueError for an event CertIQ lacks or a too-large body."""
        name = EVENTS.get(event)
        if name is None:
            raise ValueError(f"the certiq format has no event {event!r}")
        if event == "webhook.test":
            payload: dict[str, Any] = {"event": name, "scan_token": None, "message": data.get("message"),
                                       "sent_at": _utc(created_at)}
        else:
            payload = scan_payload(name, created_at, data)
        body = json.dumps(payload, separators=(",", ":"), default=json_default, ensure_ascii=False)
        if len(body.encode()) > MAX_BODY_BYTES:
            raise ValueError(f"event body of {len(body.encode())} bytes exceeds {MAX_BODY_BYTES}")
        return body

    def headers(self, *, event_id: str, event: str, delivery_id: str, body: bytes, secrets: Sequence[str],
                timestamp: int) -> dict[str, str]:
        """X-CertIQ-Event and one X-CertIQ-Signature, keyed with the newest secret (CertIQ compares one value)."""
        return {EVENT_HEADER: EVENTS.get(event, event), SIGNATURE_HEADER: body_signature(secrets[0], body)}
