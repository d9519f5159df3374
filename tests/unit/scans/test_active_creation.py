"""Creating webapp and container scans: targets, options per type, the proof-of-control gate, sealed credentials."""

from __future__ import annotations

import json
import logging

import pytest

from chalicelib.bootstrap import Services
from chalicelib.core.errors import InvalidDomain
from chalicelib.core.secretbox import SecretBox
from chalicelib.scans.active import parse_image_ref, parse_webapp_target
from chalicelib.scans.models import registry_auth_context
from tests.support.memory import RecordingWorkflow
from tests.unit.scans.conftest import Api, Gate, body

PASSWORD = "hunter2-registry-Pa55word"


@pytest.mark.parametrize(("raw", "canonical"), [
    ("docker.io/library/nginx:1.27", "docker.io/library/nginx:1.27"),
    ("ghcr.io/acme/api", "ghcr.io/acme/api:latest"),
    ("Registry.Example.com:5000/team/app:v1.2-rc", "registry.example.com:5000/team/app:v1.2-rc"),
    ("example.com/a/b/c@sha256:" + "a" * 64, "example.com/a/b/c@sha256:" + "a" * 64),
    ("example.com/app:1@sha256:" + "0" * 64, "example.com/app:1@sha256:" + "0" * 64),
    ("[2001:db8::1]:5000/app:1", "[2001:db8::1]:5000/app:1"),
])
def test_image_references_name_their_registry(raw: str, canonical: str) -> None:
    assert parse_image_ref(raw).canonical == canonical


@pytest.mark.parametrize("raw", [
    "nginx", "nginx:latest", "library/nginx", "example.com/UPPER/app", "example.com/app:tag;rm -rf",
    "oci-archive:/tmp/image.tar", "example.com:99999/app", "https://example.com/app", "example.com/app@sha256:abc",
    "example.com//app", "example.com/app:" + "t" * 200,
])
def test_malformed_image_references_are_refused(raw: str) -> None:
    with pytest.raises(InvalidDomain) as refused:
        parse_image_ref(raw)
    assert refused.value.code == "invalid-image-reference"


@pytest.mark.parametrize(("raw", "host", "url"), [
    ("example.com", "example.com", "https://example.com/"),
    ("http://Example.COM:8080/app/", "Example.COM", "http://example.com:8080/app/"),
    ("https://example.com/shop/cart", "example.com", "https://example.com/shop/cart"),
])
def test_webapp_targets_become_a_start_url(raw: str, host: str, url: str) -> None:
    parsed = parse_webapp_target(raw)
    assert parsed.host.lower() == host.lower()
    assert parsed.url(parsed.host.lower()) == url


@pytest.mark.parametrize("raw", ["ftp://example.com/", "https://user:pw@example.com/", "https://example.com/?q=1",
                                 "https://example.com/#frag", "https:///path"])
def test_webapp_targets_with_credentials_queries_or_other_schemes_are_refused(raw: str) -> None:
    with pytest.raises(InvalidDomain):
        parse_webapp_target(raw)


@pytest.mark.parametrize(("scan_type", "target", "options", "code"), [
    ("container", "example.com/app:1", {"webapp": {"max_pages": 5}}, "option-not-applicable"),
    ("webapp", "example.com", {"container": {"ignore_unfixed": True}}, "option-not-applicable"),
    ("webapp", "example.com", {"ports": "80"}, "option-not-applicable"),
    ("container", "example.com/app:1", {"service_detection": True}, "option-not-applicable"),
    ("posture", "example.com", {"fail_on": "high"}, "option-not-applicable"),
    ("ports", "example.com", {"container": {"severity": ["high"]}}, "option-not-applicable"),
    ("container", "example.com/app:1", {"container": {"platform": "Linux AMD64"}}, "validation-failed"),
    ("webapp", "example.com", {"webapp": {"rate_limit": 500}}, "validation-failed"),
    ("container", "nginx:latest", {}, "invalid-image-reference"),
    ("container", "internal.example/app:1", {}, "target-not-allowed"),
    ("webapp", "https://internal.example/app", {}, "target-not-allowed"),
    ("container", "example.com/app:1",
     {"container": {"registry_auth": {"username": "u", "password_sealed": "v1.x.y"}}}, "validation-failed"),
])
def test_bad_active_scan_requests_are_422_and_store_nothing(api: Api, gate: Gate, scan_type: str, target: str,
                                                            options: dict[str, object], code: str) -> None:
    response = api.call("POST", "/v1/scans", {"target": target, "scan_type": scan_type, "options": options})
    assert response.status_code == 422, body(response)
    assert body(response)["code"] == code
    assert body(api.call("GET", "/v1/scans"))["items"] == []


