"""One function per Lambda Task of the scan pipeline: mark, score, render, finalize, fail.

Each takes the state the ASL hands it (a dict) and returns what the ASL stores at its ResultPath.
State changes go through ScanService's conditional transitions, so a cancelled scan refuses every
later step and nothing is ever applied twice. A step raises ScanTerminal (ASL: Stopped) only after
re-reading the scan and finding it ended; every other refusal goes to MarkFailed, so every scan ends.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from chalicelib.core import observability as obs
from chalicelib.core.contract import SIGNAL_GROUPS
from chalicelib.core.errors import Conflict, IllegalTransition, NotFound, ReportNotRenderable, TargetNotVerified
from chalicelib.core.objects import ObjectMissing, ObjectStore
from chalicelib.pipeline.artifacts import MAX_FINDING_EVIDENCE_BYTES as MAX_FINDING_EVIDENCE_BYTES
from chalicelib.pipeline.artifacts import compact, store_sbom
from chalicelib.pipeline.errors import BadStepInput, EvidenceInvalid, ScanTerminal, StepContention
from chalicelib.scans import active
from chalicelib.scans.evidence import EvidenceDocument, EvidencePointer
from chalicelib.scans.findings import Split, finding_order, split_findings
from chalicelib.scans.groups import announce_group_end
from chalicelib.scans.history import previous_complete
from chalicelib.scans.models import (
    SIGNALS_BY_TYPE,
    Scan,
    ScanError,
    ScanStatus,
    ScanType,
    Severity,
    SignalKey,
    SignalResult,
    SignalStatus,
)
from chalicelib.scans.ports import EventPublisher
from chalicelib.scans.scoring import UnknownFindingCode, apply_scores, score
from chalicelib.scans.service import TERMINAL_EVENTS, ScanService, publish_scan_event
from chalicelib.selfassessment.combine import COMPLETED_EVENT, assessment_fields

log = logging.getLogger(__name__)

# `finding.created`: one event per finding at or above this severity when a scan is scored, at most this many.
FINDING_EVENT_SEVERITIES = frozenset({Severity.CRITICAL, Severity.HIGH})
MAX_FINDING_EVENTS = 25
MAX_CRITICAL_EVENTS = 100  # `critical.finding` per critical finding, at most this many (a container may have 1000s)
# Progress shown on GET /v1/scans/{token} as the pipeline moves (0 while pending).
PROGRESS = {"scanning": 10, "scored": 75, "rendered": 90}
_ERROR_CODES: dict[str, tuple[str, str]] = {
    "States.Timeout": ("timeout", "The scan did not finish within its timeout_seconds."),
    "States.HeartbeatTimeout": ("scanner-unresponsive", "A scanner task stopped reporting progress."),
    "Scanner.Crashed": ("scanner-crashed", "A scanner task crashed."),
    "Scanner.InvalidInput": ("scanner-invalid-input", "A scanner task was started with input it cannot use."),
    "Scanner.Transient": ("scanner-unavailable", "A scanner task kept failing on a transient error."),
    "EvidenceInvalid": ("scanner-invalid-output", "A scanner task returned evidence that could not be used."),
    "States.DataLimitExceeded": ("internal-error", "A pipeline step produced more data than allowed."),
    "ReportNotRenderable": ("report-failed", "The scan's report could not be rendered."),
}


class ReportRenderer(Protocol):
    """Renders and stores a scan's reports (the reports service)."""

    def render_and_store(self, tenant_id: str, scan_id: str, *, progress: int | None = None) -> dict[str, Any]:
        """Render and store the PDF and JSON reports of a scored scan (its score may be None); record them.

        Raises ReportNotRenderable (Score has not run, the scan was cancelled or failed, or it cannot be
        reported), NotFound.
        """
        ...


class StepInput(BaseModel):
    """The part of the execution state every step reads."""

    model_config = ConfigDict(extra="ignore")

    scan_id: str = Field(min_length=1, max_length=64)
    tenant_id: str = Field(min_length=1, max_length=64)


