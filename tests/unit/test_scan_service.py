"""Scan use cases on in-memory fakes."""

from __future__ import annotations

import pytest

from chalicelib.access.auth import Tenant
from chalicelib.bootstrap import Services
from chalicelib.core.errors import (
    BadRequest,
    Conflict,
    IllegalTransition,
    InvalidDomain,
    NotFound,
    ServiceUnavailable,
    TargetNotAllowed,
)
from chalicelib.core.settings import Settings
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import Scan, ScanStatus, ScanType, allowed_sources
from chalicelib.templates.commands import CreateTemplate, LaunchTemplate
from tests.support.fakes import FakeResolver
from tests.support.memory import RecordingWorkflow


@pytest.fixture
def tenant(services: Services) -> Tenant:
    return services.auth.create_tenant("acme", "Acme")


def posture(domain: str = "example.com", **extra: object) -> CreateScan:
    return CreateScan.model_validate({"domain": domain, **extra})


def test_create_scan_stores_pending_and_starts_execution_named_after_it(
        services: Services, tenant: Tenant, workflow: RecordingWorkflow) -> None:
    scan = services.scans.create(tenant, posture("https://Example.com/x"))
    assert scan.status == ScanStatus.PENDING and scan.target == "example.com"
    assert scan.scan_id.startswith("scn_") and len(scan.scan_id) == 30
    assert workflow.started[scan.scan_id]["signals"] == ["scan", "breach", "reputation", "mail", "layer", "web"]
    assert services.scans.get("acme", scan.scan_id).ready_threshold == 65


@pytest.mark.parametrize("domain", ["internal.example", "metadata.example", "mixed.example", "mapped.example"])
def test_create_scan_rejects_domains_resolving_to_non_public_addresses(
        services: Services, tenant: Tenant, workflow: RecordingWorkflow, domain: str) -> None:
    with pytest.raises(TargetNotAllowed):
        services.scans.create(tenant, posture(domain))
    assert workflow.started == {}
    assert services.scans.list("acme")[0] == []


@pytest.mark.parametrize("target", ["127.0.0.1", "2852039166", "0x7f.1", "[::1]", "169.254.169.254"])
def test_create_scan_rejects_non_public_ip_targets(services: Services, tenant: Tenant, target: str) -> None:
    with pytest.raises(TargetNotAllowed):
        services.scans.create(tenant, CreateScan(target=target, scan_type=ScanType.PORTS))


def test_create_scan_rejects_ip_target_for_posture(services: Services, tenant: Tenant) -> None:
    with pytest.raises(InvalidDomain):
        services.scans.create(tenant, posture("93.184.216.34"))


def test_public_ip_target_is_accepted_for_a_port_scan(services: Services, tenant: Tenant) -> None:
    scan = services.scans.create(tenant, CreateScan(target="93.184.216.34", scan_type=ScanType.PORTS))
    assert scan.target == "93.184.216.34" and scan.scan_type == ScanType.PORTS


def test_nxdomain_is_domain_not_found(services: Services, tenant: Tenant) -> None:
    with pytest.raises(InvalidDomain) as info:
        services.scans.create(tenant, posture("nope.example"))
    assert info.value.code == "domain-not-found"


def test_allow_list_exempts_private_targets(settings, workflow) -> None:  # type: ignore[no-untyped-def]
    from tests.support.memory import MemoryStore

    allowed = Settings.from_env({"PERIMETER_ALLOW_PRIVATE_TARGETS": "10.0.0.0/8"}, key_pepper=settings.key_pepper)
    services = Services(allowed, store=MemoryStore(), workflow=workflow, resolver=FakeResolver(
        {"internal.example": ["10.0.0.5"]}))
    tenant = services.auth.create_tenant("acme", "Acme")
    assert services.scans.create(tenant, posture("internal.example")).target == "internal.example"


def test_unavailable_resolver_defers_the_guard_to_the_scanners(settings, workflow) -> None:  # type: ignore[no-untyped-def]
    from tests.support.memory import MemoryStore

    services = Services(settings, store=MemoryStore(), workflow=workflow,
                        resolver=FakeResolver(unavailable="resolver down"))
    tenant = services.auth.create_tenant("acme", "Acme")
    assert services.scans.create(tenant, posture("example.com")).status == ScanStatus.PENDING


def test_pipeline_start_failure_marks_the_scan_failed_and_is_503(
        services: Services, tenant: Tenant, workflow: RecordingWorkflow) -> None:
    workflow.fail_with = RuntimeError("states down")
    with pytest.raises(ServiceUnavailable):
        services.scans.create(tenant, posture())
    [scan], _ = services.scans.list("acme")
    assert scan.status == ScanStatus.FAILED and scan.error is not None
    assert scan.error.code == "pipeline-unavailable"


def test_other_tenants_cannot_read_or_cancel_a_scan(services: Services, tenant: Tenant) -> None:
    scan = services.scans.create(tenant, posture())
    services.auth.create_tenant("rival", "Rival")
    with pytest.raises(NotFound):
        services.scans.get("rival", scan.scan_id)
    with pytest.raises(NotFound):
        services.scans.cancel("rival", scan.scan_id)
    assert services.scans.list("rival")[0] == []


