"""The `secuscan` webhook format: SecuScan's event names, payload and one `sha256=` signature over the raw body."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime

import pytest

from chalicelib.webhooks.formats import FORMATS
from chalicelib.webhooks.formats.secuscan import SecuScanFormat

FMT = SecuScanFormat()
AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)


def test_it_is_registered_and_names_only_secuscan_events() -> None:
    assert FORMATS["secuscan"].name == "secuscan"
    assert FMT.event_name("group.completed") == "scan.completed"
    assert FMT.event_name("finding.created") == "finding.created"
    assert FMT.event_name("target.changed") == "target.changed"
    assert FMT.event_name("scan.completed") is None and FMT.event_name("critical.finding") is None


def test_the_payload_speaks_secuscan() -> None:
    body = FMT.body("evt_1", "group.completed", AT, {
        "group_id": "scn_1", "status": "partial", "scan_type": "posture", "targets": ["a.example", "b.example"],
        "score": 40, "grade": "F", "findings_count": 3,
        "members": [{"scan_token": "scn_a", "target": "a.example", "status": "complete", "score": 40, "grade": "F"},
                    {"scan_token": "scn_b", "target": "b.example", "status": "failed", "score": None, "grade": None}]})
    payload = json.loads(body)
    assert payload == {"id": "evt_1", "event": "scan.completed", "created_at": "2026-12-07T12:00:00Z", "data": {
        "scan_id": "scn_1", "status": "partial", "scan_type": "easm", "scope": ["a.example", "b.example"],
        "score": 40, "grade": "F", "findings_count": 3,
        "targets": [{"target": "a.example", "status": "completed", "score": 40, "grade": "F"},
                    {"target": "b.example", "status": "failed", "score": None, "grade": None}]}}
    assert body == json.dumps(payload, separators=(",", ":"), sort_keys=True)  # sorted keys, compact
    finding = json.loads(FMT.body("evt_2", "finding.created", AT, {
        "scan_token": "scn_a", "group_id": "scn_1", "target": "a.example",
        "finding": {"id": "fnd_1", "signal": "layer", "code": "tls-old", "severity": "high", "title": "Old TLS",
                    "detail": "TLS 1.0", "remediation": "Disable it", "cwe": "CWE-326"}}))["data"]
    assert finding["scan_id"] == "scn_1" and finding["finding"]["rule_id"] == "tls-old"
    assert finding["finding"]["description"] == "TLS 1.0" and finding["finding"]["status"] == "open"


def test_one_signature_keyed_with_the_newest_secret_and_a_timestamp() -> None:
    body = b'{"event":"scan.completed"}'
    headers = FMT.headers(event_id="evt_1", event="group.completed", delivery_id="whd_1", body=body,
                          secrets=["newest-secret-000001", "older-secret-0000001"], timestamp=1_800_000_000)
    expected = "sha256=" + hmac.new(b"newest-secret-000001", body, hashlib.sha256).hexdigest()
    assert headers["X-Secuscan-Signature"] == expected and "," not in headers["X-Secuscan-Signature"]
    assert headers["X-Secuscan-Timestamp"] == "1800000000" and headers["X-Secuscan-Event"] == "scan.completed"


def test_an_event_without_a_secuscan_name_has_no_body() -> None:
    with pytest.raises(ValueError):
        FMT.body("evt_1", "scan.started", AT, {})
