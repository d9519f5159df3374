"""One ObjectStore contract, three adapters: the memory fake, S3 on moto and the embedded stack's files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.aws.s3 import S3ObjectStore
from chalicelib.core.objects import ObjectMissing, ObjectStore
from chalicelib.local.provision import ensure_bucket
from chalicelib.storage.files import FileObjectStore
from tests.support.memory import MemoryObjectStore

BUCKET = "perimeter-objects-contract"
LINK_KEY = b"k" * 32
BINARY = bytes(range(256)) * 64 + b"%PDF-1.7\r\n\x00\xff"


@pytest.fixture(params=["memory", "s3", "files"])
def objects(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "memory":
        return MemoryObjectStore()
    if request.param == "files":
        return FileObjectStore(tmp_path / "objects", "http://127.0.0.1:8000", LINK_KEY)
    aws: dict[str, Any] = request.getfixturevalue("aws")
    ensure_bucket(aws["s3"], BUCKET, "us-east-1")
    return S3ObjectStore(BUCKET, aws["s3"])


def test_put_then_get_returns_the_same_bytes(objects: ObjectStore) -> None:
    objects.put("tenants/acme/scans/s1/report.pdf", BINARY, "application/pdf")
    assert objects.get("tenants/acme/scans/s1/report.pdf") == BINARY


def test_put_replaces_the_object(objects: ObjectStore) -> None:
    objects.put("tenants/acme/scans/s1/report.json", b'{"v": 1}', "application/json")
    objects.put("tenants/acme/scans/s1/report.json", b'{"v": 2}', "application/json")
    assert objects.get("tenants/acme/scans/s1/report.json") == b'{"v": 2}'


def test_a_missing_object_raises_object_missing(objects: ObjectStore) -> None:
    objects.put("tenants/acme/scans/s1/report.pdf", b"x", "application/pdf")
    for key in ("tenants/acme/scans/s1/report.json", "tenants/acme/scans/s1", "tenants/other/x.json"):
        with pytest.raises(ObjectMissing):
            objects.get(key)


def test_empty_objects_are_objects(objects: ObjectStore) -> None:
    objects.put("tenants/acme/empty.json", b"", "application/json")
    assert objects.get("tenants/acme/empty.json") == b""


def test_presign_names_the_lifetime_and_differs_per_key(objects: ObjectStore) -> None:
    objects.put("tenants/acme/a.pdf", b"a", "application/pdf")
    objects.put("tenants/acme/b.pdf", b"b", "application/pdf")
    first = objects.presign("tenants/acme/a.pdf", 600, "a.pdf")
    assert isinstance(first, str) and first
    assert first != objects.presign("tenants/acme/b.pdf", 600, "b.pdf")


def test_s3_presigned_link_downloads_the_object(aws: dict[str, Any]) -> None:
    ensure_bucket(aws["s3"], BUCKET, "us-east-1")
    store = S3ObjectStore(BUCKET, aws["s3"])
    store.put("tenants/acme/r.pdf", BINARY, "application/pdf")
    got = requests.get(store.presign("tenants/acme/r.pdf", 60, "r.pdf"), timeout=10)
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(BINARY).digest()


def test_files_keep_their_content_type_and_leave_no_temporary_files(tmp_path: Path) -> None:
    store = FileObjectStore(tmp_path / "objects", "http://127.0.0.1:8000", LINK_KEY)
    store.put("tenants/acme/scans/s1/report.pdf", BINARY, "application/pdf")
    store.put("branding/acme/logo-abc", b"\x89PNG", "image/png")
    assert store.read("tenants/acme/scans/s1/report.pdf").content_type == "application/pdf"
    assert store.read("branding/acme/logo-abc") == (b"\x89PNG", "image/png")
    leftovers = [name for _, _, files in os.walk(tmp_path) for name in files if name.startswith(".tmp-")]
    assert leftovers == []