def test_transitions_follow_the_state_machine(services: Services, tenant: Tenant) -> None:
    scan = services.scans.create(tenant, posture())
    with pytest.raises(IllegalTransition):
        services.scans.transition("acme", scan.scan_id, ScanStatus.COMPLETE)
    moved = services.scans.transition("acme", scan.scan_id, ScanStatus.SCANNING)
    assert moved.started_at is not None
    services.scans.transition("acme", scan.scan_id, ScanStatus.SCORING)
    done = services.scans.transition("acme", scan.scan_id, ScanStatus.COMPLETE, score=91)
    assert done.completed_at is not None and done.score == 91
    for target in (ScanStatus.FAILED, ScanStatus.CANCELLED, ScanStatus.SCANNING):
        with pytest.raises(IllegalTransition):
            services.scans.transition("acme", scan.scan_id, target)
    assert services.scans.get("acme", scan.scan_id).status == ScanStatus.COMPLETE


def test_an_update_that_loses_every_race_is_a_409_scan_contention(services: Services, tenant: Tenant) -> None:
    scan = services.scans.create(tenant, posture())
    rivals = 0

    def tag_while_a_rival_writes(current: Scan) -> dict[str, object]:
        nonlocal rivals
        rivals += 1
        _, version = services.scans.repo.get("acme", scan.scan_id)
        services.scans.repo.save(current.model_copy(update={"tags": [f"rival-{rivals}"]}), version)
        return {"tags": ["mine"]}

    with pytest.raises(Conflict) as info:
        services.scans.update("acme", scan.scan_id, tag_while_a_rival_writes)
    assert info.value.code == "scan-contention" and rivals == 10
    assert services.scans.get("acme", scan.scan_id).tags == ["rival-10"]


def test_no_transition_leaves_a_terminal_state() -> None:
    for target in ScanStatus:
        assert not (allowed_sources(target) & {ScanStatus.COMPLETE, ScanStatus.FAILED, ScanStatus.CANCELLED})


def test_cancel_stops_the_execution_and_is_409_when_terminal(
        services: Services, tenant: Tenant, workflow: RecordingWorkflow) -> None:
    scan = services.scans.create(tenant, posture())
    cancelled = services.scans.cancel("acme", scan.scan_id)
    assert cancelled.status == ScanStatus.CANCELLED and workflow.stopped == [scan.scan_id]
    with pytest.raises(Conflict) as info:
        services.scans.cancel("acme", scan.scan_id)
    assert info.value.code == "scan-terminal"


def test_list_filters_and_paginates_newest_first(services: Services, tenant: Tenant) -> None:
    made = [services.scans.create(tenant, posture(tags=["even" if i % 2 == 0 else "odd"])) for i in range(7)]
    services.scans.create(tenant, CreateScan(target="93.184.216.34", scan_type=ScanType.PORTS))
    services.scans.cancel("acme", made[0].scan_id)
    page1, cursor = services.scans.list("acme", scan_type=ScanType.POSTURE, limit=3)
    assert [s.scan_id for s in page1] == [m.scan_id for m in reversed(made)][:3]
    page2, cursor2 = services.scans.list("acme", scan_type=ScanType.POSTURE, limit=3, cursor=cursor)
    page3, cursor3 = services.scans.list("acme", scan_type=ScanType.POSTURE, limit=3, cursor=cursor2)
    assert len(page2) == 3 and len(page3) == 1 and cursor3 is None
    assert {s.scan_id for s in page1 + page2 + page3} == {m.scan_id for m in made}
    assert {s.scan_id for s in services.scans.list("acme", tag="even")[0]} == {m.scan_id for m in made[::2]}
    assert [s.scan_id for s in services.scans.list("acme", status=ScanStatus.CANCELLED)[0]] == [made[0].scan_id]


@pytest.mark.parametrize("cursor", ["garbage", "eyJhZnRlciI6IlRFTkFOVCNvdGhlciJ9", "e30"])
def test_foreign_or_garbled_cursors_are_400(services: Services, tenant: Tenant, cursor: str) -> None:
    with pytest.raises(BadRequest):
        services.scans.list("acme", cursor=cursor)


def test_usage_counts_created_finished_and_billable_units(services: Services, tenant: Tenant) -> None:
    a = services.scans.create(tenant, posture())
    b = services.scans.create(tenant, CreateScan(target="93.184.216.34", scan_type=ScanType.PORTS))
    for status in (ScanStatus.SCANNING, ScanStatus.SCORING, ScanStatus.COMPLETE):
        services.scans.transition("acme", a.scan_id, status)
    services.scans.cancel("acme", b.scan_id)
    summary = services.usage.summary("acme", "30d")
    assert summary["scans_created"] == 2
    assert summary["scans_by_type"]["posture"] == 1 and summary["scans_by_type"]["ports"] == 1
    assert summary["scans_by_status"] == {"complete": 1, "failed": 0, "cancelled": 1, "in_progress": 0}
    assert summary["billable_units"] == 5
    assert services.usage.summary("rival", "7d")["scans_created"] == 0


def test_template_launch_applies_overrides(services: Services, tenant: Tenant, workflow: RecordingWorkflow) -> None:
    template = services.templates.create("acme", CreateTemplate(name="weekly", scan_type=ScanType.PORTS,
                                                                tags=["ci"], timeout_seconds=300))
    scan = services.templates.launch(tenant, template.template_id,
                                     LaunchTemplate(target="93.184.216.34", tags=["override"]))
    assert (scan.scan_type, scan.tags, scan.timeout_seconds, scan.template_id) == (
        ScanType.PORTS, ["override"], 300, template.template_id)
    services.auth.create_tenant("rival", "Rival")
    with pytest.raises(NotFound):
        services.templates.get("rival", template.template_id)
    services.templates.delete("acme", template.template_id)
    with pytest.raises(NotFound):
        services.templates.launch(tenant, template.template_id, LaunchTemplate(target="example.com"))
