"""The `certix` format: deliveries as Cert-IX's Scan API sends them (docs/migrating.md, Cert-IX).

Payload `{"id", "event", "timestamp", "data": {"scanId", "scanType", "status", "resultCount", "error", ...}}`
in camelCase with Cert-IX's status and scan-type words; `X-Webhook-Signature: sha256=<hex>` is the
HMAC-SHA256 of the raw body keyed with the secret text, which is what Cert-IX's verification snippets
(Python, Go, Node) compute, so the body is sent as signed and never re-serialised by them. One
signature only (the snippets compare the whole header value): the newest secret signs.

The vocabulary shared with the Cert-IX dialect (chalicelib/api/dialects/certix.py) lives here, the
lower layer: statuses and scan types as Cert-IX names them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chalicelib.webhooks.formats.perimeter import MAX_BODY_BYTES, iso, json_default
from chalicelib.webhooks.signing import body_signature

NAME = "certix"
SIGNATURE_HEADER = "X-Webhook-Signature"
EVENT_HEADER = "X-Webhook-Event"
DELIVERY_HEADER = "X-Webhook-Delivery"

# Perimeter's scan status -> Cert-IX's (terminal: completed, failed, cancelled).
STATUSES: dict[str, str] = {
    "pending": "queued", "scanning": "running", "scoring": "running",
    "complete": "completed", "failed": "failed", "cancelled": "cancelled",
}
# Perimeter's scan type -> Cert-IX's `scanType`; types Cert-IX has no word for keep Perimeter's name.
SCAN_TYPES: dict[str, str] = {"ports": "nmap", "container": "trivy", "webapp": "zap"}

# Perimeter's event -> Cert-IX's; events absent here are not delivered to a certix endpoint.
EVENTS: dict[str, str] = {
    "scan.started": "scan.started", "scan.completed": "scan.completed", "scan.failed": "scan.failed",
    "scan.cancelled": "scan.cancelled", "webhook.test": "webhook.test",
}


def vendor_status(status: str) -> str:
    """Cert-IX's word for a Perimeter scan status (an unknown one passes through)."""
    return STATUSES.get(status, status)


def vendor_scan_type(scan_type: str) -> str:
    """Cert-IX's `scanType` for a Perimeter scan type."""
    return SCAN_TYPES.get(scan_type, scan_type)


def _scan_data(data: Mapping[str, Any]) -> dict[str, Any]:
    error = data.get("error")
    return {
        "scanId": data.get("scan_token"),
        "scanType": vendor_scan_type(str(data.get("scan_type", ""))),
        "target": data.get("target"),
        "status": vendor_status(str(data.get("status", ""))),
        "resultCount": int(data.get("findings_count") or 0),
        "error": error.get("message") if isinstance(error, dict) else None,
        "errorCode": error.get("code") if isinstance(error, dict) else None,
        "score": data.get("score"),
        "grade": data.get("grade"),
        "ready": data.get("ready"),
        "reportUrl": data.get("report_url"),
    }


class CertixFormat:
    """Cert-IX's payload, event names and `X-Webhook-Signature`."""

    name = NAME

    def event_name(self, event: str) -> str | None:
        """Cert-IX's name for `event`; None for events Cert-IX has no name for (critical.finding, ...)."""
        return EVENTS.get(event)

    def body(self, event_id: str, event: str, created_at: datetime, data: Mapping[str, Any]) -> str:
        """The Cert-IX payload; raises ValueError for an event it has no name for or a too-large body."""
        name = self.event_name(event)
        if name is None:
            raise ValueError(f"the certix format has no event for {event!r}")
        if event == "webhook.test":
            payload = {"webhookId": data.get("webhook_id"), "message": data.get("message")}
        else:
            payload = _scan_data(data)
        body = json.dumps({"id": event_id, "event": name, "timestamp": iso(created_at), "data": payload},
                          separators=(",", ":"), default=json_default, ensure_ascii=False)
        if len(body.encode()) > MAX_BODY_BYTES:
            raise ValueError(f"event body of {len(body.encode())} bytes exceeds {MAX_BODY_BYTES}")
        return body

    def headers(self, *, event_id: str, event: str, delivery_id: str, body: bytes, secrets: Sequence[str],
                timestamp: int) -> dict[str, str]:
        """`X-Webhook-Signature` (newest secret), `X-Webhook-Event` and `X-Webhook-Delivery`."""
        return {
            SIGNATURE_HEADER: body_signature(secrets[0], body),
            EVENT_HEADER: EVENTS.get(event, event),
            DELIVERY_HEADER: delivery_id,
        }
