"""Tenants and API keys."""

from __future__ import annotations

import json
import re

import pytest

from chalicelib.access.auth import AuthService, generate_key
from chalicelib.core.errors import AlreadyExists, NotFound, Unauthorized
from tests.support.memory import MemoryStore


@pytest.fixture
def auth() -> AuthService:
    service = AuthService(MemoryStore(), b"pepper-pepper-pepper")
    service.create_tenant("acme", "Acme Insurance")
    return service


def test_generated_keys_carry_a_prefix_and_256_random_bits() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(re.fullmatch(r"pmk_[A-Za-z0-9_-]{43}", k) for k in keys)


def test_issued_key_is_stored_only_as_a_keyed_hash(auth: AuthService) -> None:
    record, plaintext = auth.issue_key("acme", name="ci")
    dump = json.dumps([r.data for r in auth._store.query("TENANT#acme", "")])  # type: ignore[attr-defined]
    dump += json.dumps(auth._store.get(f"APIKEY#{record.key_hash}", "APIKEY").data)  # type: ignore[attr-defined,union-attr]
    assert plaintext not in dump
    assert record.key_hash == auth.hash_key(plaintext)
    assert AuthService(MemoryStore(), b"another-pepper-value").hash_key(plaintext) != record.key_hash


@pytest.mark.parametrize("style", ["bearer", "x-api-key"])
def test_both_header_styles_authenticate(auth: AuthService, style: str) -> None:
    _, key = auth.issue_key("acme")
    principal = auth.authenticate(f"Bearer {key}", None) if style == "bearer" else auth.authenticate(None, key)
    assert principal.tenant.tenant_id == "acme"


@pytest.mark.parametrize(("authorization", "x_api_key"), [
    (None, None), ("", None), ("Bearer", None), ("Basic dXNlcjpwdw==", None), ("Bearer short", None),
    ("Bearer pmk_" + "A" * 43, None), (None, "pmk_unknownunknownunknownunknown"), ("Bearer \x00\x01" * 10, None),
])
def test_missing_malformed_and_unknown_keys_are_unauthorized(auth: AuthService, authorization: str | None,
                                                             x_api_key: str | None) -> None:
    with pytest.raises(Unauthorized) as info:
        auth.authenticate(authorization, x_api_key)
    assert info.value.code == "unauthorized"


def test_revoked_key_stops_working_at_once_and_others_keep_working(auth: AuthService) -> None:
    old, old_key = auth.issue_key("acme", name="old")
    _, new_key = auth.issue_key("acme", name="new")
    auth.revoke_key("acme", old.key_id)
    with pytest.raises(Unauthorized):
        auth.authenticate(f"Bearer {old_key}", None)
    assert auth.authenticate(f"Bearer {new_key}", None).tenant.tenant_id == "acme"
    listed = {k.name: k.revoked_at is not None for k in auth.list_keys("acme")}
    assert listed == {"old": True, "new": False}


def test_another_tenants_key_cannot_be_revoked(auth: AuthService) -> None:
    auth.create_tenant("other", "Other")
    record, key = auth.issue_key("other")
    with pytest.raises(NotFound):
        auth.revoke_key("acme", record.key_id)
    assert auth.authenticate(None, key).tenant.tenant_id == "other"


def test_bootstrap_key_is_registered_as_given_once(auth: AuthService) -> None:
    _, key = auth.issue_key("acme", key="local-dev-key-0123456789")
    assert key == "local-dev-key-0123456789"
    with pytest.raises(AlreadyExists):
        auth.issue_key("acme", key="local-dev-key-0123456789")


def test_duplicate_tenant_is_refused(auth: AuthService) -> None:
    with pytest.raises(AlreadyExists):
        auth.create_tenant("acme", "Again")
