"""Creating, reading, listing, moving and cancelling scans, and ending the overdue ones."""

from __future__ import annotations

import builtins
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from chalicelib.access.auth import Tenant
from chalicelib.core import observability as obs
from chalicelib.core.addresses import IPNetwork
from chalicelib.core.clock import utcnow
from chalicelib.core.errors import Conflict, IllegalTransition, InvalidDomain, NotFound, ServiceUnavailable
from chalicelib.core.ids import new_id
from chalicelib.core.pagination import decode_cursor, encode_cursor, invalid_cursor
from chalicelib.core.store import KeyValueStore, Record
from chalicelib.core.versioned import TooManyConflicts, update_versioned
from chalicelib.net.guard import guard_addresses, normalise_target
from chalicelib.net.ports import DomainNotFound, Resolver, ResolverUnavailable
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.deadlines import OVERDUE_GRACE_SECONDS, OVERDUE_LIMIT, DeadlineIndex, DueEntry, due_sk
from chalicelib.scans.models import (
    BILLABLE_UNITS,
    SIGNALS_BY_TYPE,
    Finding,
    Scan,
    ScanError,
    ScanStatus,
    ScanType,
    Severity,
    SignalKey,
    check_transition,
)
from chalicelib.scans.ports import EventPublisher, Workflow
from chalicelib.scans.usage import UsageService

log = logging.getLogger(__name__)

_PAGE = 100
_MAX_PAGES = 20
_UPDATE_ATTEMPTS = 10
# Scan types whose target must be a domain (they read DNS records of the name).
_DOMAIN_ONLY = {ScanType.POSTURE, ScanType.MAIL}
OVERDUE = ScanError(code="timeout", message="The scan did not finish within its timeout_seconds; "
                                            "the pipeline stopped answering.")


