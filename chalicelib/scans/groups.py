"""Scan groups: one request naming several targets, one group id, one Perimeter scan per target.

A group is stored under `TENANT#<id>` / `GROUP#<group id>` with its targets and its member scan ids
(allocated before any member is created, so a member that ends early always finds its group). Its
status is derived from the members' (`group_status`); its findings are every member's, each with its
`target` and a `status`: `open` (seen in this scan) or `resolved` (seen in the previous complete scan
of the same target and type, gone now). When the last member ends, `group.completed` is published
once (keyed by the group id), whichever member's step gets there first.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from chalicelib.access.auth import Tenant
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import NotFound, Unprocessable
from chalicelib.core.ids import new_id
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.history import previous_complete
from chalicelib.scans.models import ESTIMATED_SECONDS, Finding, Priority, Scan, ScanStatus, ScanType
from chalicelib.scans.ports import EventPublisher
from chalicelib.scans.service import ScanService

log = logging.getLogger(__name__)

MAX_GROUP_TARGETS = 20  # one request's targets (bounded resources: each is a full scan)
GROUP_EVENT = "group.completed"
FindingStatus = Literal["open", "resolved"]


class GroupStatus(StrEnum):
    PENDING = "pending"  # every member pending
    RUNNING = "running"  # some member still running
    COMPLETE = "complete"  # every member complete
    PARTIAL = "partial"  # every member ended, some complete, some not
    FAILED = "failed"  # every member ended, none complete, some failed
    CANCELLED = "cancelled"  # every member cancelled

    @property
    def terminal(self) -> bool:
        """True once every member has ended."""
        return self not in (GroupStatus.PENDING, GroupStatus.RUNNING)


class ScanGroup(BaseModel):
    """The stored group: its targets in request order and the member scan id of each."""

    model_config = ConfigDict(extra="forbid")

    group_id: str
    tenant_id: str
    targets: list[str]
    members: list[str]
    scan_type: ScanType
    priority: Priority
    name: str | None = None
    created_at: datetime
    estimated_seconds: int


@dataclass(frozen=True)
class GroupView:
    """A group with its member scans (in target order) and its derived status."""

    group: ScanGroup
    scans: list[Scan]
    status: GroupStatus

    @property
    def worst(self) -> Scan | None:
        """The scored member with the lowest score (the group's score and grade), or None."""
        scored = [s for s in self.scans if s.score is not None]
        return min(scored, key=lambda s: s.score or 0) if scored else None


@dataclass(frozen=True)
class GroupFinding:
    """A finding of one member, with its target and whether it is still there."""

    target: str
    scan_id: str
    status: FindingStatus
    finding: Finding


def group_status(statuses: Sequence[ScanStatus]) -> GroupStatus:
    """The group status rule (see GroupStatus) for the members' statuses."""
    if not statuses or all(s is ScanStatus.PENDING for s in statuses):
        return GroupStatus.PENDING
    if not all(s.terminal for s in statuses):
        return GroupStatus.RUNNING
    if all(s is ScanStatus.COMPLETE for s in statuses):
        return GroupStatus.COMPLETE
    if any(s is ScanStatus.COMPLETE for s in statuses):
        return GroupStatus.PARTIAL
    if all(s is ScanStatus.CANCELLED for s in statuses):
        return GroupStatus.CANCELLED
    return GroupStatus.FAILED


class ScanGroupService:
    """Create and read scan groups over the scan service and its table."""

    def __init__(self, scans: ScanService, events: Callable[[], EventPublisher] | None = None) -> None:
        self._scans = scans
        self._store = scans.store
        self._events = events

    def create(self, tenant: Tenant, targets: Sequence[str], scan_type: ScanType, *,
               priority: Priority = Priority.NORMAL, name: str | None = None,
               id_prefix: str = "grp") -> GroupView:
        """Check every target, store the group, then start one scan per (distinct) target; returns the group
        with its members as created (all pending).

        Nothing is stored when a target is refused (InvalidDomain, TargetNotAllowed, Unprocessable).
        When a member cannot start (it ends failed), no further member is created: the group keeps
        the members that exist (and ends failed or partial) and the error (ServiceUnavailable) is raised.
        """
        checked = list(dict.fromkeys(self._scans.check_target(t, scan_type) for t in targets))
        if not 0 < len(checked) <= MAX_GROUP_TARGETS:
            raise Unprocessable(f"A group has 1 to {MAX_GROUP_TARGETS} targets.", errors=[
                {"field": "targets", "message": f"between 1 and {MAX_GROUP_TARGETS} targets", "type": "length"}])
        group = ScanGroup(group_id=new_id(id_prefix), tenant_id=tenant.tenant_id, targets=checked,
                          members=[new_id("scn") for _ in checked], scan_type=scan_type, priority=priority,
                          name=name, created_at=utcnow(),
                          estimated_seconds=ESTIMATED_SECONDS[scan_type] * len(checked))
        self._store.put(_pk(group.tenant_id), _sk(group.group_id), group.model_dump(mode="json"), expect_version=0)
        created: list[Scan] = []
        for index, (target, scan_id) in enumerate(zip(checked, group.members, strict=True)):
            command = CreateScan(target=target, scan_type=scan_type, priority=priority, name=name)
            try:
                created.append(self._scans.create(tenant, command, scan_id=scan_id, group_id=group.group_id))
            except Exception:
                log.warning("member %s of group %s could not start; no further member is created",
                            scan_id, group.group_id)
                self._truncate(group, index + 1)
                raise
        # The answer to the request describes the members as created (not re-read: a member may already
        # be scanning by now, and the acceptance answer is about what was accepted).
        return GroupView(group, created, group_status([scan.status for scan in created]))

    def _truncate(self, group: ScanGroup, created: int) -> None:
        """Keep the first `created` members (those that exist) and end the group if they all have."""
        kept = group.model_copy(update={"members": group.members[:created], "targets": group.targets[:created]})
        try:
            self._store.put(_pk(group.tenant_id), _sk(group.group_id), kept.model_dump(mode="json"),
                            expect_version=1)
            last = self._scans.get(group.tenant_id, kept.members[-1])
            if self._events is not None:
                announce_group_end(self._scans, self._events(), last)
        except Exception:
            log.exception("could not record the members of group %s", group.group_id)

    def find(self, tenant_id: str, group_id: str) -> ScanGroup | None:
        """The stored group of this tenant, or None."""
        record = self._store.get(_pk(tenant_id), _sk(group_id))
        return ScanGroup.model_validate(record.data) if record is not None else None

    def get(self, tenant_id: str, group_id: str) -> GroupView:
        """The group with its members; raises NotFound (also for another tenant's id)."""
        group = self.find(tenant_id, group_id)
        if group is None:
            raise NotFound(f"No scan {group_id}.", code="group-not-found")
        return view_of(self._scans, group)

    def findings(self, view: GroupView) -> list[GroupFinding]:
        """Every member's findings (open), then what its previous scan had and it no longer has (resolved).

        Most severe first, then by target and finding id.
        """
        found: list[GroupFinding] = []
        for scan in view.scans:
            current = self._scans.all_findings(scan)
            found += [GroupFinding(scan.target, scan.scan_id, "open", f) for f in current]
            if scan.status is not ScanStatus.COMPLETE:
                continue
            before = previous_complete(self._scans, scan)
            if before is not None:
                seen = {f.id for f in current}
                found += [GroupFinding(scan.target, scan.scan_id, "resolved", f)
                          for f in self._scans.all_findings(before) if f.id not in seen]
        order = {s: i for i, s in enumerate(("critical", "high", "medium", "low", "info"))}
        return sorted(found, key=lambda g: (order[g.finding.severity.value], g.target, g.status, g.finding.id))


def view_of(scans: ScanService, group: ScanGroup) -> GroupView:
    """Read the members; a member not created yet counts as pending."""
    members: list[Scan] = []
    statuses: list[ScanStatus] = []
    for scan_id in group.members:
        try:
            scan = scans.get(group.tenant_id, scan_id)
        except NotFound:
            statuses.append(ScanStatus.PENDING)
            continue
        members.append(scan)
        statuses.append(scan.status)
    return GroupView(group, members, group_status(statuses))


def group_event_data(view: GroupView) -> dict[str, Any]:
    """The `group.completed` event's fields."""
    worst = view.worst
    return {
        "group_id": view.group.group_id, "status": view.status.value, "scan_type": view.group.scan_type.value,
        "targets": view.group.targets, "score": worst.score if worst else None,
        "grade": worst.grade if worst else None,
        "findings_count": sum(s.findings_count for s in view.scans),
        "members": [{"scan_token": s.scan_id, "target": s.target, "status": s.status.value, "score": s.score,
                     "grade": s.grade} for s in view.scans],
    }


def announce_group_end(scans: ScanService, events: EventPublisher, scan: Scan) -> None:
    """Publish `group.completed` when `scan` (which just ended) was its group's last running member.

    Keyed by the group id, so members ending together publish it once. Never raises (logged).
    """
    if not scan.group_id:
        return
    try:
        group = ScanGroupService(scans).find(scan.tenant_id, scan.group_id)
        if group is None:
            return
        view = view_of(scans, group)
        if view.status.terminal:
            events.publish(scan.tenant_id, GROUP_EVENT, group_event_data(view), key=group.group_id)
    except Exception:
        log.exception("could not announce the end of group %s", scan.group_id)


def _pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def _sk(group_id: str) -> str:
    return f"GROUP#{group_id}"
