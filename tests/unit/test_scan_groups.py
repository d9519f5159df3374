"""Scan groups: the status rule, members created with their group, group.completed once, tenant isolation."""

from __future__ import annotations

import pytest

from chalicelib.access.auth import Tenant
from chalicelib.bootstrap import Services
from chalicelib.core.errors import NotFound, TargetNotAllowed
from chalicelib.scans.groups import GroupStatus, ScanGroupService, announce_group_end, group_status
from chalicelib.scans.models import Priority, ScanStatus, ScanType
from tests.support.memory import RecordingPublisher

P, S, C, F, X = ScanStatus.PENDING, ScanStatus.SCANNING, ScanStatus.COMPLETE, ScanStatus.FAILED, ScanStatus.CANCELLED


@pytest.mark.parametrize(("statuses", "expected"), [
    ([P, P], GroupStatus.PENDING), ([P, S], GroupStatus.RUNNING), ([C, S], GroupStatus.RUNNING),
    ([C, C], GroupStatus.COMPLETE), ([C, F], GroupStatus.PARTIAL), ([C, X], GroupStatus.PARTIAL),
    ([F, X], GroupStatus.FAILED), ([X, X], GroupStatus.CANCELLED), ([F], GroupStatus.FAILED),
])
def test_the_group_status_rule(statuses: list[ScanStatus], expected: GroupStatus) -> None:
    assert group_status(statuses) is expected


def _tenant(services: Services, tenant_id: str = "acme") -> Tenant:
    services.auth.create_tenant(tenant_id, tenant_id)
    return services.auth.get_tenant(tenant_id)


def test_a_group_starts_one_scan_per_distinct_target_and_ends_once(services: Services) -> None:
    tenant = _tenant(services)
    groups = ScanGroupService(services.scans)
    view = groups.create(tenant, ["Example.com", "example.com", "xn--bcher-kva.example"], ScanType.POSTURE,
                         priority=Priority.HIGH, id_prefix="scn")
    assert view.group.group_id.startswith("scn_") and view.status is GroupStatus.PENDING
    assert view.group.targets == ["example.com", "xn--bcher-kva.example"]
    assert [s.group_id for s in view.scans] == [view.group.group_id] * 2
    assert [s.priority for s in view.scans] == [Priority.HIGH] * 2
    events = RecordingPublisher()
    first, second = view.scans
    ended = services.scans.transition("acme", first.scan_id, ScanStatus.FAILED)
    announce_group_end(services.scans, events, ended)
    assert events.events == []
    ended = services.scans.transition("acme", second.scan_id, ScanStatus.CANCELLED)
    announce_group_end(services.scans, events, ended)
    announce_group_end(services.scans, events, ended)  # a replay publishes nothing new
    [(tenant_id, name, data)] = events.events
    assert (tenant_id, name, data["group_id"], data["status"]) == ("acme", "group.completed", view.group.group_id,
                                                                   "failed")
    assert groups.get("acme", view.group.group_id).status is GroupStatus.FAILED


def test_a_refused_target_stores_nothing(services: Services) -> None:
    tenant = _tenant(services)
    with pytest.raises(TargetNotAllowed):
        ScanGroupService(services.scans).create(tenant, ["example.com", "internal.example"],
                                                ScanType.POSTURE)
    assert services.scans.list("acme")[0] == []


def test_another_tenant_cannot_read_a_group(services: Services) -> None:
    tenant = _tenant(services)
    _tenant(services, "rival")
    groups = ScanGroupService(services.scans)
    group_id = groups.create(tenant, ["example.com"], ScanType.POSTURE).group.group_id
    with pytest.raises(NotFound):
        groups.get("rival", group_id)
