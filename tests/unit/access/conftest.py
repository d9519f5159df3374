"""Fixtures of the access tests: a tenant with one key per role, and the API through chalice's test client."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.access.roles import Role
from chalicelib.bootstrap import Services


class Caller:
    """Calls the API with one key through chalice's test client."""

    def __init__(self, client: Client, key: str) -> None:
        self.client = client
        self.key = key

    def call(self, method: str, path: str, body: Any = None, *, raw: bytes | None = None,
             headers: dict[str, str] | None = None) -> Any:
        """The response (status_code, headers, body bytes) of one request."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
        all_headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json", **(headers or {})}
        return self.client.http.request(method, path, headers=all_headers, body=data)

    def json(self, method: str, path: str, body: Any = None, **options: Any) -> tuple[int, Any]:
        """(status, decoded JSON body or None)."""
        response = self.call(method, path, body, **options)
        return response.status_code, json.loads(response.body) if response.body else None


@pytest.fixture
def tenant(services: Services) -> str:
    services.auth.create_tenant("acme", "Acme")
    services.auth.create_tenant("rival", "Rival")
    return "acme"


@pytest.fixture
def role_keys(services: Services, tenant: str) -> dict[Role, str]:
    """One service key of each role in tenant `acme`."""
    return {role: services.auth.issue_key(tenant, name=role.value, role=role)[1] for role in Role}


@pytest.fixture
def client() -> Iterator[Client]:
    with Client(app) as chalice_client:
        yield chalice_client


@pytest.fixture
def as_role(client: Client, role_keys: dict[Role, str]) -> dict[Role, Caller]:
    return {role: Caller(client, key) for role, key in role_keys.items()}
