"""The operator CLI."""

from __future__ import annotations

import pytest

from chalicelib.admin import run
from chalicelib.errors import NotFound, Unauthorized
from chalicelib.services import Services


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
