"""Options the scanner would refuse are refused at submission: 422 problem+json naming the field."""

from __future__ import annotations

from typing import Any

import pytest

from tests.integration import test_api as _wired
from tests.integration.test_api import Api, body

# The API rig of test_api.py (moto DynamoDB and Step Functions, tenants, keys).
wired, keys, client = _wired.wired, _wired.keys, _wired.api

BAD_OPTIONS = [
    ({"ports": "0"}, "options.ports"),
    ({"ports": "1-99999"}, "options.ports"),
    ({"ports": "65535-1"}, "options.ports"),
    ({"ports": "22,70000"}, "options.ports"),
    ({"ports": "top-0"}, "options.ports"),
    ({"ports": "top-99999"}, "options.ports"),
    ({"dkim_selectors": ["google", "bad selector"]}, "options.dkim_selectors"),
    ({"dkim_selectors": ["-leading-hyphen"]}, "options.dkim_selectors"),
]


def _assert_names_field(response: Any, field: str) -> None:
    problem = body(response)
    assert response.status_code == 422, problem
    assert response.headers["Content-Type"] == "application/problem+json"
    assert problem["code"] == "validation-failed"
    assert problem["error"].startswith(f"{field}:"), problem["error"]
    assert [e["field"] for e in problem["errors"]] == [field]


@pytest.mark.parametrize(("options", "field"), BAD_OPTIONS)
def test_options_the_scanner_refuses_are_422_at_submission(client: Api, options: dict[str, Any], field: str) -> None:
    response = client.call("POST", "/v1/scans", {"target": "example.com", "scan_type": "ports", "options": options})
    _assert_names_field(response, field)
    assert body(client.call("GET", "/v1/scans"))["items"] == []


@pytest.mark.parametrize(("options", "field"), BAD_OPTIONS[:3])
def test_templates_refuse_them_at_creation_and_launch(client: Api, options: dict[str, Any], field: str) -> None:
    _assert_names_field(client.call("POST", "/v1/scan-templates", {"name": "bad", "options": options}), field)
    template = body(client.call("POST", "/v1/scan-templates", {"name": "good", "scan_type": "ports"}))
    launched = client.call("POST", f"/v1/scan-templates/{template['template_id']}/launch",
                        {"target": "example.com", "options": options})
    _assert_names_field(launched, field)


@pytest.mark.parametrize("ports", ["1", "65535", "1-65535", "22,80,443", "top-1", "top-65535"])
def test_every_port_set_the_scanner_accepts_is_accepted(client: Api, ports: str) -> None:
    response = client.call("POST", "/v1/scans", {"target": "example.com", "scan_type": "ports",
                                               "options": {"ports": ports}})
    assert response.status_code == 202, body(response)
