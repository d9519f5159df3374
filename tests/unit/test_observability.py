"""JSON logs with request/tenant/scan keys, the logging settings, and the metrics adapters."""

from __future__ import annotations

import io
import json
import logging
import threading
from types import SimpleNamespace
from typing import Any

import pytest
from chalice.test import Client
from pydantic import ValidationError

from chalicelib.bootstrap import Services
from chalicelib.core import observability
from chalicelib.core.observability import (
    COUNT,
    SECONDS,
    EmfMetrics,
    LogMetrics,
    NullMetrics,
    append_keys,
    build_metrics,
    current_keys,
    log_context,
)
from chalicelib.core.settings import LogSettings, Settings
from tests.conftest import PEPPER
from tests.support.observability import json_logs

own = logging.getLogger("chalicelib.test_observability")


# -- settings ------------------------------------------------------------------------------------------

def test_log_settings_are_read_without_the_rest_of_settings() -> None:
    settings = LogSettings.from_env({"PERIMETER_LOG_LEVEL": "warn", "PERIMETER_SERVICE_NAME": "perimeter-prod"})
    assert (settings.log_level, settings.service_name) == ("WARNING", "perimeter-prod")
    assert LogSettings.from_env({}, log_level="INFO").log_level == "INFO"
    assert LogSettings.from_env({"PERIMETER_LOG_LEVEL": "debug"}, log_level="INFO").log_level == "DEBUG"
    with pytest.raises(ValidationError):
        LogSettings.from_env({"PERIMETER_LOG_LEVEL": "LOUD"})
    with pytest.raises(ValidationError):
        LogSettings.from_env({"PERIMETER_SERVICE_NAME": "two words"})


def test_settings_carry_the_logging_knobs_and_pick_the_metrics_sink_by_stage() -> None:
    settings = Settings.from_env({"PERIMETER_LOG_LEVEL": "INFO", "PERIMETER_KEY_PEPPER": PEPPER})
    assert settings.log_level == "INFO" and settings.service_name == "perimeter"
    assert settings.metrics_sink() == "off"  # the embedded stack drops metrics unless told otherwise
    assert Settings.from_env({}, key_pepper=PEPPER, stage="prod").metrics_sink() == "emf"
    assert Settings.from_env({"PERIMETER_METRICS": "log"}, key_pepper=PEPPER, stage="prod").metrics_sink() == "log"
    with pytest.raises(ValidationError):
        Settings.from_env({"PERIMETER_METRICS": "statsd"}, key_pepper=PEPPER)


# -- log lines and keys -----------------------------------------------------------------------------------

def test_every_logger_writes_one_json_line_with_the_bound_keys() -> None:
    with json_logs("DEBUG") as logs, log_context(request_id="req-1", tenant_id="acme"):
        own.debug("first %s", "line")
        with log_context(scan_id="scn_1"):
            append_keys(execution_name="scn_1")
            logging.getLogger("perimeter.scanner").info("inside")
        own.warning("after")
    first, inside, after = logs.lines()
    assert first["message"] == "first line" and first["level"] == "DEBUG"
    assert first["logger"] == "chalicelib.test_observability" and first["service"] == "perimeter-test"
    assert (first["request_id"], first["tenant_id"]) == ("req-1", "acme") and "scan_id" not in first
    assert first["timestamp"].endswith("+00:00")
    assert (inside["logger"], inside["scan_id"], inside["execution_name"]) == ("perimeter.scanner", "scn_1", "scn_1")
    assert "scan_id" not in after and "execution_name" not in after, "keys appended in a block end with it"
    assert after["tenant_id"] == "acme"


