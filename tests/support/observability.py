"""Test doubles for chalicelib.core.observability: a recording Metrics and a capture of the JSON log stream."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from chalicelib.core import observability
from chalicelib.core.settings import LogSettings


@dataclass(frozen=True)
class Point:
    """One recorded data point."""

    name: str
    value: float
    unit: str
    dimensions: dict[str, str]


@dataclass
class RecordingMetrics:
    """A Metrics that keeps every data point (thread-safe)."""

    points: list[Point] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, name: str, value: float = 1.0, *, unit: str = observability.COUNT, **dimensions: str) -> None:
        """Keep the point; a metric or dimension observability.METRICS does not declare fails the test."""
        assert name in observability.METRICS, f"undeclared metric {name}"
        assert set(dimensions) <= set(observability.METRICS[name]), f"undeclared dimension of {name}: {dimensions}"
        with self.lock:
            self.points.append(Point(name, value, unit, dict(dimensions)))

    def named(self, name: str) -> list[Point]:
        """The points of one metric, in order."""
        with self.lock:
            return [p for p in self.points if p.name == name]

    def names(self) -> list[str]:
        """Every recorded metric name, in order."""
        with self.lock:
            return [p.name for p in self.points]


class _Everything(logging.Handler):
    """Keeps every record that reaches the root logger, whatever its level."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@dataclass
class LogCapture:
    """What the configured JSON handler wrote, and every record that reached the root logger."""

    stream: io.StringIO
    everything: _Everything

    @property
    def records(self) -> list[logging.LogRecord]:
        return list(self.everything.records)

    def lines(self) -> list[dict[str, Any]]:
        """The JSON documents written so far (every line must be one)."""
        return [json.loads(line) for line in self.stream.getvalue().splitlines() if line.strip()]

    def text(self) -> str:
        """Everything written, and every record's message, arguments and attributes, as one string."""
        parts = [self.stream.getvalue()]
        for record in self.records:
            parts += [record.getMessage(), repr(record.args), repr(record.__dict__)]
            if record.exc_info:
                parts.append(logging.Formatter().formatException(record.exc_info))
        return "\n".join(parts)


@contextmanager
def json_logs(level: str = "DEBUG", service: str = "perimeter-test") -> Iterator[LogCapture]:
    """chalicelib.core.observability's logging, configured at `level` into a buffer; undone afterwards."""
    observability.reset_logging()
    stream = io.StringIO()
    everything = _Everything()
    root = logging.getLogger()
    handler = observability.configure_logging(LogSettings(log_level=level, service_name=service), stream=stream)
    root.addHandler(everything)
    try:
        yield LogCapture(stream, everything)
    finally:
        root.removeHandler(everything)
        handler.flush()
        observability.reset_logging()
