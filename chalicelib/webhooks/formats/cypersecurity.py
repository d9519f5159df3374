"""The `cypersecurity` formats: CyperSecurity's payload, event names and `X-Webhook-Signature`.

CyperSecurity's receivers parse the body and HMAC-SHA256 (hex, keyed with the partner's own secret)
a re-serialisation of it: its Python snippet `json.dumps(payload, sort_keys=True)` (sorted keys,
`", "` and `": "` separators, non-ASCII escaped), its Node snippet `JSON.stringify(payload)` (compact,
insertion order, non-ASCII as is). No one signature satisfies both, so an endpoint chooses
(docs/decisions.md): format `cypersecurity` sends the body in the Python serialisation, format
`cypersecurity-node` in the Node one; either way the signature is over the exact bytes sent, so a
receiver that HMACs the raw body agrees too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

PYTHON_FORMAT = "cypersecurity"
NODE_FORMAT = "cypersecurity-node"
SIGNATURE_HEADER = "X-Webhook-Signature"
MAX_BODY_BYTES = 64 * 1024

# Perimeter's event -> CyperSecurity's. `finding.created` (when the core has it) is vulnerability.found;
# scan.cancelled is scan.failed (CyperSecurity has no cancelled state); no self-assessment event.
EVENT_NAMES: dict[str, str] = {
    "scan.started": "scan.started",
    "scan.completed": "scan.completed",
    "scan.failed": "scan.failed",
    "scan.cancelled": "scan.failed",
    "critical.finding": "critical.finding",
    "finding.created": "vulnerability.found",
    "webhook.test": "webhook.test",  # only on an explicit test request
}
FINDING_EVENTS = frozenset({"critical.finding", "finding.created"})


def cvss_of(evidence: Mapping[str, Any]) -> float | None:
    """The CVSS base score the check recorded in its evidence, else None (never estimated)."""
    for name in ("cvss_score", "cvss"):
        value = evidence.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool) and 0 <= value <= 10:
            return float(value)
    return None


def vulnerability(finding: Mapping[str, Any]) -> dict[str, Any]:
    """A finding (as JSON) in CyperSecurity's `vulnerabilities` shape: title, severity, cvss_score, cve_id."""
    evidence = finding.get("evidence")
    return {"title": finding.get("title"), "severity": finding.get("severity"),
            "cvss_score": cvss_of(evidence if isinstance(evidence, Mapping) else {}),
            "cve_id": finding.get("cve")}


def python_serialisation(payload: Any) -> str:
    """What `json.dumps(payload, sort_keys=True)` gives: the bytes the Python snippet signs."""
    return json.dumps(payload, sort_keys=True)


def _as_javascript(value: Any) -> Any:
    """JSON data as JavaScript numbers print: an integral float (`7.0`) is written `7`."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, Mapping):
        return {key: _as_javascript(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_as_javascript(item) for item in value]
    return value


def node_serialisation(payload: Any) -> str:
    """What `JSON.stringify(payload)` gives for JSON data: compact, insertion order, non-ASCII as is."""
    return json.dumps(_as_javascript(payload), separators=(",", ":"), ensure_ascii=False)


def payload(event: str, created_at: datetime, data: Mapping[str, Any]) -> dict[str, Any]:
    """`{event, timestamp, data{scan_id, target, findings_count, critical_count}}` (+ the finding's vulnerability)."""
    fields: dict[str, Any] = {"scan_id": data.get("scan_token"), "target": data.get("target"),
                              "findings_count": data.get("findings_count"),
                              "critical_count": data.get("critical_count")}
    finding = data.get("finding")
    if event in FINDING_EVENTS and isinstance(finding, Mapping):
        fields["vulnerability"] = vulnerability(finding)
    if event == "webhook.test":
        fields = {"webhook_id": data.get("webhook_id"), "message": data.get("message")}
    return {"event": EVENT_NAMES[event], "timestamp": int(created_at.timestamp()), "data": fields}


class CyperSecurityFormat:
    """CyperSecurity deliveries, serialised for one of its two verification snippets."""

    def __init__(self, name: str, serialise: Callable[[Any], str]) -> None:
        self.name = name
        self._serialise = serialise

    def event_name(self, event: str) -> str | None:
        """CyperSecurity's name for `event`; None for events it has no name for (not delivered)."""
        return EVENT_NAMES.get(event)

    def body(self, event_id: str, event: str, created_at: datetime, data: Mapping[str, Any]) -> str:
        """The payload in this format's serialisation; raises ValueError when it is too large."""
        text = self._serialise(payload(event, created_at, data))
        if len(text.encode()) > MAX_BODY_BYTES:
            raise ValueError(f"event body of {len(text.encode())} bytes exceeds {MAX_BODY_BYTES}")
        return text

    def headers(self, *, event_id: str, event: str, delivery_id: str, body: bytes, secrets: Sequence[str],
                timestamp: int) -> dict[str, str]:
        """`X-Webhook-Signature`: hex HMAC-SHA256 of the body with the newest secret (the partner's own)."""
        return {SIGNATURE_HEADER: hmac.new(secrets[0].encode(), body, hashlib.sha256).hexdigest()}


CYPERSECURITY_FORMATS = (CyperSecurityFormat(PYTHON_FORMAT, python_serialisation),
                         CyperSecurityFormat(NODE_FORMAT, node_serialisation))
