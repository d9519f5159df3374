"""The `secuscan` format: SecuScan's webhook payload, event names and `X-Secuscan-*` headers.

SecuScan's verification snippet computes `'sha256=' + hex(HMAC-SHA256(secret, raw body))` and compares
it with `X-Secuscan-Signature` using a constant-time comparison of equal-length buffers: so the header
carries exactly one value, keyed with the secret the partner holds (the one it chose at creation,
else the newest `whsec_` secret, as the string shown). `X-Secuscan-Timestamp` (Unix seconds of the
attempt) is for replay protection; the body's own `created_at` is signed with it.

The body: `{"id", "event", "created_at", "data": {...}}`, compact JSON with sorted keys, in SecuScan's
vocabulary: `scan.completed` is sent once per SecuScan scan (Perimeter's `group.completed`, after every
target ended), `finding.created` and `target.changed` per target, with the SecuScan `scan_id`.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from chalicelib.webhooks.formats.perimeter import MAX_BODY_BYTES, iso, json_default

SIGNATURE_HEADER = "X-Secuscan-Signature"
TIMESTAMP_HEADER = "X-Secuscan-Timestamp"
EVENT_HEADER = "X-Secuscan-Event"
DELIVERY_HEADER = "X-Secuscan-Delivery"

# Perimeter event -> SecuScan event; every other Perimeter event is not delivered in this format.
EVENT_NAMES: dict[str, str] = {
    "group.completed": "scan.completed",
    "finding.created": "finding.created",
    "target.changed": "target.changed",
    "webhook.test": "webhook.test",
}
# Perimeter scan and group statuses -> SecuScan's.
STATUSES: dict[str, str] = {
    "pending": "queued", "scanning": "running", "scoring": "running", "running": "running",
    "complete": "completed", "partial": "partial", "failed": "failed", "cancelled": "cancelled",
}
FINDING_FIELDS = ("id", "severity", "title", "cwe", "cve", "product", "version", "cpe", "kev", "ransomware",
                  "evidence")


def sign(secret: str, body: bytes) -> str:
    """`sha256=<hex HMAC-SHA256 of body keyed with the secret's UTF-8 bytes>`."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _scan_id(data: Mapping[str, Any]) -> Any:
    """The SecuScan scan id: the group, else the Perimeter scan (a /v1 scan has no group)."""
    return data.get("group_id") or data.get("scan_token")


def secuscan_finding(finding: Mapping[str, Any], target: str, status: str = "open") -> dict[str, Any]:
    """A Perimeter finding in SecuScan's words (also the findings list's item)."""
    return {
        **{key: finding.get(key) for key in FINDING_FIELDS},
        "target": target, "status": status, "category": finding.get("signal"), "rule_id": finding.get("code"),
        "description": finding.get("detail", ""), "remediation": finding.get("remediation", ""),
    }


def event_data(event: str, data: Mapping[str, Any]) -> dict[str, Any]:
    """The `data` object of a SecuScan event from Perimeter's event fields."""
    if event == "group.completed":
        return {"scan_id": data.get("group_id"), "status": STATUSES.get(str(data.get("status")), "failed"),
                "scan_type": "easm" if data.get("scan_type") == "posture" else data.get("scan_type"),
                "scope": list(data.get("targets") or []), "score": data.get("score"), "grade": data.get("grade"),
                "findings_count": data.get("findings_count", 0),
                "targets": [{"target": m.get("target"), "status": STATUSES.get(str(m.get("status")), "failed"),
                             "score": m.get("score"), "grade": m.get("grade")} for m in data.get("members") or []]}
    if event == "finding.created":
        return {"scan_id": _scan_id(data), "target": data.get("target"),
                "finding": secuscan_finding(data.get("finding") or {}, str(data.get("target")))}
    if event == "target.changed":
        previous = data.get("previous") or {}
        return {"scan_id": _scan_id(data), "target": data.get("target"),
                "previous": {"score": previous.get("score"), "grade": previous.get("grade"),
                             "completed_at": previous.get("completed_at")},
                "current": {"score": data.get("score"), "grade": data.get("grade")}}
    return {key: value for key, value in data.items()}


class SecuScanFormat:
    """SecuScan deliveries: `{id, event, created_at, data}` and X-Secuscan-Signature / -Timestamp / -Event."""

    name = "secuscan"

    def event_name(self, event: str) -> str | None:
        """SecuScan's name for `event`, or None (not delivered to SecuScan endpoints)."""
        return EVENT_NAMES.get(event)

    def body(self, event_id: str, event: str, created_at: datetime, data: Mapping[str, Any]) -> str:
        """The event in SecuScan's payload; raises ValueError when it exceeds MAX_BODY_BYTES or has no name."""
        name = EVENT_NAMES.get(event)
        if name is None:
            raise ValueError(f"the secuscan format has no event for {event!r}")
        body = json.dumps({"id": event_id, "event": name, "created_at": iso(created_at),
                           "data": event_data(event, data)},
                          separators=(",", ":"), sort_keys=True, default=json_default, ensure_ascii=False)
        if len(body.encode()) > MAX_BODY_BYTES:
            raise ValueError(f"event body of {len(body.encode())} bytes exceeds {MAX_BODY_BYTES}")
        return body

    def headers(self, *, event_id: str, event: str, delivery_id: str, body: bytes, secrets: Sequence[str],
                timestamp: int) -> dict[str, str]:
        """One signature (the snippet compares one value), the attempt's timestamp, event and delivery ids."""
        return {
            SIGNATURE_HEADER: sign(secrets[0], body),
            TIMESTAMP_HEADER: str(timestamp),
            EVENT_HEADER: EVENT_NAMES.get(event, event),
            DELIVERY_HEADER: delivery_id,
        }
