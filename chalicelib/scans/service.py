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
from chalicelib.core.errors import (
    Conflict,
    IllegalTransition,
    InvalidDomain,
    NotFound,
    ServiceUnavailable,
    Unsupported,
)
from chalicelib.core.ids import new_id
from chalicelib.core.objects import ObjectStore
from chalicelib.core.pagination import decode_cursor, encode_cursor
from chalicelib.core.store import KeyValueStore, Record
from chalicelib.core.versioned import TooManyConflicts, update_versioned
from chalicelib.net.guard import guard_addresses, normalise_target
from chalicelib.net.ports import DomainNotFound, Resolver, ResolverUnavailable
from chalicelib.scans import active
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.deadlines import OVERDUE_GRACE_SECONDS, OVERDUE_LIMIT, DeadlineIndex, DueEntry, due_sk
from chalicelib.scans.findings import FindingsStore, page_findings
from chalicelib.scans.findings import normalise_cwe as normalise_cwe  # re-exported (older importers)
from chalicelib.scans.findings import sorted_findings as sorted_findings
from chalicelib.scans.models import (
    BILLABLE_UNITS,
    Finding,
    RegistryAuth,
    Scan,
    ScanError,
    ScanOptions,
    ScanStatus,
    ScanType,
    Severity,
    SignalKey,
    check_transition,
    registry_auth_context,
)
from chalicelib.scans.payloads import TERMINAL_EVENTS as TERMINAL_EVENTS
from chalicelib.scans.payloads import critical_count as critical_count
from chalicelib.scans.payloads import pipeline_input as pipeline_input
from chalicelib.scans.payloads import publish_scan_event as publish_scan_event
from chalicelib.scans.ports import EventPublisher, Workflow
from chalicelib.scans.usage import UsageService

log = logging.getLogger(__name__)

VerifyActive = Callable[[str, str], object]  # (tenant_id, host); raises TargetNotVerified (403); result unused
Seal = Callable[[str, str], str]  # (secret, context) -> sealed blob (SecretBox.wrap)
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
        objects: Callable[[], ObjectStore] | None = None,
        verify_active: VerifyActive | None = None,
        seal: Seal | None = None,
    ) -> None:
        self.repo = ScanRepository(store)
        self.findings_store = FindingsStore(objects)
        self.verify_active = verify_active  # the proof-of-control gate of webapp scans (targets.require_verified)
        self._seal = seal
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

    def resolve_target(self, tenant_id: str, raw: str, scan_type: ScanType) -> str:
        """The stored target of a new scan, guarded; raises InvalidDomain, TargetNotAllowed, TargetNotVerified.

        webapp: a host or http(s) URL, stored as the normalised start URL, and the host must pass the
        proof-of-control gate (`verify_active`) before anything is stored. container: an image reference
        naming its registry; the registry host is guarded like any target.
        """
        if scan_type is ScanType.WEBAPP:
            parsed = active.parse_webapp_target(raw)
            host = self.check_target(parsed.host, scan_type)
            if self.verify_active is None:
                raise Unsupported("Active scans need proof of control, which is not configured here.",
                                  code="active-scans-unavailable")
            self.verify_active(tenant_id, host)
            return parsed.url(host)
        if scan_type is ScanType.CONTAINER:
            ref = active.parse_image_ref(raw)
            self.check_target(ref.host.strip("[]"), scan_type)
            return ref.canonical
        return self.check_target(raw, scan_type)

    def _stored_options(self, tenant_id: str, scan_id: str, options: ScanOptions) -> tuple[ScanOptions, str | None]:
        """The options as stored (registry username only) and the sealed registry password, if any."""
        auth = options.container.registry_auth if options.container else None
        if auth is None or options.container is None:
            return ScanOptions.model_validate(options.model_dump()), None
        if self._seal is None:
            raise Unsupported("Registry credentials cannot be accepted: no secret-wrapping key is configured.",
                              code="registry-auth-unavailable")
        password = getattr(auth, "password", None)
        if password is None:
            raise Unsupported("options.container.registry_auth needs a password.", code="registry-auth-incomplete")
        sealed = self._seal(password.get_secret_value(), registry_auth_context(tenant_id, scan_id))
        container = options.container.model_copy(update={"registry_auth": RegistryAuth(username=auth.username)})
        kept = ScanOptions.model_validate({**options.model_dump(exclude={"container"}),
                                           "container": container.model_dump()})
        return kept, sealed

    def create(self, tenant: Tenant, command: CreateScan, *, template_id: str | None = None,
               scan_id: str | None = None, group_id: str | None = None) -> Scan:
        """Validate, store and start a scan; raises InvalidDomain, TargetNotAllowed, ServiceUnavailable.

        `scan_id` and `group_id` are set by a scan group, which allocates its members' ids first.
        """
        scan_type = command.effective_type
        active.check_options_for_type(scan_type, command.options)
        target = self.resolve_target(tenant.tenant_id, command.raw_target, scan_type)
        now = utcnow()
        scan_id = scan_id or new_id("scn")
        options, sealed = self._stored_options(tenant.tenant_id, scan_id, command.options)
        scan = Scan(
            scan_id=scan_id, tenant_id=tenant.tenant_id, target=target, scan_type=scan_type,
            name=command.name, priority=command.priority, options=options, tags=command.tags,
            timeout_seconds=command.timeout_seconds, template_id=template_id, group_id=group_id,
            created_at=now, updated_at=now,
            ready_threshold=tenant.ready_threshold, registry_auth_sealed=sealed,
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
    def all_findings(self, scan: Scan) -> builtins.list[Finding]:
        """Every finding of the scan, most severe first, inline or from its object; raises FindingsUnavailable."""
        return self.findings_store.all(scan)

    def findings(self, tenant_id: str, scan_id: str, *, severity: Severity | None = None,
                 signal: SignalKey | None = None, cwe: str | None = None, limit: int = 50,
                 cursor: str | None = None) -> tuple[Scan, builtins.list[Finding], str | None, int]:
        """A page of the scan's findings, most severe first; returns (scan, page, next cursor, total matching).

        Raises NotFound (also across tenants), BadRequest for a foreign cursor, FindingsUnavailable.
        """
        scan = self.get(tenant_id, scan_id)
        page, next_cursor, total = page_findings(self.all_findings(scan), scan_id, severity=severity,
                                                 signal=signal, cwe=cwe, limit=limit, cursor=cursor)
        return scan, page, next_cursor, total