class ScanRepository:
    """Scans of a tenant under `TENANT#<id>` / `SCAN#<scan id>`, with optimistic locking."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store

    def add(self, scan: Scan) -> None:
        """Store a new scan; raises ConditionFailed when the id exists."""
        self._store.put(f"TENANT#{scan.tenant_id}", f"SCAN#{scan.scan_id}", scan.model_dump(mode="json"),
                        expect_version=0)

    def get(self, tenant_id: str, scan_id: str) -> tuple[Scan, int]:
        """The scan and its version; raises NotFound (also for another tenant's id)."""
        record = self._store.get(f"TENANT#{tenant_id}", f"SCAN#{scan_id}")
        if record is None:
            raise NotFound(f"No scan {scan_id}.", code="scan-not-found")
        return Scan.model_validate(record.data), record.version

    def save(self, scan: Scan, version: int) -> int:
        """Write a changed scan if nobody else did meanwhile; raises ConditionFailed."""
        return self._store.put(f"TENANT#{scan.tenant_id}", f"SCAN#{scan.scan_id}", scan.model_dump(mode="json"),
                               expect_version=version).version

    def pages(self, tenant_id: str, after: str | None) -> list[Record]:
        """Up to one page of scans, newest first, after a sort key."""
        return self._store.query(f"TENANT#{tenant_id}", "SCAN#", forward=False, after=after, limit=_PAGE)


class ScanService:
    """The scan use cases the API and the pipeline call."""

    def __init__(
        self,
        store: KeyValueStore,
        workflow: Workflow,
        resolver: Resolver,
        usage: UsageService,
        allow_private: tuple[IPNetwork, ...] = (),
        events: Callable[[], EventPublisher] | None = None,
        public_base_url: str = "",
        metrics: obs.Metrics | None = None,
    ) -> None:
        self.repo = ScanRepository(store)
        self.store = store
        self._metrics = metrics or obs.NullMetrics()
        self.deadlines = DeadlineIndex(store)
        self._events = events  # a getter: the webhook service is built only when an event is sent
        self._base_url = public_base_url
        self._workflow = workflow
        self._resolver = resolver
        self._usage = usage
        self._allow_private = allow_private

    # -- create ---------------------------------------------------------------------------
    def check_target(self, raw: str, scan_type: ScanType) -> str:
        """Normalise a target and refuse non-public ones; raises InvalidDomain or TargetNotAllowed.

        A name whose resolvers do not answer is accepted: the scanners resolve and guard again
        before every connection, which is also what defeats DNS rebinding.
        """
        host, ip = normalise_target(raw, allow_ip=scan_type not in _DOMAIN_ONLY)
        if ip is not None:
            guard_addresses(host, [ip], self._allow_private)
            return host
        try:
            addresses = self._resolver.resolve(host)
        except DomainNotFound:
            raise InvalidDomain(f"{host} does not exist in DNS (NXDOMAIN).", code="domain-not-found") from None
        except ResolverUnavailable as exc:
            log.warning("resolver unavailable for %s: %s; the scanners will guard again", host, exc)
            return host
        guard_addresses(host, addresses, self._allow_private)
        return host

    def create(self, tenant: Tenant, command: CreateScan, *, template_id: str | None = None,
               scan_id: str | None = None, group_id: str | None = None) -> Scan:
        """Validate, store and start a scan; raises InvalidDomain, TargetNotAllowed, ServiceUnavailable.

        `scan_id` and `group_id` are set by a scan group, which allocates its members' ids first.
        """
        scan_type = command.effective_type
        target = self.check_target(command.raw_target, scan_type)
        now = utcnow()
        scan = Scan(
            scan_id=scan_id or new_id("scn"), tenant_id=tenant.tenant_id, target=target, scan_type=scan_type,
            name=command.name, priority=command.priority, options=command.options, tags=command.tags,
            timeout_seconds=command.timeout_seconds, template_id=template_id, group_id=group_id,
            created_at=now, updated_at=now,
            ready_threshold=tenant.ready_threshold,
        )
        # The overdue sweeper's backstop, removed when the scan ends. Written first: a failure between
        # the two writes leaves an entry without a scan (the sweeper deletes it), never a scan without one.
        self.deadlines.add(scan)
        self.repo.add(scan)
        obs.append_keys(scan_id=scan.scan_id, execution_name=scan.scan_id)  # the execution is named after the scan
        log.info("scan created: %s of %s", scan_type.value, target)
        self._metrics.record(obs.SCANS_CREATED)
        self._usage.record_created(tenant.tenant_id, scan_type, now)
        try:
            arn = self._workflow.start(scan.scan_id, pipeline_input(scan))
        except Exception as exc:
            log.exception("could not start the pipeline for %s", scan.scan_id)
            failed = self.transition(tenant.tenant_id, scan.scan_id, ScanStatus.FAILED,
                                     error=ScanError(code="pipeline-unavailable",
                                                     message="The scan could not be started."))
            self._publish(failed, "scan.failed")  # every terminal state has its event
            raise ServiceUnavailable("The scan pipeline is unavailable; retry later.",
                                     code="pipeline-unavailable") from exc
        return scan.model_copy(update={"execution_arn": arn})

    # -- read -----------------------------------------------------------------------------
    def get(self, tenant_id: str, scan_id: str) -> Scan:
        """One scan of the tenant; raises NotFound."""
        return self.repo.get(tenant_id, scan_id)[0]

    def list(self, tenant_id: str, *, status: ScanStatus | None = None, scan_type: ScanType | None = None,
             tag: str | None = None, limit: int = 20, cursor: str | None = None) -> tuple[list[Scan], str | None]:
        """Newest first, filtered; returns (scans, next cursor or None). Raises BadRequest."""
        after = decode_cursor(cursor, "SCAN#") if cursor else None

        def wanted(scan: Scan) -> bool:
            return ((status is None or scan.status == status) and (scan_type is None or scan.scan_type == scan_type)
                    and (tag is None or tag in scan.tags))

        found: list[Scan] = []
        for _ in range(_MAX_PAGES):
            page = self.repo.pages(tenant_id, after)
            for record in page:
                after = record.sk
                scan = Scan.model_validate(record.data)
                if wanted(scan):
                    found.append(scan)
                    if len(found) == limit:
                        return found, encode_cursor(after)
            if len(page) < _PAGE:
                return found, None
        return found, encode_cursor(after) if after else None

    # -- change ---------------------------------------------------------------------------
    def update(self, tenant_id: str, scan_id: str, change: Callable[[Scan], dict[str, Any]]) -> Scan:
        """Apply `change(scan) -> fields` with optimistic locking (retried on races); raises NotFound, Conflict."""

        def apply(scan: Scan) -> Scan:
            return scan.model_copy(update={**change(scan), "updated_at": utcnow()})

        def write(scan: Scan, version: int) -> None:
            self.repo.save(Scan.model_validate(scan.model_dump()), version)

        try:
            updated = update_versioned(lambda: self.repo.get(tenant_id, scan_id), apply, write,
                                       attempts=_UPDATE_ATTEMPTS, what=f"scan {scan_id}")
        except TooManyConflicts:
            raise Conflict(f"Scan {scan_id} is changing too fast; retry.", code="scan-contention") from None
        assert updated is not None  # repo.get raises NotFound rather than answering None
        return updated

    def transition(self, tenant_id: str, scan_id: str, target: ScanStatus, **fields: Any) -> Scan:
        """Move a scan to `target`, refusing illegal transitions; raises IllegalTransition, NotFound."""
        previous: list[ScanStatus] = []

        def change(scan: Scan) -> dict[str, Any]:
            check_transition(scan.status, target)
            previous[:] = [scan.status]
            now = utcnow()
            stamp: dict[str, datetime] = {}
            if target == ScanStatus.SCANNING:
                stamp["started_at"] = now
            if target.terminal:
                stamp["completed_at"] = now
            return {"status": target, **stamp, **fields}

        scan = self.update(tenant_id, scan_id, change)
        self._observe(scan, previous[0] if previous else None)
        if target.terminal:
            units = BILLABLE_UNITS[scan.scan_type] if target == ScanStatus.COMPLETE else 0
            self._usage.record_finished(tenant_id, target, units, scan.created_at)
            try:
                self.deadlines.remove(due_sk(scan))
            except Exception:  # a stale entry is removed by the overdue sweeper
                log.exception("could not remove the in-flight entry of %s", scan_id)
        return scan

    def _observe(self, scan: Scan, previous: ScanStatus | None) -> None:
        """Log a state change; record the metrics of a scan that just ended (never raises)."""
        log.info("scan %s: %s -> %s", scan.scan_id, previous.value if previous else "?", scan.status.value)
        if scan.status is ScanStatus.COMPLETE:
            seconds = ((scan.completed_at or scan.updated_at) - scan.created_at).total_seconds()
            self._metrics.record(obs.SCANS_COMPLETED)
            self._metrics.record(obs.SCAN_DURATION, max(0.0, seconds), unit=obs.SECONDS)
        elif scan.status is ScanStatus.FAILED:
            self._metrics.record(obs.SCANS_FAILED, scan_type=scan.scan_type.value,
                                 error_code=scan.error.code if scan.error else "unknown")

    def cancel(self, tenant_id: str, scan_id: str) -> Scan:
        """Cancel a running scan and stop its execution; raises NotFound, Conflict when terminal."""
        scan = self.get(tenant_id, scan_id)
        if scan.status.terminal:
            raise Conflict(f"Scan {scan_id} is already {scan.status.value}.", code="scan-terminal")
        try:
            scan = self.transition(tenant_id, scan_id, ScanStatus.CANCELLED,
                                   error=ScanError(code="cancelled", message="Cancelled by the partner."))
        except Conflict as exc:
            raise Conflict(f"Scan {scan_id} finished before it could be cancelled.", code="scan-terminal") from exc
        try:
            self._workflow.stop(scan_id, "cancelled by the partner")
        except Exception:  # the scan is cancelled; later pipeline steps will be refused their transitions
            log.exception("could not stop the execution of %s", scan_id)
        self._publish(scan, "scan.cancelled")
        return scan

    def expire_overdue(self, now: datetime | None = None, *, grace_seconds: int = OVERDUE_GRACE_SECONDS,
                       limit: int = OVERDUE_LIMIT) -> int:
        """Fail (`timeout`) the scans still running `grace_seconds` after their deadline; returns how many.

        Looks at most `limit` in-flight entries, oldest deadline first. An entry of an ended or
        vanished scan is deleted. An overdue scan goes through the conditional transition (so a
        MarkFailed or Finalize that wins the race keeps its outcome), its execution is stopped
        (best effort) and its `scan.failed` is published keyed (one event whoever publishes it).
        Never raises for one scan; raises store errors from listing the index.
        """
        cutoff = (now or utcnow()) - timedelta(seconds=grace_seconds)
        failed = 0
        for entry in self.deadlines.due(cutoff, limit=limit):
            try:
                with obs.log_context(tenant_id=entry.tenant_id, scan_id=entry.scan_id, execution_name=entry.scan_id):
                    failed += self._expire(entry)
            except Exception:
                log.exception("could not expire overdue scan %s; the next sweep tries again", entry.scan_id)
        if failed:
            log.warning("overdue sweeper: %d scan(s) failed with code timeout", failed)
        return failed

    def _expire(self, entry: DueEntry) -> int:
        """Fail one overdue scan; 0 when it had ended or is gone (its entry is deleted)."""
        try:
            ended = self.get(entry.tenant_id, entry.scan_id).status.terminal
            failed = None if ended else self.transition(entry.tenant_id, entry.scan_id, ScanStatus.FAILED,
                                                        error=OVERDUE)
        except (NotFound, IllegalTransition):  # gone, or ended meanwhile
            failed = None
        if failed is None:  # only the entry was left
            self.deadlines.remove(entry.sk)
            return 0
        try:
            self._workflow.stop(entry.scan_id, "did not finish within timeout_seconds")
        except Exception:  # the scan has ended; a late step is refused its transition
            log.exception("could not stop the execution of %s", entry.scan_id)
        self._publish(failed, "scan.failed")
        return 1

    def _publish(self, scan: Scan, event: str) -> None:
        """Publish a scan event when a publisher is wired; a missing publisher is logged, never raised."""
        if self._events is None:
            return
        try:
            publisher = self._events()
        except Exception:
            log.exception("no event publisher; %s for %s not sent", event, scan.scan_id)
        else:
            publish_scan_event(publisher, scan, event, self._base_url)
            if scan.group_id and scan.status.terminal:
                from chalicelib.scans.groups import announce_group_end  # groups builds on this module

                announce_group_end(self, publisher, scan)

    # -- findings -------------------------------------------------------------------------------
    def findings(self, tenant_id: str, scan_id: str, *, severity: Severity | None = None,
                 signal: SignalKey | None = None, cwe: str | None = None, limit: int = 50,
                 cursor: str | None = None) -> tuple[Scan, builtins.list[Finding], str | None, int]:
        """A page of the scan's findings, most severe first; returns (scan, page, next cursor, total matching).

        Raises NotFound (also across tenants) and BadRequest for a foreign cursor.
        """
        scan = self.get(tenant_id, scan_id)
        wanted_cwe = normalise_cwe(cwe) if cwe else None
        matching = [f for f in sorted_findings(scan)
                    if (severity is None or f.severity == severity) and (signal is None or f.signal == signal)
                    and (wanted_cwe is None or (f.cwe is not None and normalise_cwe(f.cwe) == wanted_cwe))]
        start = 0
        if cursor:
            after = decode_cursor(cursor, f"FINDING#{scan_id}#")
            try:
                start = int(after.rsplit("#", 1)[1])
            except ValueError:
                raise invalid_cursor() from None
        page = matching[start:start + limit]
        end = start + len(page)
        next_cursor = encode_cursor(f"FINDING#{scan_id}#{end}") if end < len(matching) else None
        return scan, page, next_cursor, len(matching)


_SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}


