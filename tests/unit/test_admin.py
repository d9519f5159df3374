"""The operator CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from chalicelib.admin import run
from chalicelib.bootstrap import Services
from chalicelib.core.errors import NotFound, Unauthorized


def test_create_tenant_prints_a_key_that_authenticates(services: Services) -> None:
    out = run(["create-tenant", "broker", "--name", "Broker Ltd", "--rate-limit", "100"], services)
    principal = services.auth.authenticate(f"Bearer {out['api_key']}", None)
    assert principal.tenant.tenant_id == "broker" and principal.tenant.rate_limit_per_minute == 100


def test_list_keys_never_shows_key_material(services: Services) -> None:
    created = run(["create-tenant", "broker", "--name", "B"], services)
    listed = run(["list-keys", "broker"], services)
    assert created["api_key"] not in str(listed) and "key_hash" not in str(listed)
    assert [k["key_id"] for k in listed["keys"]] == [created["key_id"]]  # type: ignore[index,union-attr]


def test_revoke_key_takes_effect_and_unknown_key_is_not_found(services: Services) -> None:
    created = run(["create-tenant", "broker", "--name", "B"], services)
    rotated = run(["issue-key", "broker", "--name", "next"], services)
    run(["revoke-key", "broker", str(created["key_id"])], services)
    with pytest.raises(Unauthorized):
        services.auth.authenticate(None, str(created["api_key"]))
    assert services.auth.authenticate(None, str(rotated["api_key"])).tenant.tenant_id == "broker"
    with pytest.raises(NotFound):
        run(["revoke-key", "broker", "key_missing"], services)


# -- the embedded stack's data directory (issue 9) ------------------------------------------------------
def test_local_mode_is_the_default_without_aws_settings() -> None:
    from chalicelib.admin import is_local

    assert is_local({}) and is_local({"HOME": "/h"})
    assert not is_local({"PERIMETER_TABLE": "perimeter-prod"}) and not is_local({"AWS_ENDPOINT_URL": "http://x"})
    assert is_local({"PERIMETER_TABLE": "perimeter", "PERIMETER_DATA_DIR": "/d"})


def test_local_mode_uses_the_stacks_pepper_and_data_dir(tmp_path: Path) -> None:
    from chalicelib.admin import local_environment
    from chalicelib.local import datadir

    pepper = datadir.load_or_create_pepper(tmp_path)
    env: dict[str, str] = {"PERIMETER_DATA_DIR": str(tmp_path)}
    local_environment(env, "create-tenant")
    assert env["PERIMETER_KEY_PEPPER"] == pepper and env["PERIMETER_DATA_DIR"] == str(tmp_path)
    assert env["AWS_ACCESS_KEY_ID"] == "testing"  # never a real account's credentials from the chain
    assert "AWS_ENDPOINT_URL" not in env  # the table is the data directory's, running stack or not


def test_local_mode_without_data_says_how_to_get_some(tmp_path: Path) -> None:
    from chalicelib.admin import local_environment
    from chalicelib.core.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="make run"):
        local_environment({"XDG_DATA_HOME": str(tmp_path)}, "create-tenant")


def test_redrive_needs_the_running_stack_and_finds_its_queues(tmp_path: Path) -> None:
    from chalicelib.admin import local_environment
    from chalicelib.core.errors import ServiceUnavailable
    from chalicelib.local import datadir

    datadir.load_or_create_pepper(tmp_path)
    info = datadir.StackInfo(pid=1, api_url="http://127.0.0.1:1", aws_endpoint="http://127.0.0.1:2",
                             queue_url="http://127.0.0.1:2/q", dlq_url="http://127.0.0.1:2/dlq")
    datadir.write_stack_info(tmp_path, info)  # left behind by a stack that is gone
    with pytest.raises(ServiceUnavailable, match="not running") as raised:
        local_environment({"PERIMETER_DATA_DIR": str(tmp_path)}, "redrive-webhooks")
    assert raised.value.code == "stack-not-running"
    lock = datadir.StackLock(tmp_path).acquire()
    try:
        env = {"PERIMETER_DATA_DIR": str(tmp_path)}
        local_environment(env, "redrive-webhooks")
    finally:
        lock.release()
    assert env["AWS_ENDPOINT_URL"] == "http://127.0.0.1:2" and env["PERIMETER_WEBHOOK_DLQ_URL"].endswith("/dlq")


def test_main_reports_a_missing_data_dir_as_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from chalicelib.admin import main

    for name in ("PERIMETER_TABLE", "AWS_ENDPOINT_URL", "PERIMETER_KEY_PEPPER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PERIMETER_DATA_DIR", str(tmp_path / "none"))
    assert main(["create-tenant", "broker", "--name", "B"]) == 1
    assert "configuration-error" in capsys.readouterr().err
