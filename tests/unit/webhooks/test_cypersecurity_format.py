"""CyperSecurity's webhook formats: event names, payload, and bodies each verification snippet re-serialises exactly."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from chalicelib.webhooks.formats import get_format
from chalicelib.webhooks.formats.cypersecurity import NODE_FORMAT, PYTHON_FORMAT
from tests.contract.clients.cypersecurity import verify_webhook, verify_webhook_node

AT = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
SECRET = "a-partner-secret-0001"
FINDING = {"id": "f1", "title": "Vulnérable «Apache» 2.4.49", "severity": "critical", "cve": "CVE-2021-41773",
           "evidence": {"cvss_score": 7.0, "port": 443}}
DATA = {"scan_token": "scn_1", "target": "xn--bcher-kva.example", "findings_count": 3, "critical_count": 1,
        "score": 40, "finding": FINDING}


def signed(name: str, event: str) -> tuple[bytes, str]:
    fmt = get_format(name)
    body = fmt.body("evt_1", event, AT, DATA).encode()
    return body, fmt.headers(event_id="evt_1", event=event, delivery_id="whd_1", body=body, secrets=[SECRET],
                             timestamp=0)["X-Webhook-Signature"]


@pytest.mark.parametrize(("event", "named"), [("scan.completed", "scan.completed"), ("scan.cancelled", "scan.failed"),
                                              ("critical.finding", "critical.finding"),
                                              ("scan.self_assessment_completed", None)])
def test_event_names(event: str, named: str | None) -> None:
    assert get_format(PYTHON_FORMAT).event_name(event) == get_format(NODE_FORMAT).event_name(event) == named


def test_a_critical_finding_carries_the_vulnerability_and_the_scan_counts() -> None:
    body, _ = signed(PYTHON_FORMAT, "critical.finding")
    assert json.loads(body) == {"event": "critical.finding", "timestamp": int(AT.timestamp()), "data": {
        "scan_id": "scn_1", "target": "xn--bcher-kva.example", "findings_count": 3, "critical_count": 1,
        "vulnerability": {"title": FINDING["title"], "severity": "critical", "cvss_score": 7.0,
                          "cve_id": "CVE-2021-41773"}}}


def test_non_ascii_and_integral_scores_survive_each_snippets_re_serialisation() -> None:
    python_body, python_sig = signed(PYTHON_FORMAT, "critical.finding")
    assert verify_webhook(json.loads(python_body), python_sig, SECRET)
    assert python_body.isascii()  # json.dumps escapes non-ASCII, so the body does too
    node_body, node_sig = signed(NODE_FORMAT, "critical.finding")
    assert "«Apache»".encode() in node_body and b'"cvss_score":7,' in node_body  # as JSON.stringify writes them
    assert verify_webhook_node(node_body, node_sig, SECRET)
    assert not verify_webhook_node(python_body, python_sig, SECRET)