def sorted_findings(scan: Scan) -> list[Finding]:
    """Every finding of the scan: most severe first, then by signal, code and id (a stable order)."""
    every = [f for result in scan.signals.values() for f in result.findings]
    return sorted(every, key=lambda f: (_SEVERITY_ORDER[f.severity], f.signal.value, f.code, f.id))


def critical_count(scan: Scan) -> int:
    """How many of the scan's findings are critical."""
    return sum(f.severity is Severity.CRITICAL for result in scan.signals.values() for f in result.findings)


def normalise_cwe(text: str) -> str:
    """`CWE-319`, `cwe-319` and `319` all become `CWE-319`."""
    digits = text.strip().upper().removeprefix("CWE-")
    return f"CWE-{digits}"


# The one event each terminal state publishes (DESIGN.md section 7).
TERMINAL_EVENTS: dict[ScanStatus, str] = {ScanStatus.COMPLETE: "scan.completed", ScanStatus.FAILED: "scan.failed",
                                          ScanStatus.CANCELLED: "scan.cancelled"}


def publish_scan_event(events: EventPublisher, scan: Scan, event: str, base_url: str, **extra: Any) -> None:
    """Publish a scan event (DESIGN.md section 7) with the scan fields partners need.

    Keyed by scan and event (and finding, for `critical.finding`), so a step that publishes again
    (a replay, MarkFailed finding the scan already ended) sends nothing twice. A failure to enqueue
    is logged and swallowed: the scan record is the truth.
    """
    base = base_url.rstrip("/")
    complete = scan.status is ScanStatus.COMPLETE and bool(scan.report_keys)
    data = {"scan_token": scan.scan_id, "target": scan.target, "scan_type": scan.scan_type.value,
            "status": scan.status.value, "score": scan.score, "grade": scan.grade,
            "grade_label": scan.grade_label, "ready": scan.ready,
            "caps": [cap.model_dump() for cap in scan.caps], "findings_count": scan.findings_count,
            "critical_count": critical_count(scan),
            "status_url": f"{base}/v1/scans/{scan.scan_id}",
            "report_url": f"{base}/v1/scans/{scan.scan_id}/report" if complete else None,
            "error": scan.error.model_dump() if scan.error else None, **extra}
    if scan.group_id:
        data["group_id"] = scan.group_id
    if scan.sa_complete:  # DESIGN.md section 9: the self-assessment fields, once the insured submitted
        data = {**data, "sa_complete": True, "sa_score": scan.sa_score, "combined_score": scan.combined_score,
                "combined_grade": scan.combined_grade, **extra}
    finding = extra.get("finding")
    key = scan.scan_id + (f"/{finding['id']}" if isinstance(finding, dict) and "id" in finding else "")
    try:
        events.publish(scan.tenant_id, event, data, key=key)
    except Exception:
        log.exception("could not publish %s for scan %s", event, scan.scan_id)


def pipeline_input(scan: Scan) -> dict[str, Any]:
    """The execution input: what every step needs to find and run the scan."""
    return {
        "scan_id": scan.scan_id,
        "tenant_id": scan.tenant_id,
        "target": scan.target,
        "scan_type": scan.scan_type.value,
        "signals": [s.value for s in SIGNALS_BY_TYPE[scan.scan_type]],
        "timeout_seconds": scan.timeout_seconds,
        "options": scan.options.model_dump(mode="json", exclude_none=True),
    }
