"""Every route answers 403 `insufficient-role` exactly to keys below its least role, in every API surface."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from chalice.app import Request

from chalicelib.access.auth import Principal
from chalicelib.access.policy import POLICY
from chalicelib.access.roles import Role
from chalicelib.api.http import Ctx, Result, handle
from chalicelib.api.operations import Op, required_role
from chalicelib.api.spec import openapi_document
from chalicelib.api.table import OPERATIONS, ROUTED
from chalicelib.bootstrap import Services
from tests.unit.access.conftest import Caller

GUARDED = [op for op in ROUTED if not op.public]


def _path(op: Op) -> str:
    return re.sub(r"{\w+}", "p-missing", op.path)


def _refused_for_role(response: Any) -> bool:
    """A role refusal, in whichever error shape the surface uses (every one carries the detail)."""
    return response.status_code == 403 and b"role or above" in response.body


@pytest.mark.parametrize("op", GUARDED, ids=[f"{op.method} {op.path}" for op in GUARDED])
def test_each_role_is_refused_exactly_below_the_routes_least_role(op: Op, as_role: dict[Role, Caller]) -> None:
    needed = required_role(op)
    outcomes = {}
    for role, caller in as_role.items():
        response = caller.call(op.method, _path(op), None if op.method in ("GET", "HEAD", "DELETE") else {},
                               headers={"Idempotency-Key": "7d3c1c8e-5b1f-4f6e-9a51-0a4f5a7f3b10"}
                               if op.method == "POST" else None)
        outcomes[role] = _refused_for_role(response)
        if outcomes[role] and op in OPERATIONS:
            assert response.json_body["code"] == "insufficient-role"
            assert response.json_body["required_role"] == needed.value
    assert outcomes == {role: not role.allows(needed) for role in Role}


def test_the_registry_holds_every_routed_operation_with_its_least_role() -> None:
    for op in ROUTED:
        rule = POLICY.rule_for(op.method, op.path)
        assert rule is not None and rule.role == required_role(op) and rule.operation_id == op.operation_id


@pytest.mark.parametrize(("method", "tags", "explicit", "expected"), [
    ("GET", ("webhooks",), None, Role.VIEWER),
    ("HEAD", ("scans",), None, Role.VIEWER),
    ("POST", ("scans",), None, Role.MEMBER),
    ("DELETE", ("templates",), None, Role.ADMIN),
    ("PATCH", ("organization",), None, Role.OWNER),
    ("POST", ("scans", "webhooks"), None, Role.ADMIN),  # the strongest of its tags
    ("POST", ("something-new",), None, Role.OWNER),  # unknown: fail closed
    ("PUT", (), None, Role.OWNER),
    ("GET", ("audit",), Role.ADMIN, Role.ADMIN),  # explicit wins over the read rule
    ("POST", ("templates",), Role.MEMBER, Role.MEMBER),
])
def test_required_role_is_derived_from_method_and_tags_unless_declared(
        method: str, tags: tuple[str, ...], explicit: Role | None, expected: Role) -> None:
    op = Op(method, "/v1/x", "x", "x", 200, None, tags=tags, role=explicit)
    assert required_role(op) == expected


def test_declared_exceptions_to_the_derivation() -> None:
    by_id = {(op.method, op.path): required_role(op) for op in ROUTED}
    assert by_id[("GET", "/v1/audit-events")] == Role.ADMIN
    assert by_id[("GET", "/v1/api-keys")] == Role.ADMIN
    assert by_id[("GET", "/v1/webhooks")] == Role.ADMIN  # webhook URLs are often credentials themselves
    assert by_id[("POST", "/v1/scan-templates/{template_id}/launch")] == Role.MEMBER  # launching is scanning


def _request(method: str, resource_path: str, key: str, body: bytes = b"") -> Request:
    return Request({
        "requestContext": {"httpMethod": method, "resourcePath": resource_path, "path": resource_path,
                           "identity": {"sourceIp": "127.0.0.1"}},
        "headers": {"authorization": f"Bearer {key}", "content-type": "application/json"},
        "multiValueQueryStringParameters": None, "pathParameters": None, "stageVariables": {},
        "body": body.decode() if body else None,
    })


def _recording() -> tuple[list[Principal], Callable[[Ctx], Result]]:
    seen: list[Principal] = []

    def op(ctx: Ctx) -> Result:
        seen.append(ctx.principal)
        return Result(200, {"ok": True})
    return seen, op


def test_a_route_nobody_registered_needs_the_owner_role(role_keys: dict[Role, str]) -> None:
    seen, op = _recording()
    refused = handle(_request("POST", "/v1/not-in-any-table", role_keys[Role.ADMIN]), op)
    allowed = handle(_request("POST", "/v1/not-in-any-table", role_keys[Role.OWNER]), op)
    assert refused.status_code == 403 and allowed.status_code == 200
    assert [p.role for p in seen] == [Role.OWNER]


def test_the_role_is_checked_before_the_body_is_read(role_keys: dict[Role, str], services: Services) -> None:
    seen, op = _recording()
    oversized = b"{" * (services.settings.max_body_bytes + 10)
    response = handle(_request("POST", "/v1/scans", role_keys[Role.VIEWER], oversized), op)
    assert response.status_code == 403 and seen == []  # not 413: the body never counted
    malformed = handle(_request("POST", "/v1/scans", role_keys[Role.VIEWER], b"{not json"), op)
    assert malformed.status_code == 403


def test_a_legacy_key_without_a_role_keeps_every_right(as_role: dict[Role, Caller], services: Services) -> None:
    viewer = as_role[Role.VIEWER]
    status, _ = viewer.json("POST", "/v1/api-keys", {"name": "refused", "role": "viewer"})
    assert status == 403
    digest = services.auth.hash_key(viewer.key)
    stored = services.store.get(f"APIKEY#{digest}", "APIKEY")
    assert stored is not None
    # A record written before roles existed: no role, no member.
    services.store.put(f"APIKEY#{digest}", "APIKEY",
                       {k: v for k, v in stored.data.items() if k not in ("role", "member_id")})
    status, created = viewer.json("POST", "/v1/api-keys", {"name": "from a legacy key", "role": "owner"})
    assert status == 201 and created["role"] == "owner"


def test_the_openapi_document_names_each_keyed_operations_least_role_and_its_403() -> None:
    document = openapi_document(OPERATIONS)
    keyed = [op for op in OPERATIONS if not op.public]
    assert keyed
    for op in keyed:
        described = document["paths"][op.path][op.method.lower()]
        assert described["x-perimeter-role"] == required_role(op).value, op.operation_id
        assert f"below {required_role(op).value} (insufficient-role)" in described["responses"]["403"]["description"]
    for op in (op for op in OPERATIONS if op.public):
        assert "x-perimeter-role" not in document["paths"][op.path][op.method.lower()]
    create = document["paths"]["/v1/scans"]["post"]["responses"]["403"]["description"]
    assert "target-not-verified" in create