class ScoreInput(StepInput):
    """Score's view of the state: the requested signals and the Parallel state's branch outputs."""

    signals: list[SignalKey]
    evidence: list[EvidencePointer]


class FailureInput(StepInput):
    """MarkFailed's view of the state: the caught error (`{Error, Cause}`) at `$.failure`."""

    failure: dict[str, Any] = Field(default_factory=dict)


def _parse(model: type[StepInput], event: Any) -> Any:
    """The step's input; its scan is bound to the log lines (executions are named after scans). Raises BadStepInput."""
    try:
        step = model.model_validate(event)
    except ValidationError as exc:
        raise BadStepInput(f"{model.__name__}: {exc.errors(include_url=False)[:3]}") from None
    obs.append_keys(tenant_id=step.tenant_id, scan_id=step.scan_id, execution_name=step.scan_id)
    return step


class Pipeline:
    """The pipeline steps over the scan service, the reports bucket, the event publisher and the renderer."""

    def __init__(self, scans: ScanService, objects: ObjectStore, events: EventPublisher,
                 reports: ReportRenderer, *, heartbeat_seconds: int, public_base_url: str = "",
                 clock: Callable[[], float] = time.time, metrics: obs.Metrics | None = None) -> None:
        self._base_url = public_base_url
        self._scans = scans
        self._objects = objects
        self._events = events
        self._reports = reports
        self._heartbeat = heartbeat_seconds
        self._clock = clock
        self._metrics = metrics or obs.NullMetrics()

    # -- MarkScanning ----------------------------------------------------------------------------
    def mark_scanning(self, event: Any) -> dict[str, Any]:
        """pending -> scanning; returns the run plan (`$.run`): groups to run, timeouts, deadline.

        Raises ScanTerminal when the scan was cancelled first, StepContention on write races.
        """
        step = _parse(StepInput, event)
        self._recheck_control(step)
        scan = self._move(step, ScanStatus.SCANNING, progress=PROGRESS["scanning"])
        self._publish(scan, "scan.started")
        return run_plan(scan, self._clock(), self._heartbeat)

    def _recheck_control(self, step: StepInput) -> None:
        """Before an active (webapp) scan, prove control of its host again; on refusal fail the scan.

        Raises ScanTerminal after failing the scan with code `target-not-verified` (or when it ended).
        """
        try:
            scan = self._scans.get(step.tenant_id, step.scan_id)
        except NotFound:
            raise ScanTerminal(f"scan {step.scan_id} no longer exists") from None
        if scan.scan_type is not ScanType.WEBAPP or scan.status.terminal:
            return
        gate = self._scans.verify_active
        try:
            if gate is None:
                raise TargetNotVerified("Proof of control is not configured; active scans cannot run.")
            gate(step.tenant_id, active.target_host(scan.scan_type, scan.target))
        except TargetNotVerified as exc:
            log.warning("active scan refused at MarkScanning: %s", exc.detail)
            error = ScanError(code="target-not-verified",
                              message=f"Proof of control no longer holds: {exc.detail}"[:500])
            try:
                failed = self._scans.transition(step.tenant_id, step.scan_id, ScanStatus.FAILED, error=error)
            except IllegalTransition:
                self._stop_if_ended(step)
                raise
            except Conflict as conflict:
                raise StepContention(str(conflict)) from None
            self._publish(failed, "scan.failed")
            raise ScanTerminal(f"scan {step.scan_id} failed: target-not-verified") from None

    # -- Score -----------------------------------------------------------------------------------
    def score_scan(self, event: Any) -> dict[str, Any]:
        """Read every group's evidence, score it, store signals and score: scanning -> scoring.

        A scan whose signals could all not run (or carry no points) is stored with score, grade,
        label and `ready` None and goes on to its report like any other.
        Raises EvidenceInvalid (missing, tampered, wrong scan, unknown finding code), ScanTerminal.
        """
        step = _parse(ScoreInput, event)
        wanted = {s.value for s in step.signals}
        results: dict[str, SignalResult] = {}
        for pointer in step.evidence:
            if not pointer.skipped:
                results.update(self._read_evidence(step, pointer, wanted))
        missing = sorted(wanted - results.keys())
        if missing:
            raise EvidenceInvalid(f"no evidence for signal(s) {', '.join(missing)}")
        try:
            scored = apply_scores(results)
            summary = score(scored, self._scans.get(step.tenant_id, step.scan_id).ready_threshold)
        except UnknownFindingCode as exc:
            raise EvidenceInvalid(str(exc)) from None
        except NotFound:
            raise ScanTerminal(f"scan {step.scan_id} no longer exists") from None
        for key, result in scored.items():
            if result.status is SignalStatus.ERROR:
                log.warning("signal %s could not be checked: %s", key, (result.error or "")[:200])
                self._metrics.record(obs.SIGNAL_ERRORS, signal=key)
        split = split_findings(step.tenant_id, step.scan_id, {key: compact(r) for key, r in scored.items()})
        self._scans.findings_store.write(split)  # before the item points at it
        sbom = store_sbom(self._objects, step.tenant_id, step.scan_id, scored)
        coverage: dict[str, Any] = dict(summary.coverage)
        if summary.not_scored:
            coverage["not_scored"] = summary.not_scored
        intel = sorted({r.intel_version for r in scored.values() if r.intel_version})
        scan = self._move(step, ScanStatus.SCORING, signals=split.signals, score=summary.score, grade=summary.grade,
                          grade_label=summary.grade_label, ready=summary.ready,
                          scoring_version=summary.scoring_version, caps=summary.caps,
                          intel_version=intel[-1] if intel else None, coverage=coverage,
                          findings_count=split.findings_count, severity_counts=split.severity_counts,
                          findings_key=split.object_key, findings_sha256=split.object_sha256,
                          sbom_key=sbom[0] if sbom else None, sbom_sha256=sbom[1] if sbom else None,
                          progress=PROGRESS["scored"])
        self._publish_findings(scan, split)
        if scan.sa_complete:  # the insured submitted while the scan ran: combine now (DESIGN.md section 9)
            scan = self._combine(step)
        return {"score": summary.score, "grade": scan.grade, "findings": split.findings_count}

    def _combine(self, step: StepInput) -> Scan:
        """Contradictions and the combined score of a scored scan with a submitted self-assessment, then the
        `scan.self_assessment_completed` event (keyed: sent once whoever raises it). Raises StepContention."""
        try:
            scan = self._scans.update(step.tenant_id, step.scan_id, assessment_fields)
        except Conflict as exc:
            raise StepContention(str(exc)) from None
        self._publish(scan, COMPLETED_EVENT)
        return scan

    def _read_evidence(self, step: ScoreInput, pointer: EvidencePointer,
                       wanted: set[str]) -> dict[str, SignalResult]:
        if pointer.group not in SIGNAL_GROUPS or not pointer.evidence_key or not pointer.sha256:
            raise EvidenceInvalid(f"branch {pointer.group!r} returned no evidence pointer")
        if not pointer.evidence_key.startswith(f"tenants/{step.tenant_id}/scans/{step.scan_id}/"):
            raise EvidenceInvalid(f"evidence of {pointer.group!r} is outside this scan's prefix")
        try:
            raw = self._objects.get(pointer.evidence_key)
        except ObjectMissing:
            raise EvidenceInvalid(f"evidence of {pointer.group!r} is missing") from None
        if hashlib.sha256(raw).hexdigest() != pointer.sha256:
            raise EvidenceInvalid(f"evidence of {pointer.group!r} does not match its digest")
        try:
            document = EvidenceDocument.model_validate_json(raw)
        except ValidationError as exc:
            raise EvidenceInvalid(f"evidence of {pointer.group!r} is malformed: "
                                  f"{exc.error_count()} error(s), first: {exc.errors()[0]['msg']}") from None
        if (document.scan_id, document.tenant_id, document.group) != (step.scan_id, step.tenant_id, pointer.group):
            raise EvidenceInvalid(f"evidence of {pointer.group!r} belongs to another scan or group")
        allowed = set(SIGNAL_GROUPS[pointer.group]) & wanted
        extra = {k.value for k in document.signals} - allowed
        if extra:
            raise EvidenceInvalid(f"group {pointer.group!r} reported signals it does not own: {sorted(extra)}")
        return {key.value: result for key, result in document.results().items()}

    # -- RenderReport ----------------------------------------------------------------------------
    def render_report(self, event: Any) -> dict[str, Any]:
        """Render and store the PDF and JSON reports of a scored (or unscored) scan.

        Raises ScanTerminal only when the scan's own record says it ended meanwhile (cancelled,
        failed or gone); any other refusal (ReportNotRenderable) goes on to MarkFailed.
        """
        step = _parse(StepInput, event)
        try:
            return self._reports.render_and_store(step.tenant_id, step.scan_id, progress=PROGRESS["rendered"])
        except (ReportNotRenderable, NotFound):
            self._stop_if_ended(step)
            raise
        except Conflict as exc:
            raise StepContention(str(exc)) from None

    # -- Finalize --------------------------------------------------------------------------------
    def finalize_scan(self, event: Any) -> dict[str, Any]:
        """scoring -> complete, then the `scan.completed` event (keyed: a replay sends none); raises ScanTerminal."""
        step = _parse(StepInput, event)
        scan = self._move(step, ScanStatus.COMPLETE, progress=100)
        self._publish(scan, "scan.completed")
        self._publish_target_change(scan)
        return {"status": scan.status.value, "score": scan.score, "grade": scan.grade}

    # -- MarkFailed ------------------------------------------------------------------------------
    def mark_failed(self, event: Any) -> dict[str, Any]:
        """Record why the scan failed (non-terminal -> failed) and send `scan.failed`.

        A scan that already ended is left as it is, and its own terminal event is published again
        (keyed, so it goes out once): a step that died between its write and its publish (Finalize
        after `complete`, say) still leaves the partner exactly one terminal event.
        """
        step = _parse(FailureInput, event)
        error = failure_error(step.failure)
        try:
            scan = self._scans.transition(step.tenant_id, step.scan_id, ScanStatus.FAILED, error=error)
        except NotFound:
            return {"status": "unchanged", "code": error.code}
        except IllegalTransition:
            ended = self._scans.get(step.tenant_id, step.scan_id)
            if ended.status in TERMINAL_EVENTS:
                self._publish(ended, TERMINAL_EVENTS[ended.status])
            return {"status": "unchanged", "code": error.code}
        except Conflict as exc:
            raise StepContention(str(exc)) from None
        self._publish(scan, "scan.failed")
        return {"status": scan.status.value, "code": error.code}

    # -- shared ----------------------------------------------------------------------------------
    def _move(self, step: StepInput, target: ScanStatus, **fields: Any) -> Scan:
        """Transition the scan; a replay (the scan is already in `target`) returns the stored scan.

        Step Functions retries a step whose Lambda answer was lost although its write landed; that
        replay must succeed, not stop the execution. Its events go out again, keyed, so the webhook
        service sends each once. Raises ScanTerminal, StepContention, IllegalTransition (neither
        ended nor a replay).
        """
        try:
            return self._scans.transition(step.tenant_id, step.scan_id, target, **fields)
        except IllegalTransition:
            current = self._stop_if_ended(step, replay_of=target)
            if current.status is target:
                return current
            raise  # not ended, not a replay: a definition/handler mismatch, MarkFailed records it
        except NotFound:
            raise ScanTerminal(f"scan {step.scan_id} no longer exists") from None
        except Conflict as exc:
            raise StepContention(str(exc)) from None

    def _stop_if_ended(self, step: StepInput, replay_of: ScanStatus | None = None) -> Scan:
        """Re-read the scan; raise ScanTerminal when it is gone or already ended (other than by `replay_of`).

        "Cancelled meanwhile" is read from the record, never inferred from the error a step got.
        Returns the scan when it has not ended.
        """
        try:
            current = self._scans.get(step.tenant_id, step.scan_id)
        except NotFound:
            raise ScanTerminal(f"scan {step.scan_id} no longer exists") from None
        if current.status.terminal and current.status is not replay_of:
            raise ScanTerminal(f"scan {step.scan_id} is already {current.status.value}")
        return current

    def _publish(self, scan: Scan, event: str, **extra: Any) -> None:
        publish_scan_event(self._events, scan, event, self._base_url, **extra)
        if scan.group_id and event in TERMINAL_EVENTS.values():
            announce_group_end(self._scans, self._events, scan)

    def _publish_findings(self, scan: Scan, split: Split) -> None:
        """`critical.finding` per critical finding and `finding.created` per notable one, both bounded, most
        severe first, over every finding (also those kept only in the findings object)."""
        every = sorted((f for r in split.signals.values() for f in r.findings), key=finding_order) \
            if split.object_key is None else self._scans.all_findings(scan)
        critical = [f for f in every if f.severity is Severity.CRITICAL]
        for finding in critical[:MAX_CRITICAL_EVENTS]:
            self._publish(scan, "critical.finding", finding=finding.model_dump(mode="json"))
        notable = [f for f in every if f.severity in FINDING_EVENT_SEVERITIES]
        for finding in notable[:MAX_FINDING_EVENTS]:
            self._publish(scan, "finding.created", finding=finding.model_dump(mode="json"))

    def _publish_target_change(self, scan: Scan) -> None:
        """`target.changed` when the score or grade differs from the target's previous complete scan."""
        try:
            before = previous_complete(self._scans, scan)
        except Exception:
            log.exception("could not read the previous scan of %s", scan.target)
            return
        if before is not None and (before.score, before.grade) != (scan.score, scan.grade):
            self._publish(scan, "target.changed", previous={
                "scan_token": before.scan_id, "score": before.score, "grade": before.grade,
                "completed_at": before.completed_at.isoformat() if before.completed_at else None})


