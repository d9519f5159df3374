"""Container scans pulled from a minimal OCI registry on loopback: token auth, verification, the guard."""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import dns.resolver
import pytest

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.container.check import ContainerSetup, scan_image
from chalicelib.scanners.container.options import ContainerOptions, RegistryCredentials
from chalicelib.scans.models import SignalStatus
from tests.support.oci import BuiltImage, OciRegistry, sample_image, write_oci_archive
from tests.support.osv_fixture import osv_data, sample_records

LOOPBACK = (ipaddress.ip_network("127.0.0.0/8"),)
CREDS = RegistryCredentials("ci-bot", "s3cret-registry-pass")


def _ctx(allowed: Any = LOOPBACK) -> ScanContext:
    return ScanContext(resolver=dns.resolver.Resolver(configure=False), allowed_networks=allowed, http_timeout=5.0)


def _setup(**kwargs: Any) -> ContainerSetup:
    return ContainerSetup(osv=osv_data(sample_records()), **kwargs)


@pytest.fixture
def registry(request: pytest.FixtureRequest) -> Iterator[OciRegistry]:
    options = getattr(request, "param", {})
    image: BuiltImage = options.pop("image", None) or sample_image()
    server = OciRegistry("team/app", image, **options).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.mark.parametrize("registry", [{"auth": "bearer"}], indirect=True)
def test_pull_with_bearer_token_auth_scans_the_image(registry: OciRegistry) -> None:
    result = scan_image(registry.reference, _ctx(), _setup(credentials=CREDS))
    assert result.status == SignalStatus.COMPLETE, result.error
    assert any(f.cve == "CVE-2014-0160" for f in result.findings)
    assert result.attachments["sbom"]["metadata"]["component"]["version"] == registry.image.manifest_digest
    dumped = json.dumps([f.model_dump(mode="json") for f in result.findings]) + json.dumps(result.attachments)
    assert CREDS.password not in dumped and registry.token not in dumped
    token_requests = [r for r in registry.server.requests if r.path.startswith("/token")]  # type: ignore[union-attr]
    assert token_requests and "scope=repository%3Ateam%2Fapp%3Apull" in token_requests[0].path


@pytest.mark.parametrize("registry", [{"auth": "bearer"}], indirect=True)
def test_wrong_or_missing_credentials_are_an_error(registry: OciRegistry) -> None:
    wrong = scan_image(registry.reference, _ctx(), _setup(credentials=RegistryCredentials("ci-bot", "nope")))
    assert wrong.status == SignalStatus.ERROR and "refused the credentials" in (wrong.error or "")
    assert "nope" not in (wrong.error or "")


@pytest.mark.parametrize("registry", [{"auth": "basic"}], indirect=True)
def test_basic_auth_pull_by_digest(registry: OciRegistry) -> None:
    by_digest = f"{registry.address}/team/app@{registry.image.manifest_digest}"
    assert scan_image(by_digest, _ctx(), _setup(credentials=CREDS)).status == SignalStatus.COMPLETE
    assert "requires credentials" in (scan_image(by_digest, _ctx(), _setup()).error or "")


@pytest.mark.parametrize("registry", [{"image": sample_image(with_index=True)}], indirect=True)
def test_an_index_is_followed_to_the_requested_platform(registry: OciRegistry) -> None:
    result = scan_image(registry.reference, _ctx(), _setup())
    assert result.status == SignalStatus.COMPLETE
    assert result.attachments["sbom"]["metadata"]["component"]["version"] == registry.image.manifest_digest
    arm = scan_image(registry.reference, _ctx(), _setup(options=ContainerOptions(platform="linux/s390x")))
    assert arm.status == SignalStatus.ERROR and "linux/s390x" in (arm.error or "")


def test_a_blob_that_does_not_match_its_digest_is_refused() -> None:
    image = sample_image()
    layer = json.loads(image.manifest)["layers"][1]["digest"]
    server = OciRegistry("team/app", image, tamper={layer}).start()
    try:
        result = scan_image(server.reference, _ctx(), _setup())
    finally:
        server.stop()
    assert result.status == SignalStatus.ERROR and "does not match its digest" in (result.error or "")
    assert result.findings == []


def test_a_registry_on_a_private_address_outside_the_allow_list_is_not_contacted(registry: OciRegistry) -> None:
    result = scan_image(registry.reference, _ctx(allowed=()), _setup())
    assert result.status == SignalStatus.NOT_TESTED and "target guard" in (result.error or "")
    assert registry.server is not None and registry.server.connections == 0


def test_a_redirect_to_another_host_is_refused() -> None:
    elsewhere = OciRegistry("team/app", sample_image()).start()
    server = OciRegistry("team/app", sample_image(), blob_redirect=f"http://{elsewhere.address}/v2/team/app").start()
    try:
        result = scan_image(server.reference, _ctx(), _setup())
    finally:
        server.stop()
        elsewhere.stop()
    assert result.status == SignalStatus.ERROR and "redirected to another host" in (result.error or "")
    assert elsewhere.server is not None and elsewhere.server.connections == 0


def test_a_token_realm_on_another_host_is_refused() -> None:
    server = OciRegistry("team/app", sample_image(), auth="bearer", realm="http://127.0.0.2:1/token").start()
    try:
        result = scan_image(server.reference, _ctx(), _setup(credentials=CREDS))
    finally:
        server.stop()
    assert result.status == SignalStatus.ERROR and "realm" in (result.error or "")


def test_archive_and_registry_give_the_same_sbom(registry: OciRegistry, tmp_path: Path) -> None:
    pulled = scan_image(registry.reference, _ctx(), _setup()).attachments["sbom"]
    write_oci_archive(registry.image, tmp_path / "same.tar")
    read = scan_image("oci-archive:same.tar", _ctx(), _setup(archive_root=tmp_path)).attachments["sbom"]
    assert pulled["components"] == read["components"]
    assert pulled["vulnerabilities"] == read["vulnerabilities"]
    assert pulled["metadata"]["component"]["version"] == read["metadata"]["component"]["version"]
    assert pulled["serialNumber"] != read["serialNumber"]
