"""Where the metrics come from: the scan service, the pipeline steps, the webhook consumer and the outbox."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.bootstrap import Services
from chalicelib.core import observability as obs
from chalicelib.core.errors import ServiceUnavailable
from chalicelib.pipeline.steps import Pipeline
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import Scan, SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES
from chalicelib.webhooks.outbox import GRACE, MAX_RESENDS, WebhookOutbox
from chalicelib.webhooks.policy import RETRY_SCHEDULE
from tests.support.fakes import ManualClock
from tests.support.memory import MemoryQueue, RecordingPublisher, RecordingWorkflow
from tests.support.observability import Point, RecordingMetrics
from tests.unit.test_pipeline_steps import Renderer, complete, put_evidence, step
from tests.unit.webhooks.harness import HOST, Harness, ScriptedSender, build

URL = f"http://{HOST}:8080/hook"
SIGNALS = ["scan", "breach", "reputation", "mail", "layer", "web"]


@pytest.fixture
def metrics(services: Services) -> RecordingMetrics:
    recording = RecordingMetrics()
    services.__dict__["metrics"] = recording  # before the services that take it are built
    return recording


@pytest.fixture
def tenant(services: Services, metrics: RecordingMetrics) -> Any:
    return services.auth.create_tenant("t1", "One")


@pytest.fixture
def pipeline(services: Services, metrics: RecordingMetrics) -> Pipeline:
    return Pipeline(services.scans, services.objects, RecordingPublisher(), Renderer(), heartbeat_seconds=30,
                    metrics=services.metrics)


def _create(services: Services, tenant: Any, scan_type: str = "posture") -> Scan:
    return services.scans.create(tenant, CreateScan(domain="example.com", scan_type=scan_type))


def _run(pipeline: Pipeline, services: Services, scan: Scan, intel: dict[str, SignalResult] | None = None) -> None:
    pipeline.mark_scanning(step(scan))
    evidence = [put_evidence(services, scan, "network", complete("scan", "layer", "web")),
                put_evidence(services, scan, "intel", intel or complete("mail", "reputation", "breach"))]
    pipeline.score_scan(step(scan, signals=SIGNALS, evidence=evidence))
    pipeline.finalize_scan(step(scan))


# -- scans -----------------------------------------------------------------------------------------------

def test_a_created_scan_counts(services: Services, tenant: Any, metrics: RecordingMetrics) -> None:
    _create(services, tenant, "mail")
    assert metrics.points == [Point(obs.SCANS_CREATED, 1.0, obs.COUNT, {})]


def test_a_scan_the_pipeline_could_not_start_counts_created_then_failed(
        services: Services, tenant: Any, workflow: RecordingWorkflow, metrics: RecordingMetrics) -> None:
    workflow.fail_with = RuntimeError("Step Functions is down")
    with pytest.raises(ServiceUnavailable):
        _create(services, tenant)
    assert metrics.names() == [obs.SCANS_CREATED, obs.SCANS_FAILED]
    assert metrics.named(obs.SCANS_FAILED)[0].dimensions == {"scan_type": "posture",
                                                             "error_code": "pipeline-unavailable"}


def test_a_completed_scan_counts_once_with_its_duration(pipeline: Pipeline, services: Services, tenant: Any,
                                                         metrics: RecordingMetrics) -> None:
    scan = _create(services, tenant)
    _run(pipeline, services, scan)
    pipeline.finalize_scan(step(scan))  # a replay: Step Functions retried a step whose answer was lost
    [completed] = metrics.named(obs.SCANS_COMPLETED)
    [duration] = metrics.named(obs.SCAN_DURATION)
    assert completed.dimensions == duration.dimensions == {}
    assert duration.unit == obs.SECONDS and 0 <= duration.value < 60
    assert metrics.named(obs.SCANS_FAILED) == [] and metrics.named(obs.SIGNAL_ERRORS) == []


def test_a_failed_scan_counts_by_type_and_error_code(pipeline: Pipeline, services: Services, tenant: Any,
                                                      metrics: RecordingMetrics) -> None:
    scan = _create(services, tenant, "tls")
    pipeline.mark_scanning(step(scan))
    pipeline.mark_failed(step(scan, failure={"Error": "States.HeartbeatTimeout", "Cause": "silent"}))
    pipeline.mark_failed(step(scan, failure={"Error": "States.HeartbeatTimeout", "Cause": "silent"}))
    assert [p.dimensions for p in metrics.named(obs.SCANS_FAILED)] == [
        {"scan_type": "tls", "error_code": "scanner-unresponsive"}]
    assert metrics.named(obs.SCANS_COMPLETED) == []


def test_a_cancelled_scan_is_neither_completed_nor_failed(services: Services, tenant: Any,
                                                          metrics: RecordingMetrics) -> None:
    scan = _create(services, tenant)
    services.scans.cancel("t1", scan.scan_id)
    assert metrics.names() == [obs.SCANS_CREATED]


def test_an_errored_signal_counts_by_signal(pipeline: Pipeline, services: Services, tenant: Any,
                                            metrics: RecordingMetrics) -> None:
    scan = _create(services, tenant)
    errored = {**complete("mail", "reputation"),
               "breach": SignalResult(status=SignalStatus.ERROR, max_score=MAX_SCORES[SignalKey.BREACH],
                                      error="breach API answered 503")}
    _run(pipeline, services, scan, intel=errored)
    assert [p.dimensions for p in metrics.named(obs.SIGNAL_ERRORS)] == [{"signal": "breach"}]


# -- webhooks ---------------------------------------------------------------------------------------------

def _webhooks(respond: Any = None) -> tuple[Harness, RecordingMetrics]:
    clock = ManualClock()
    h = build(clock=clock, deliver_fn=ScriptedSender(clock, respond))
    recording = RecordingMetrics()
    h.consumer._metrics = recording
    h.register(URL)
    return h, recording


def test_a_delivered_attempt_counts_an_attempt_and_a_delivery() -> None:
    h, metrics = _webhooks()
    h.service.publish("acme", "scan.completed", {"scan_token": "scn_1"})
    h.drain()
    assert metrics.names() == [obs.WEBHOOK_ATTEMPTS, obs.WEBHOOK_DELIVERIES]


def test_failed_attempts_count_by_kind_and_the_last_one_is_dead_lettered() -> None:
    h, metrics = _webhooks(lambda url, headers: (503, None))
    h.service.publish("acme", "scan.failed", {"scan_token": "scn_1"})
    h.drain()
    attempts = len(RETRY_SCHEDULE)  # the first attempt and every retry
    assert len(metrics.named(obs.WEBHOOK_ATTEMPTS)) == attempts and metrics.named(obs.WEBHOOK_DELIVERIES) == []
    assert {p.dimensions["kind"] for p in metrics.named(obs.WEBHOOK_FAILURES)} == {"http-5xx"}
    assert len(metrics.named(obs.WEBHOOK_FAILURES)) == attempts
    assert [p.dimensions for p in metrics.named(obs.WEBHOOK_DEAD_LETTERED)] == [{"reason": "retries-exhausted"}]


def test_an_attempt_without_an_answer_counts_by_the_senders_error_kind() -> None:
    answers = iter([(None, None), (200, None)])
    h, metrics = _webhooks(lambda url, headers: next(answers))
    h.service.publish("acme", "scan.completed", {"scan_token": "scn_1"})
    h.drain()
    assert [p.dimensions for p in metrics.named(obs.WEBHOOK_FAILURES)] == [{"kind": "connect"}]
    assert len(metrics.named(obs.WEBHOOK_DELIVERIES)) == 1


def test_a_delivery_the_outbox_gives_up_on_is_dead_lettered_as_undeliverable() -> None:
    clock = ManualClock()
    h = build(clock=clock, deliver_fn=ScriptedSender(clock))
    recording = RecordingMetrics()
    outbox = WebhookOutbox(h.repo, h.queue, h.dlq, clock=clock.now, metrics=recording)
    h.register(URL)
    h.service.publish("acme", "scan.started", {"scan_token": "scn_1"})
    for _ in range(MAX_RESENDS + 1):
        assert isinstance(h.queue, MemoryQueue)
        h.queue._messages.clear()  # the message is lost again and again
        clock.advance(GRACE.total_seconds() + 1)
        outbox.sweep()
    assert recording.points == [Point(obs.WEBHOOK_DEAD_LETTERED, 1.0, obs.COUNT, {"reason": "undeliverable"})]


def test_services_wire_one_metrics_into_every_emitter(services: Services, metrics: RecordingMetrics) -> None:
    assert services.scans._metrics is metrics and services.pipeline._metrics is metrics
    assert services.webhook_consumer._metrics is metrics and services.webhook_outbox._metrics is metrics
