"""PERIMETER_DATA_DIR decides the table and the object store of every process: API, pipeline and scanner tasks."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.aws.s3 import S3ObjectStore
from chalicelib.bootstrap import Services
from chalicelib.core.errors import ConfigurationError
from chalicelib.core.settings import Settings
from chalicelib.scanners import task
from chalicelib.storage.factory import download_link_key, make_object_store, make_store
from chalicelib.storage.files import FileObjectStore
from chalicelib.storage.sqlite import SqliteStore
from tests.conftest import PEPPER
from tests.unit.test_scanner_task import ENV, Callbacks, results


def _settings(**overrides: Any) -> Settings:
    return Settings.from_env({}, key_pepper=PEPPER, **overrides)


def test_a_data_dir_makes_the_table_sqlite_and_the_objects_files(tmp_path: Path) -> None:
    data = tmp_path / "state"
    services = Services(_settings(data_dir=data, public_base_url="https://perimeter.example.net"))
    assert isinstance(services.store, SqliteStore) and services.store.path == data / "perimeter.sqlite3"
    objects = services.objects
    assert isinstance(objects, FileObjectStore) and objects.root == data / "objects"
    services.store.put("P", "S", {"kept": True})
    objects.put("tenants/t1/x.json", b"{}", "application/json")
    assert objects.presign("tenants/t1/x.json", 60).startswith("https://perimeter.example.net/v1/downloads/")
    assert (data / "objects" / "tenants" / "t1" / "x.json").read_bytes() == b"{}"
    assert (data.stat().st_mode & 0o777) == 0o700


def test_opening_the_table_sweeps_expired_items_like_a_ttl(tmp_path: Path) -> None:
    first = make_store(_settings(data_dir=tmp_path))
    first.put("RATE#k", "W#1", {}, expires_at=int(time.time()) - 5)
    first.put("IDEM#k", "x", {}, expires_at=int(time.time()) + 3600)
    first.put("TENANT#t", "SCAN#1", {})
    again = make_store(_settings(data_dir=tmp_path))
    assert again.get("RATE#k", "W#1") is None
    assert again.get("IDEM#k", "x") is not None and again.get("TENANT#t", "SCAN#1") is not None


def test_without_a_data_dir_the_adapters_are_dynamodb_and_s3() -> None:
    services = Services(_settings())
    assert isinstance(services.store, DynamoDBStore) and isinstance(services.objects, S3ObjectStore)


def test_the_link_key_is_derived_from_the_pepper_and_differs_from_the_report_key() -> None:
    settings = _settings()
    key = download_link_key(settings)
    assert len(key) == 32 and key != settings.report_signing_secret()
    assert key != download_link_key(Settings.from_env({}, key_pepper=PEPPER + "x"))
    assert PEPPER.encode() not in key


@pytest.mark.parametrize("make", [make_store, make_object_store])
def test_an_unusable_data_dir_is_a_clear_configuration_error(tmp_path: Path, make: Any) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for data_dir in (blocker, blocker / "below"):
        with pytest.raises(ConfigurationError, match="PERIMETER_DATA_DIR"):
            make(_settings(data_dir=data_dir))


def test_the_scanner_task_writes_evidence_into_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    callbacks = Callbacks()
    monkeypatch.setattr("chalicelib.aws.stepfunctions.TaskCallbacks", lambda client: callbacks)
    environ = {**ENV, "SCAN_DEADLINE": str(int(time.time()) + 600), "PERIMETER_DATA_DIR": str(tmp_path / "state"),
               "AWS_ENDPOINT_URL": "http://127.0.0.1:9"}  # nothing listens: S3 would fail the task
    code = task.main(environ, run_checks=lambda target, signals, options: results(signals))
    assert code == task.EXIT_OK, callbacks.answers
    kind, output = callbacks.answers[0]
    assert kind == "success"
    stored = tmp_path / "state" / "objects" / output["evidence_key"]
    assert json.loads(stored.read_bytes())["scan_id"] == ENV["SCAN_ID"]
    pipeline_view = make_object_store(_settings(data_dir=tmp_path / "state"))
    assert pipeline_view.get(output["evidence_key"]) == stored.read_bytes()


def test_the_scanner_task_fails_clearly_on_an_unusable_data_dir(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    callbacks = Callbacks()
    monkeypatch.setattr("chalicelib.aws.stepfunctions.TaskCallbacks", lambda client: callbacks)
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    environ = {**ENV, "PERIMETER_DATA_DIR": str(blocker)}
    assert task.main(environ, run_checks=lambda *a: {}) == task.EXIT_BAD_INPUT
    assert callbacks.answers[0][0] == "Scanner.InvalidInput" and "PERIMETER_DATA_DIR" in callbacks.answers[0][1]