def test_webapp_scans_pass_the_gate_before_anything_is_stored(api: Api, gate: Gate,
                                                              workflow: RecordingWorkflow) -> None:
    gate.refused.add("example.com")
    refused = api.call("POST", "/v1/scans", {"target": "https://Example.com/shop", "scan_type": "webapp"})
    assert refused.status_code == 403 and body(refused)["code"] == "target-not-verified"
    assert body(api.call("GET", "/v1/scans"))["items"] == [] and workflow.started == {}
    gate.refused.clear()
    created = api.call("POST", "/v1/scans", {"target": "https://Example.com/shop", "scan_type": "webapp",
                                             "options": {"webapp": {"max_pages": 10, "engines": ["builtin"]},
                                                         "fail_on": "medium"}})
    assert created.status_code == 202, body(created)
    assert gate.calls == [("acme", "example.com"), ("acme", "example.com")]
    view = body(api.call("GET", f"/v1/scans/{body(created)['scan_token']}"))
    assert view["target"] == "https://example.com/shop" and view["domain"] == "example.com"
    assert view["gate"] == {"passed": None, "fail_on": "medium",
                            "counts": {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}, "not_checked": {}}


def test_posture_and_container_scans_never_call_the_gate(api: Api, gate: Gate) -> None:
    for payload in ({"domain": "example.com"}, {"target": "example.com/app:1", "scan_type": "container"},
                    {"target": "example.com", "scan_type": "ports"}):
        assert api.call("POST", "/v1/scans", payload).status_code == 202
    assert gate.calls == []


def test_without_a_wired_gate_webapp_scans_are_refused(api: Api, services: Services) -> None:
    services.scans.verify_active = None
    response = api.call("POST", "/v1/scans", {"target": "example.com", "scan_type": "webapp"})
    assert response.status_code == 422 and body(response)["code"] == "active-scans-unavailable"


def test_registry_password_is_sealed_and_never_shown(api: Api, services: Services, workflow: RecordingWorkflow,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    created = api.call("POST", "/v1/scans", {
        "target": "example.com/team/app:1.0", "scan_type": "container",
        "options": {"container": {"severity": ["critical", "high"], "ignore_unfixed": True,
                                  "registry_auth": {"username": "robot", "password": PASSWORD}}}})
    assert created.status_code == 202, body(created)
    token = body(created)["scan_token"]
    shown = [created.body.decode(), api.call("GET", f"/v1/scans/{token}").body.decode(),
             api.call("GET", "/v1/scans").body.decode(), api.call("GET", f"/v1/scans/{token}/findings").body.decode()]
    stored = json.dumps(services.store.get("TENANT#acme", f"SCAN#{token}").data)  # type: ignore[union-attr]
    for text in [*shown, stored, caplog.text]:
        assert PASSWORD not in text
    for text in shown:
        assert "password" not in text and "v1." + SecretBox(b"x" * 16).key_id not in text
    view = body(api.call("GET", f"/v1/scans/{token}"))
    assert view["options"]["container"]["registry_auth"] == {"username": "robot"}
    # The scanner gets the sealed blob, which opens only under this tenant's and scan's context.
    sealed = workflow.started[token]["options"]["container"]["registry_auth"]["password_sealed"]
    assert PASSWORD not in json.dumps(workflow.started[token])
    master = services.settings.registry_auth_master()
    assert master is not None
    box = SecretBox(master)
    assert box.unwrap(sealed, registry_auth_context("acme", token)) == PASSWORD
    with pytest.raises(ValueError):
        box.unwrap(sealed, registry_auth_context("rival", token))


def test_scan_views_count_severities_for_every_scan_type(api: Api) -> None:
    token = body(api.call("POST", "/v1/scans", {"domain": "example.com"}))["scan_token"]
    view = body(api.call("GET", f"/v1/scans/{token}"))
    assert view["severity_counts"] == {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0}
    assert view["gate"] is None and view["sbom_url"] is None


def test_templates_refuse_registry_credentials_and_launches_seal_them(
        api: Api, services: Services, workflow: RecordingWorkflow) -> None:
    auth = {"username": "robot", "password": PASSWORD}
    refused = api.call("POST", "/v1/scan-templates", {
        "name": "ci", "scan_type": "container", "options": {"container": {"registry_auth": auth}}})
    assert refused.status_code == 422 and body(refused)["code"] == "registry-auth-not-in-templates"
    assert PASSWORD not in refused.body.decode()
    assert body(api.call("GET", "/v1/scan-templates"))["items"] == []
    made = api.call("POST", "/v1/scan-templates", {
        "name": "ci", "scan_type": "container", "options": {"container": {"severity": ["critical"]}}})
    assert made.status_code == 201, body(made)
    launched = api.call("POST", f"/v1/scan-templates/{body(made)['template_id']}/launch", {
        "target": "example.com/team/app:2", "options": {"container": {"registry_auth": auth}}})
    assert launched.status_code == 202, body(launched)
    token = body(launched)["scan_token"]
    sealed = workflow.started[token]["options"]["container"]["registry_auth"]["password_sealed"]
    master = services.settings.registry_auth_master()
    assert master is not None
    assert SecretBox(master).unwrap(sealed, registry_auth_context("acme", token)) == PASSWORD


def test_the_openapi_document_offers_no_sealed_password_field() -> None:
    from chalicelib.api.spec import openapi_document
    from chalicelib.api.table import OPERATIONS

    schemas = openapi_document(OPERATIONS)["components"]["schemas"]
    assert set(schemas["SubmittedRegistryAuth"]["properties"]) == {"username", "password"}
    assert "password_sealed" not in json.dumps(schemas)
