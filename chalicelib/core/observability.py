"""Structured logs and metrics: one JSON line per log record, with the request, tenant, scan and execution
as keys, and CloudWatch EMF metrics behind a small port.

Logs: `configure_logging` puts one handler with Powertools' JSON formatter on the root logger, so every
module's stdlib logger (`chalicelib.*`, `perimeter.*`) writes the same JSON, in each Lambda, in every
process of the embedded stack and in the scanner task. Keys are bound per thread and per request
(`log_context`, `append_keys`: a context variable, read by a filter on that handler); the Lambda
middleware opens a fresh context per invocation. Perimeter's loggers log at PERIMETER_LOG_LEVEL;
third-party loggers stay at WARNING or above whatever it says, because botocore at DEBUG logs request
signatures (SigV4 headers and presigned URLs) and moto's web server logs every request line.

Metrics: the pipeline, the scan service and the webhook consumer call `Metrics.record`; `EmfMetrics`
(Lambda) writes one EMF line per data point through Powertools' EMF provider, `LogMetrics` logs it,
`NullMetrics` drops it (the embedded stack's default). Each point carries the `service` dimension,
and one more set per named dimension (`ScansFailed` by scan type, by error code), so alarms read one
series and the dashboard the breakdowns (METRICS lists which).

Powertools is imported on first use, never by `import app`: it imports botocore.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from types import MappingProxyType
from typing import IO, Any, Protocol

from chalicelib.core.settings import LogSettings

log = logging.getLogger("perimeter.observability")

OWN_LOGGERS = ("chalicelib", "perimeter", "app")  # logged at the configured level
THIRD_PARTY_FLOOR = logging.WARNING
# Third-party loggers pinned to the floor by name as well: werkzeug raises itself to INFO when it serves.
QUIET_LOGGERS = ("botocore", "boto3", "s3transfer", "urllib3", "werkzeug", "moto")
RECORD_ORDER = ["timestamp", "level", "logger", "message"]

# -- log keys ----------------------------------------------------------------------------------------

_EMPTY: Mapping[str, object] = MappingProxyType({})
_keys: contextvars.ContextVar[Mapping[str, object]] = contextvars.ContextVar("perimeter_log_keys", default=_EMPTY)


def append_keys(**keys: object) -> None:
    """Add keys to every later log line of this thread until its enclosing `log_context` ends (None: skipped)."""
    _keys.set(MappingProxyType({**_keys.get(), **{k: v for k, v in keys.items() if v is not None}}))


@contextmanager
def log_context(**keys: object) -> Iterator[None]:
    """Add keys for the duration of the block; whatever was appended inside is dropped at its end."""
    token = _keys.set(MappingProxyType({**_keys.get(), **{k: v for k, v in keys.items() if v is not None}}))
    try:
        yield
    finally:
        _keys.reset(token)


@contextmanager
def fresh_log_context(**keys: object) -> Iterator[None]:
    """Only `keys` for the duration of the block, whatever was bound before (an entry point's invocation)."""
    token = _keys.set(MappingProxyType({k: v for k, v in keys.items() if v is not None}))
    try:
        yield
    finally:
        _keys.reset(token)


def current_keys() -> dict[str, object]:
    """The keys bound now (to carry them into worker threads, which start with none)."""
    return dict(_keys.get())


class ContextKeys(logging.Filter):
    """Adds the bound keys (and the logger name as `logger`) to each record; never drops one."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Set the keys a record does not carry already."""
        record.__dict__.setdefault("logger", record.name)
        for key, value in _keys.get().items():
            record.__dict__.setdefault(key, value)
        return True


# -- logging configuration -------------------------------------------------------------------------

_lock = threading.Lock()
_handler: logging.Handler | None = None
_saved_levels: dict[str, int] = {}
_cold = True


def configure_logging(settings: LogSettings | None = None, *, stream: IO[str] | None = None) -> logging.Handler:
    """Route every logger through one Powertools JSON handler on the root logger; returns it.

    Idempotent: a process is configured once (`reset_logging` undoes it). The Lambda runtime's own
    root handler is removed (it would write each line a second time); any other handler stays.
    """
    global _handler
    with _lock:
        if _handler is not None:
            return _handler
        from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

        settings = settings or LogSettings()
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(LambdaPowertoolsFormatter(
            service=settings.service_name, utc=True, use_rfc3339=True, serialize_stacktrace=False,
            log_record_order=RECORD_ORDER))
        handler.addFilter(ContextKeys())
        level = logging.getLevelName(settings.log_level)
        root = logging.getLogger()
        for existing in list(root.handlers):
            if type(existing).__name__.startswith("LambdaLoggerHandler"):
                root.removeHandler(existing)
        _saved_levels.clear()
        for name in ("", *OWN_LOGGERS, *QUIET_LOGGERS):
            _saved_levels[name] = logging.getLogger(name).level
        root.setLevel(max(level, THIRD_PARTY_FLOOR))
        for name in QUIET_LOGGERS:
            logging.getLogger(name).setLevel(max(level, THIRD_PARTY_FLOOR))
        for name in OWN_LOGGERS:
            logging.getLogger(name).setLevel(level)
        root.addHandler(handler)
        _handler = handler
        return handler


def configure_logging_from_env(environ: Mapping[str, str] | None = None, **defaults: object) -> logging.Handler:
    """`configure_logging` with PERIMETER_LOG_LEVEL and PERIMETER_SERVICE_NAME of `environ` (default the
    process environment) over `defaults`; invalid values fall back to the defaults (with a warning)."""
    if _handler is not None:
        return _handler
    try:
        settings = LogSettings.from_env(environ, **defaults)
    except ValueError as exc:  # pydantic's ValidationError is a ValueError
        handler = configure_logging(LogSettings.model_validate(defaults))
        log.warning("invalid logging settings, using the defaults: %s", exc)
        return handler
    return configure_logging(settings)


def reset_logging() -> None:
    """Undo `configure_logging` (tests): remove its handler, restore the levels it changed."""
    global _handler
    with _lock:
        if _handler is not None:
            logging.getLogger().removeHandler(_handler)
            _handler = None
        for name, level in _saved_levels.items():
            logging.getLogger(name).setLevel(level)
        _saved_levels.clear()


# -- Lambda entry points (Chalice middleware, registered in app.py) ----------------------------------

def _cold_start() -> bool:
    global _cold
    cold, _cold = _cold, False
    return cold


def lambda_middleware(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice `pure_lambda` middleware: JSON logs, and the invocation's request id and function name as keys."""
    configure_logging_from_env()
    context = getattr(event, "context", None)
    with fresh_log_context(request_id=getattr(context, "aws_request_id", None),
                     function_name=getattr(context, "function_name", None), cold_start=_cold_start()):
        return get_response(event)


def http_middleware(request: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice `http` middleware: JSON logs; the Lambda request id and API Gateway's request id as keys.

    The tenant id is added once the API key is authenticated (`chalicelib.api.http.handle`).
    """
    configure_logging_from_env()
    context = getattr(request, "lambda_context", None)
    gateway_id = (getattr(request, "context", None) or {}).get("requestId")
    with fresh_log_context(request_id=getattr(context, "aws_request_id", None) or gateway_id, api_request_id=gateway_id,
                     function_name=getattr(context, "function_name", None), cold_start=_cold_start()):
        return get_response(request)


# -- metrics -------------------------------------------------------------------------------------------

NAMESPACE = "Perimeter"  # infra/terraform/observability.tf reads the same namespace
COUNT, SECONDS = "Count", "Seconds"

SCANS_CREATED = "ScansCreated"
SCANS_COMPLETED = "ScansCompleted"
SCANS_FAILED = "ScansFailed"
SCAN_DURATION = "ScanDuration"  # seconds from created_at to complete
SIGNAL_ERRORS = "SignalErrors"  # a signal whose check errored
WEBHOOK_ATTEMPTS = "WebhookAttempts"  # every POST
WEBHOOK_DELIVERIES = "WebhookDeliveries"  # an attempt answered 2xx
WEBHOOK_FAILURES = "WebhookFailures"  # an attempt that failed
WEBHOOK_DEAD_LETTERED = "WebhookDeadLettered"  # a delivery given up on, its message sent to the DLQ
# Every metric and the dimensions it may carry besides `service` (the dashboard's breakdowns). Each
# series published in an hour bills $0.30/month prorated: volumes and durations, published all the
# time, have the `service` series only; the breakdowns explain failures, which are rare.
METRICS: dict[str, tuple[str, ...]] = {
    SCANS_CREATED: (),
    SCANS_COMPLETED: (),
    SCANS_FAILED: ("scan_type", "error_code"),
    SCAN_DURATION: (),
    SIGNAL_ERRORS: ("signal",),
    WEBHOOK_ATTEMPTS: (),
    WEBHOOK_DELIVERIES: (),
    WEBHOOK_FAILURES: ("kind",),  # http-4xx, http-5xx, or the sender's error kind (timeout, connect, ...)
    WEBHOOK_DEAD_LETTERED: ("reason",),  # retries-exhausted, undeliverable
}


class Metrics(Protocol):
    """Where the code reports what happened; an implementation never raises."""

    def record(self, name: str, value: float = 1.0, *, unit: str = COUNT, **dimensions: str) -> None:
        """One data point of `name`, with the `service` dimension and one more set per given dimension."""
        ...


class NullMetrics:
    """Drops every data point (the embedded stack's default, and tests that do not look)."""

    def record(self, name: str, value: float = 1.0, *, unit: str = COUNT, **dimensions: str) -> None:
        """Nothing."""


class LogMetrics:
    """Logs every data point at INFO on `perimeter.metrics` (PERIMETER_METRICS=log on the embedded stack)."""

    def __init__(self) -> None:
        self._log = logging.getLogger("perimeter.metrics")

    def record(self, name: str, value: float = 1.0, *, unit: str = COUNT, **dimensions: str) -> None:
        """One INFO line with the metric, its value, unit and dimensions as keys."""
        self._log.info("metric %s %g %s", name, value, unit,
                       extra={"metric": name, "value": value, "unit": unit, "dimensions": dict(dimensions)})


class EmfMetrics:
    """CloudWatch Embedded Metric Format on stdout (Lambda ships it to CloudWatch), one line per data point."""

    def __init__(self, service: str, *, namespace: str = NAMESPACE, stream: IO[str] | None = None) -> None:
        self.service = service
        self.namespace = namespace
        self._stream = stream
        self._lock = threading.Lock()  # a batch's threads emit concurrently; lines must not interleave

    def record(self, name: str, value: float = 1.0, *, unit: str = COUNT, **dimensions: str) -> None:
        """Validate and write one EMF document; a failure is logged, never raised."""
        try:
            line = self.document(name, value, unit=unit, **dimensions)
            with self._lock:
                stream = self._stream or sys.stdout
                stream.write(line + "\n")
                stream.flush()
        except Exception:
            log.warning("metric %s not emitted", name, exc_info=True)

    def document(self, name: str, value: float = 1.0, *, unit: str = COUNT, **dimensions: str) -> str:
        """The EMF JSON line for one data point; raises Powertools' validation errors."""
        from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

        provider = AmazonCloudWatchEMFProvider(namespace=self.namespace, service=self.service)
        provider.add_metric(name=name, unit=unit, value=value)
        for key, dimension in dimensions.items():
            provider.add_dimensions(service=self.service, **{key: dimension})
        return json.dumps(provider.serialize_metric_set(), separators=(",", ":"))


def build_metrics(sink: str, service: str) -> Metrics:
    """The Metrics for a PERIMETER_METRICS value: `emf`, `log` or `off`; raises ValueError."""
    if sink == "emf":
        return EmfMetrics(service)
    if sink == "log":
        return LogMetrics()
    if sink == "off":
        return NullMetrics()
    raise ValueError(f"unknown metrics sink {sink!r}")