def run_plan(scan: Scan, now: float, heartbeat_seconds: int) -> dict[str, Any]:
    """The run plan for a scan started at `now`: which groups run, the scanners' share of the timeout.

    The scanners get the scan's timeout minus a reserve for scoring and rendering (a quarter, at
    most 60 s), so `timeout_seconds` bounds the whole execution.
    """
    wanted = {s.value for s in SIGNALS_BY_TYPE[scan.scan_type]}
    reserve = min(60, scan.timeout_seconds // 4)
    scanner_timeout = max(5, scan.timeout_seconds - reserve)
    return {
        "groups": {group: bool(wanted & set(signals)) for group, signals in SIGNAL_GROUPS.items()},
        "scanner_timeout_seconds": scanner_timeout,
        "heartbeat_seconds": heartbeat_seconds,
        "heartbeat": str(heartbeat_seconds),
        "deadline": str(int(now) + scanner_timeout),
    }


def failure_error(failure: dict[str, Any]) -> ScanError:
    """The scan's `error` for a caught Step Functions error `{Error, Cause}`."""
    name = str(failure.get("Error") or "States.Runtime")
    cause = _cause_text(failure.get("Cause"))
    if name in _ERROR_CODES:
        code, message = _ERROR_CODES[name]
    elif name.startswith("ECS."):
        code, message = "scanner-launch-failed", "A scanner task could not be started."
    else:
        code, message = "internal-error", "The scan pipeline failed."
    detail = f" ({name}: {cause})" if cause else f" ({name})"
    return ScanError(code=code, message=(message + detail)[:500])


def _cause_text(cause: Any) -> str:
    """A Lambda error envelope's message, or the raw cause, on one line."""
    text = str(cause or "")
    try:
        parsed = json.loads(text)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        text = str(parsed["errorMessage"])
    return " ".join(text.split())[:300]
