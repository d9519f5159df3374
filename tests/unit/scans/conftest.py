"""Fixtures for webapp and container scans: an API client with two tenants and a recording proof-of-control gate."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.bootstrap import Services
from chalicelib.core.errors import TargetNotVerified
from chalicelib.scans import scoring
from chalicelib.scans.models import SignalKey

# Finding codes the fake container and webapp checks emit: listed at 0 like the real checks' codes must be.
FAKE_CODES = {SignalKey.CONTAINER: ("container-vulnerability", "container-secret"),
              SignalKey.WEBAPP: ("webapp-xss", "webapp-sqli")}


class Api:
    """Authenticated calls with one tenant's key."""

    def __init__(self, client: Client, keys: dict[str, str]) -> None:
        self.client = client
        self.keys = keys

    def call(self, method: str, path: str, body: Any = None, *, tenant: str = "acme",
             headers: dict[str, str] | None = None) -> Any:
        all_headers = {"Authorization": f"Bearer {self.keys[tenant]}", "Content-Type": "application/json",
                       **(headers or {})}
        data = json.dumps(body).encode() if body is not None else b""
        return getattr(self.client.http, method.lower())(path, headers=all_headers, body=data)


class Gate:
    """The proof-of-control gate: records (tenant, host) calls; refuses the hosts in `refused`."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []
        self.refused: set[str] = set()

    def __call__(self, tenant_id: str, host: str) -> None:
        self.calls.append((tenant_id, host))
        if host in self.refused:
            raise TargetNotVerified(f"{host} has no valid proof of control.")


def body(response: Any) -> Any:
    return json.loads(response.body) if response.body else None


@pytest.fixture
def gate(services: Services) -> Gate:
    recorder = Gate()
    services.scans.verify_active = recorder
    return recorder


@pytest.fixture
def api(services: Services, gate: Gate) -> Iterator[Api]:
    keys = {}
    for tenant in ("acme", "rival"):
        services.auth.create_tenant(tenant, tenant.title())
        keys[tenant] = services.auth.issue_key(tenant)[1]
    with Client(app) as client:
        yield Api(client, keys)


@pytest.fixture
def fake_codes(monkeypatch: pytest.MonkeyPatch) -> None:
    """The fake checks' finding codes, scored 0 (the real checks list theirs in scoring_tables/2026-12.json)."""
    for signal, codes in FAKE_CODES.items():
        monkeypatch.setitem(scoring.DEDUCTIONS, signal, {**scoring.DEDUCTIONS[signal], **dict.fromkeys(codes, 0)})
