"""Audit events: stored per tenant, newest first, filtered, paginated, expiring after the retention."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from chalicelib.access.audit import REDACTED, AuditService
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import BadRequest
from tests.support.memory import MemoryStore


@pytest.fixture
def store() -> MemoryStore:
    return MemoryStore()


@pytest.fixture
def audit(store: MemoryStore) -> AuditService:
    return AuditService(store, retention_days=30)


def _record(audit: AuditService, action: str, key: str | None = "key_a", member: str | None = None,
            tenant: str = "acme") -> str:
    return audit.record(tenant, action=action, actor_key_id=key, actor_member_id=member, status=201).event_id


def test_events_list_newest_first_and_page_without_gaps(audit: AuditService) -> None:
    ids = [_record(audit, f"action{i}") for i in range(7)]
    first, cursor = audit.list("acme", limit=3)
    second, cursor2 = audit.list("acme", limit=3, cursor=cursor)
    third, end = audit.list("acme", limit=3, cursor=cursor2)
    assert [e.event_id for e in first + second + third] == ids[::-1] and end is None


def test_filters_by_action_and_by_actor_key_or_member(audit: AuditService) -> None:
    _record(audit, "createScan", key="key_a", member="mem_alice")
    _record(audit, "createWebhook", key="key_b")
    _record(audit, "createScan", key="key_b")
    _record(audit, "invitationAccepted", key=None, member="mem_alice")
    assert [e.actor_key_id for e in audit.list("acme", limit=10, action="createScan")[0]] == ["key_b", "key_a"]
    assert [e.action for e in audit.list("acme", limit=10, actor="mem_alice")[0]] == [
        "invitationAccepted", "createScan"]
    assert [e.action for e in audit.list("acme", limit=10, actor="key_b", action="createWebhook")[0]] == [
        "createWebhook"]


def test_filtered_pages_continue_where_the_last_one_stopped(audit: AuditService) -> None:
    wanted = []
    for i in range(9):
        event = _record(audit, "createScan" if i % 3 == 0 else "cancelScan")
        if i % 3 == 0:
            wanted.append(event)
    page, cursor = audit.list("acme", limit=2, action="createScan")
    rest, end = audit.list("acme", limit=2, action="createScan", cursor=cursor)
    assert [e.event_id for e in page + rest] == wanted[::-1] and end is None


def test_since_keeps_only_events_at_or_after_it(audit: AuditService, store: MemoryStore) -> None:
    _record(audit, "old")
    time.sleep(0.005)
    boundary = utcnow()
    _record(audit, "new")
    assert [e.action for e in audit.list("acme", limit=10, since=boundary)[0]] == ["new"]
    assert len(audit.list("acme", limit=10, since=boundary - timedelta(days=1))[0]) == 2


def test_retention_sets_the_stores_expiry(audit: AuditService, store: MemoryStore) -> None:
    event = audit.record("acme", action="createScan", actor_key_id="key_a", actor_member_id=None, status=202)
    [stored] = store.query("TENANT#acme", "AUDIT#")
    assert stored.expires_at == int(event.occurred_at.timestamp()) + 30 * 86_400


def test_expired_events_awaiting_the_ttl_sweep_are_not_listed(audit: AuditService, store: MemoryStore) -> None:
    _record(audit, "kept")
    expired = _record(audit, "expired")
    [record] = [r for r in store.query("TENANT#acme", "AUDIT#") if r.data["event_id"] == expired]
    store.put(record.pk, record.sk, record.data, expires_at=int(time.time()) - 1)
    assert [e.action for e in audit.list("acme", limit=10)[0]] == ["kept"]


def test_events_stay_in_their_tenant(audit: AuditService) -> None:
    _record(audit, "createScan", tenant="acme")
    _record(audit, "deleteWebhook", tenant="rival")
    assert [e.action for e in audit.list("rival", limit=10)[0]] == ["deleteWebhook"]
    assert [e.action for e in audit.list("acme", limit=10)[0]] == ["createScan"]


def test_a_cursor_of_another_listing_is_refused(audit: AuditService) -> None:
    from chalicelib.core.pagination import encode_cursor

    with pytest.raises(BadRequest):
        audit.list("acme", limit=5, cursor=encode_cursor("KEY#key_1"))


def test_credentials_in_targets_and_details_are_stored_redacted(audit: AuditService) -> None:
    event = audit.record("acme", action="revokeApiKey", actor_key_id="key_a", actor_member_id=None, status=404,
                         target={"key_id": "pmk_" + "A" * 43, "webhook_id": "whk_01J0000000000000000000000"},
                         detail="rotated from whsec_c2VjcmV0c2VjcmV0 to a new one")
    assert event.target == {"key_id": REDACTED, "webhook_id": "whk_01J0000000000000000000000"}
    assert event.detail is not None and "whsec_" not in event.detail and "c2VjcmV0" not in event.detail
