"""Audit events and key pages on the real DynamoDB adapter (moto): newest first, `since`, the TTL attribute."""

from __future__ import annotations

import time
from typing import Any

from chalicelib.access.audit import AuditService
from chalicelib.access.auth import AuthService
from chalicelib.access.roles import Role
from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.core.clock import utcnow
from chalicelib.local.provision import Resources


def test_audit_events_page_and_bound_by_time_on_dynamodb(dynamo_store: DynamoDBStore, aws: dict[str, Any],
                                                        resources: Resources) -> None:
    audit = AuditService(dynamo_store, retention_days=7)
    audit.record("acme", action="old", actor_key_id="key_a", actor_member_id=None, status=200)
    time.sleep(0.005)
    since = utcnow()
    ids = [audit.record("acme", action=f"new{i}", actor_key_id="key_a", actor_member_id=None,
                        status=200).event_id for i in range(3)]
    audit.record("rival", action="elsewhere", actor_key_id="key_r", actor_member_id=None, status=200)
    first, cursor = audit.list("acme", limit=2, since=since)
    rest, end = audit.list("acme", limit=2, since=since, cursor=cursor)
    assert [e.event_id for e in first + rest] == ids[::-1] and end is None
    item = aws["dynamodb"].scan(TableName=resources.table)["Items"]
    expiries = [int(i["expires_at"]["N"]) for i in item if i["sk"]["S"].startswith("AUDIT#")]
    assert len(expiries) == 5 and all(abs(e - (time.time() + 7 * 86_400)) < 60 for e in expiries)


def test_member_keys_change_role_on_dynamodb(dynamo_store: DynamoDBStore) -> None:
    auth = AuthService(dynamo_store, b"pepper-for-dynamodb-tests")
    auth.create_tenant("acme", "Acme")
    _, key = auth.issue_key("acme", role=Role.ADMIN, member_id="mem_bob")
    assert auth.set_member_role("acme", "mem_bob", Role.VIEWER) == 1
    assert auth.authenticate(f"Bearer {key}", None).role == Role.VIEWER
    page, _ = auth.page_keys("acme", limit=10)
    assert [k.role for k in page] == [Role.VIEWER]