def test_keys_belong_to_their_thread() -> None:
    seen: dict[str, dict[str, object]] = {}

    def worker(name: str, carried: dict[str, object]) -> None:
        with log_context(**carried, delivery_id=name):
            seen[name] = current_keys()

    with log_context(request_id="req-9"):
        threads = [threading.Thread(target=worker, args=("a", {})),
                   threading.Thread(target=worker, args=("b", current_keys()))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert seen["a"] == {"delivery_id": "a"}, "a new thread starts without the keys"
    assert seen["b"] == {"request_id": "req-9", "delivery_id": "b"}
    assert current_keys() == {}


def test_third_party_loggers_stay_quiet_below_warning_whatever_the_level() -> None:
    with json_logs("DEBUG") as logs:
        logging.getLogger("botocore.auth").debug("Signature:\n%s", "deadbeef")
        logging.getLogger("werkzeug").info("GET /bucket/key?X-Amz-Signature=deadbeef")
        logging.getLogger("some.library").info("chatty")
        logging.getLogger("botocore.hooks").warning("a real problem")
        own.debug("ours")
    assert [(line["logger"], line["message"]) for line in logs.lines()] == [
        ("botocore.hooks", "a real problem"), ("chalicelib.test_observability", "ours")]
    assert "deadbeef" not in logs.text()


def test_the_level_applies_to_perimeter_loggers_even_once_chalice_is_imported() -> None:
    import app  # noqa: F401 - Chalice names its logger after the app: `perimeter`

    with json_logs("WARNING") as logs:
        own.info("hidden")
        logging.getLogger("perimeter.lambda").warning("shown")
    with json_logs("INFO") as verbose:
        logging.getLogger("perimeter.fargate").info("scanner task exited")
    assert [line["message"] for line in logs.lines()] == ["shown"]
    assert [line["logger"] for line in verbose.lines()] == ["perimeter.fargate"]


def test_configuration_is_idempotent_replaces_the_lambda_runtime_handler_and_is_undone() -> None:
    class LambdaLoggerHandler(logging.Handler):  # the name of the Lambda runtime's root handler
        def emit(self, record: logging.LogRecord) -> None:
            raise AssertionError("the runtime's handler must not write a second line")

    root = logging.getLogger()
    runtime = LambdaLoggerHandler()
    root.addHandler(runtime)
    levels = (root.level, logging.getLogger("chalicelib").level, logging.getLogger("werkzeug").level)
    try:
        with json_logs("INFO") as logs:
            assert runtime not in root.handlers
            again = observability.configure_logging(LogSettings(log_level="DEBUG"))
            assert again in root.handlers and sum(h is again for h in root.handlers) == 1
            own.debug("still INFO: the first configuration holds")
            own.info("once")
        assert [line["message"] for line in logs.lines()] == ["once"]
        assert (root.level, logging.getLogger("chalicelib").level, logging.getLogger("werkzeug").level) == levels
    finally:
        root.removeHandler(runtime)


def test_an_exception_is_one_line_with_its_traceback() -> None:
    with json_logs("INFO") as logs:
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            own.exception("it failed")
    [line] = logs.lines()
    assert line["exception_name"] == "RuntimeError" and "boom" in line["exception"]


def test_invalid_logging_settings_fall_back_to_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    observability.reset_logging()
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    try:
        observability.configure_logging_from_env({"PERIMETER_LOG_LEVEL": "LOUD"}, log_level="INFO")
        own.info("defaults apply")
    finally:
        observability.reset_logging()
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["level"] == "WARNING" and "invalid logging settings" in lines[0]["message"]
    assert lines[1]["message"] == "defaults apply"


# -- entry points --------------------------------------------------------------------------------------------

def test_lambda_middleware_binds_the_invocation_and_drops_its_keys_afterwards() -> None:
    context = SimpleNamespace(aws_request_id="req-42", function_name="perimeter-score-scan")
    inside: list[dict[str, object]] = []

    def handler(event: Any) -> str:
        append_keys(scan_id="scn_7")
        own.info("step ran")
        inside.append(current_keys())
        return "done"

    with json_logs("INFO") as logs:
        observability._cold = True
        assert observability.lambda_middleware(SimpleNamespace(context=context), handler) == "done"
        assert observability.lambda_middleware(SimpleNamespace(context=context), handler) == "done"
    assert current_keys() == {}
    first, second = logs.lines()
    assert (first["request_id"], first["function_name"], first["scan_id"]) == (
        "req-42", "perimeter-score-scan", "scn_7")
    assert (first["cold_start"], second["cold_start"]) == (True, False)


def test_an_api_request_logs_with_its_request_id_tenant_scan_and_execution(services: Services) -> None:
    from app import app

    services.auth.create_tenant("acme", "Acme")
    _, key = services.auth.issue_key("acme")
    with json_logs("INFO") as logs, Client(app) as client:
        response = client.http.post("/v1/scans", headers={"Authorization": f"Bearer {key}",
                                                          "Content-Type": "application/json"},
                                    body=json.dumps({"domain": "example.com"}).encode())
    assert response.status_code == 202, response.body
    token = json.loads(response.body)["scan_token"]
    [created] = [line for line in logs.lines() if line["message"].startswith("scan created")]
    assert (created["tenant_id"], created["scan_id"], created["execution_name"]) == ("acme", token, token)
    assert created["request_id"] and created["key_id"].startswith("key_")
    assert key not in logs.text()


# -- metrics adapters -------------------------------------------------------------------------------------------

def test_emf_lines_carry_the_service_set_and_one_set_per_dimension() -> None:
    stream = io.StringIO()
    metrics = EmfMetrics("perimeter-prod", stream=stream)
    metrics.record("ScansFailed", scan_type="posture", error_code="timeout")
    metrics.record("ScanDuration", 12.5, unit=SECONDS)
    failed, duration = (json.loads(line) for line in stream.getvalue().splitlines())
    [directive] = failed["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == "Perimeter"
    assert directive["Dimensions"] == [["service"], ["service", "scan_type"], ["service", "error_code"]]
    assert directive["Metrics"] == [{"Name": "ScansFailed", "Unit": "Count"}]
    assert (failed["service"], failed["scan_type"], failed["error_code"], failed["ScansFailed"]) == (
        "perimeter-prod", "posture", "timeout", [1.0])
    assert duration["_aws"]["CloudWatchMetrics"][0]["Metrics"] == [{"Name": "ScanDuration", "Unit": "Seconds"}]
    assert duration["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service"]]
    assert duration["ScanDuration"] == [12.5]


def test_a_metric_that_cannot_be_emitted_is_logged_not_raised() -> None:
    stream = io.StringIO()
    with json_logs("WARNING") as logs:
        EmfMetrics("perimeter", stream=stream).record("ScansCreated", unit="Parsecs")
    assert stream.getvalue() == ""
    assert [line["message"] for line in logs.lines()] == ["metric ScansCreated not emitted"]


def test_emf_lines_from_many_threads_never_interleave() -> None:
    stream = io.StringIO()
    metrics = EmfMetrics("perimeter", stream=stream)
    threads = [threading.Thread(target=lambda: [metrics.record("WebhookAttempts") for _ in range(50)])
               for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 400 and all(json.loads(line)["WebhookAttempts"] == [1.0] for line in lines)


def test_log_metrics_log_and_the_sink_is_chosen_by_name() -> None:
    with json_logs("INFO") as logs:
        LogMetrics().record("ScansFailed", scan_type="posture")
    [line] = logs.lines()
    assert (line["logger"], line["metric"], line["value"], line["unit"], line["dimensions"]) == (
        "perimeter.metrics", "ScansFailed", 1.0, COUNT, {"scan_type": "posture"})
    assert isinstance(build_metrics("emf", "p"), EmfMetrics) and isinstance(build_metrics("log", "p"), LogMetrics)
    assert isinstance(build_metrics("off", "p"), NullMetrics)
    with pytest.raises(ValueError, match="statsd"):
        build_metrics("statsd", "p")
