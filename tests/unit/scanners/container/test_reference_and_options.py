"""Image references are parsed strictly, and sealed registry credentials open only for their own scan."""

from __future__ import annotations

import pytest

from chalicelib.core.secretbox import SecretBox
from chalicelib.scanners.container.options import (
    ContainerOptions,
    RegistryAuthError,
    RegistryCredentials,
    open_registry_auth,
    seal_registry_auth,
)
from chalicelib.scanners.container.reference import (
    ArchiveReference,
    BadReference,
    ImageReference,
    parse_reference,
)

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(("text", "host", "port", "repo", "tag", "digest"), [
    ("registry.example.com/team/app:1.2", "registry.example.com", None, "team/app", "1.2", None),
    ("registry.example.com:5000/app", "registry.example.com", 5000, "app", None, None),
    (f"ghcr.io/org/app@{DIGEST}", "ghcr.io", None, "org/app", None, DIGEST),
    (f"127.0.0.1:5000/a/b/c:v1@{DIGEST}", "127.0.0.1", 5000, "a/b/c", "v1", DIGEST),
    ("localhost/app:latest", "localhost", None, "app", "latest", None),
    ("[::1]:5000/app:x", "::1", 5000, "app", "x", None),
])
def test_registry_references_parse_into_their_parts(text: str, host: str, port: int | None, repo: str,
                                                    tag: str | None, digest: str | None) -> None:
    ref = parse_reference(text)
    assert ref == ImageReference(host=host, port=port, repository=repo, tag=tag, digest=digest)
    assert ref.selector == (digest or tag or "latest")


@pytest.mark.parametrize("text", [
    "nginx", "library/nginx:1.25", "https://registry.example.com/app", "registry.example.com/App:1",
    "registry.example.com/app@sha256:short", "registry.example.com:99999/app", "registry.example.com/app:bad tag",
])
def test_references_without_a_registry_or_malformed_are_refused(text: str) -> None:
    with pytest.raises(BadReference):
        parse_reference(text)


def test_archive_targets_and_ecr_hosts_are_recognised() -> None:
    assert parse_reference("oci-archive:scans/img.tar") == ArchiveReference("scans/img.tar")
    ecr = parse_reference("123456789012.dkr.ecr.eu-west-1.amazonaws.com/app:1")
    assert isinstance(ecr, ImageReference) and ecr.ecr_region == "eu-west-1"
    other = parse_reference("registry.example.com/app:1")
    assert isinstance(other, ImageReference) and other.ecr_region is None


def test_sealed_credentials_open_only_for_the_same_tenant_and_scan() -> None:
    box = SecretBox(b"k" * 32)
    creds = RegistryCredentials("ci-bot", "p@ss-word")
    sealed = seal_registry_auth(box, "tenant-a", "scan-1", creds)
    assert "p@ss-word" not in sealed and "ci-bot" not in sealed
    assert open_registry_auth(box, "tenant-a", "scan-1", sealed) == creds
    for tenant, scan in (("tenant-b", "scan-1"), ("tenant-a", "scan-2")):
        with pytest.raises(RegistryAuthError):
            open_registry_auth(box, tenant, scan, sealed)
    with pytest.raises(RegistryAuthError):
        open_registry_auth(SecretBox(b"o" * 32), "tenant-a", "scan-1", sealed)


def test_credentials_and_sealed_options_stay_out_of_reprs() -> None:
    creds = RegistryCredentials("ci-bot", "p@ss-word")
    options = ContainerOptions(registry_auth="v1.sealed-blob")
    assert "p@ss-word" not in repr(creds)
    assert "sealed-blob" not in repr(options)
    with pytest.raises(ValueError):
        ContainerOptions.model_validate({"severity": "urgent"})
