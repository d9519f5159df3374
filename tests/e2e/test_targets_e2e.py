"""Proof of control on the embedded stack: the API process checks the lab's DNS (PERIMETER_DNS_SERVERS) and
its HTTPS site on 443 (trusted via SSL_CERT_FILE), through the same guarded resolver and client as scans."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.httpserver import Response
from tests.support.lab import Lab
from tests.support.stack import RunningStack

WELL_KNOWN = "/.well-known/perimeter-challenge"


@pytest.fixture
def targets(stack: RunningStack, lab: Lab) -> Iterator[Any]:
    """A caller of /v1/targets on the stack; removes what the test published and registered."""
    headers = {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}
    made: list[str] = []

    def call(method: str, path: str, payload: Any = None) -> requests.Response:
        response = requests.request(method, f"{stack.base_url}{path}", json=payload, headers=headers, timeout=30)
        if method == "POST" and path == "/v1/targets" and response.status_code == 201:
            made.append(response.json()["target_id"])
        return response

    try:
        yield call
    finally:
        lab.good_https.routes.pop(WELL_KNOWN, None)
        lab.dns.resolver.zone.pop("_perimeter-challenge.good.test", None)
        for target_id in made:
            call("DELETE", f"/v1/targets/{target_id}")


def test_register_verify_by_file_and_by_txt_record_then_delete(targets: Any, lab: Lab) -> None:
    www = targets("POST", "/v1/targets", {"domain": "https://WWW.good.test/shop"})
    assert www.status_code == 201, www.text
    target = www.json()
    assert targets("POST", "/v1/targets", {"domain": "www.good.test"}).json()["target_id"] == target["target_id"]

    failed = targets("POST", f"/v1/targets/{target['target_id']}/verify")
    assert failed.status_code == 422 and failed.headers["Content-Type"] == "application/problem+json"
    assert failed.json()["code"] == "target-verification-failed"
    assert failed.json()["checks"]["http"]["status"] == 404  # the lab's site answered; no file yet

    lab.good_https.routes[WELL_KNOWN] = Response(200, [("Content-Type", "text/plain")],
                                                 target["challenge"]["token"].encode())
    by_file = targets("POST", f"/v1/targets/{target['target_id']}/verify").json()
    assert (by_file["status"], by_file["method"], by_file["covers_subdomains"]) == ("verified", "http", False)

    apex = targets("POST", "/v1/targets", {"domain": "good.test"}).json()
    lab.dns.resolver.update({"_perimeter-challenge.good.test": [("TXT", apex["challenge"]["dns"]["value"])]})
    by_txt = targets("POST", f"/v1/targets/{apex['target_id']}/verify").json()
    assert (by_txt["status"], by_txt["method"], by_txt["covers_subdomains"]) == ("verified", "dns", True)

    listed = {t["target_id"]: t["status"] for t in targets("GET", "/v1/targets?limit=100").json()["items"]}
    assert listed[target["target_id"]] == listed[apex["target_id"]] == "verified"
    assert targets("DELETE", f"/v1/targets/{apex['target_id']}").status_code == 204
    assert targets("GET", f"/v1/targets/{apex['target_id']}").status_code == 404


def test_a_domain_on_a_private_address_outside_the_allow_list_is_refused(targets: Any, lab: Lab) -> None:
    lab.dns.resolver.update({"intranet.good.test": [("A", "10.20.30.40")]})
    refused = targets("POST", "/v1/targets", {"domain": "intranet.good.test"})
    assert (refused.status_code, refused.json()["code"]) == (422, "target-not-allowed")
    assert all(t["domain"] != "intranet.good.test"
               for t in targets("GET", "/v1/targets?limit=100").json()["items"])
