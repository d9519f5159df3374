"""The scanner task (env contract, evidence, token answers, giving up), the dispatcher, and the container files."""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from chalicelib.aws.stepfunctions import TaskTokenGone
from chalicelib.core.contract import SCANNER_STATIC_ENV, SCANNER_TASK_ENV
from chalicelib.local import dispatcher
from chalicelib.scanners.task import (
    EXIT_ABANDONED,
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    InvalidTaskInput,
    ScannerTask,
    read_env,
)
from chalicelib.scans.evidence import EvidenceDocument
from chalicelib.scans.models import SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES
from tests.support.memory import MemoryObjectStore

ROOT = Path(__file__).resolve().parents[2]
ENV = {
    "TASK_TOKEN": "token-1", "SCAN_ID": "scn_01", "TENANT_ID": "t1", "TARGET": "example.com",
    "SIGNAL_GROUP": "network", "SIGNALS": json.dumps(["scan", "layer", "mail", "web"]),
    "SCAN_OPTIONS": json.dumps({"service_detection": False}),
    "SCAN_DEADLINE": str(int(time.time()) + 86400),  # a day: imported at collection, reached much later
    "HEARTBEAT_SECONDS": "3",
}


class Callbacks:
    def __init__(self, gone_after: int | None = None) -> None:
        self.beats = 0
        self.answers: list[tuple[str, Any]] = []
        self.gone_after = gone_after

    def heartbeat(self, token: str) -> None:
        self.beats += 1
        if self.gone_after is not None and self.beats > self.gone_after:
            raise TaskTokenGone("TaskTimedOut")

    def success(self, token: str, output: dict[str, Any]) -> None:
        self.answers.append(("success", output))

    def failure(self, token: str, error: str, cause: str) -> None:
        self.answers.append((error, cause))


def results(signals: list[str]) -> dict[str, SignalResult]:
    return {s: SignalResult(status=SignalStatus.COMPLETE, max_score=MAX_SCORES[SignalKey(s)]) for s in signals}


def make_task(callbacks: Callbacks, objects: Any, run_checks: Any, env: dict[str, str] | None = None,
              on_abandon: Any = None) -> ScannerTask:
    return ScannerTask(env=read_env(env or ENV), callbacks=callbacks, objects=objects, run_checks=run_checks,
                       on_abandon=on_abandon or (lambda: None), clock=time.time)


def test_read_env_takes_only_the_groups_signals() -> None:
    env = read_env(ENV)
    assert env.group_signals == ["scan", "layer", "web"]
    assert env.options.service_detection is False and env.heartbeat_seconds == 3


@pytest.mark.parametrize("broken", [
    {"TASK_TOKEN": ""}, {"SIGNAL_GROUP": "everything"}, {"SIGNALS": "not json"}, {"SIGNALS": '["nope"]'},
    {"SCAN_ID": "../../etc"}, {"SCAN_OPTIONS": '{"unknown": 1}'}, {"SCAN_DEADLINE": "soon"},
])
def test_read_env_refuses_a_broken_contract(broken: dict[str, str]) -> None:
    with pytest.raises(InvalidTaskInput):
        read_env({**ENV, **broken})


def test_task_stores_evidence_and_answers_with_its_pointer() -> None:
    callbacks, objects = Callbacks(), MemoryObjectStore()
    seen: list[list[str]] = []

    def checks(target: str, signals: list[str], options: Any) -> dict[str, SignalResult]:
        seen.append(signals)
        return results(signals)

    assert make_task(callbacks, objects, checks).run() == EXIT_OK
    assert seen == [["scan", "layer", "web"]]
    kind, output = callbacks.answers[0]
    assert kind == "success" and output["group"] == "network"
    body = objects.get(output["evidence_key"])
    assert output["evidence_key"] == "tenants/t1/scans/scn_01/evidence/network.json"
    assert hashlib.sha256(body).hexdigest() == output["sha256"]
    assert set(EvidenceDocument.model_validate_json(body).signals) == {SignalKey.SCAN, SignalKey.LAYER, SignalKey.WEB}


def test_crashing_checks_answer_scanner_crashed_with_the_cause() -> None:
    callbacks = Callbacks()

    def checks(*_: Any) -> dict[str, SignalResult]:
        raise RuntimeError("boom")

    assert make_task(callbacks, MemoryObjectStore(), checks).run() == EXIT_FAILED
    error, cause = callbacks.answers[0]
    assert error == "Scanner.Crashed" and "boom" in cause


def test_storage_failure_answers_scanner_transient() -> None:
    class Broken(MemoryObjectStore):
        def put(self, key: str, body: bytes, content_type: str) -> None:
            raise OSError("throttled")

    callbacks = Callbacks()
    assert make_task(callbacks, Broken(), lambda t, s, o: results(s)).run() == EXIT_FAILED
    assert callbacks.answers[0][0] == "Scanner.Transient"


def gives_up_while_checks_run(callbacks: Callbacks, env: dict[str, str]) -> bool:
    """Run a task whose checks block; True when it abandons within 5 s."""
    abandoned, release = threading.Event(), threading.Event()

    def slow(target: str, signals: list[str], options: Any) -> dict[str, SignalResult]:
        release.wait(10)
        return results(signals)

    worker = threading.Thread(target=lambda: make_task(callbacks, MemoryObjectStore(), slow, env,
                                                       abandoned.set).run())
    worker.start()
    try:
        return abandoned.wait(5)
    finally:
        release.set()
        worker.join(5)


def test_refused_heartbeat_abandons_the_task() -> None:
    assert gives_up_while_checks_run(Callbacks(gone_after=0), {**ENV, "HEARTBEAT_SECONDS": "1"})


def test_task_past_its_deadline_gives_up() -> None:
    env = {**ENV, "HEARTBEAT_SECONDS": "1", "SCAN_DEADLINE": str(int(time.time()) - 10)}
    assert gives_up_while_checks_run(Callbacks(), env)


def test_task_that_beats_in_time_keeps_working() -> None:
    callbacks = Callbacks()
    abandoned = threading.Event()
    # A deadline from now: ENV's is set at collection, and a full suite can take longer than its 600 s to get here.
    env = {**ENV, "HEARTBEAT_SECONDS": "1", "SCAN_DEADLINE": str(int(time.time()) + 600)}

    def checks(target: str, signals: list[str], options: Any) -> dict[str, SignalResult]:
        time.sleep(1.2)  # long enough for a few beats
        return results(signals)

    assert make_task(callbacks, MemoryObjectStore(), checks, env, abandoned.set).run() == EXIT_OK
    assert callbacks.beats >= 1 and not abandoned.is_set()


def test_answer_to_a_gone_token_exits_abandoned() -> None:
    class Gone(Callbacks):
        def success(self, token: str, output: dict[str, Any]) -> None:
            raise TaskTokenGone("TaskTimedOut")

    assert make_task(Gone(), MemoryObjectStore(), lambda t, s, o: results(s)).run() == EXIT_ABANDONED


def test_container_entrypoint_without_a_contract_exits_bad_input_without_aws() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERIMETER_", "TASK_", "SCAN_"))}
    env.update({"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "PERIMETER_BUCKET": "b"})
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(ROOT / "scanner-container" / "entrypoint.py")], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    assert "invalid task input" in done.stderr and time.monotonic() - started < 30


def echo_handler(event: Any, context: Any) -> dict[str, Any]:
    """A Lambda handler for the dispatcher tests."""
    return {"got": event, "function": context.function_name, "ms_left": context.get_remaining_time_in_millis()}


def failing_handler(event: Any, context: Any) -> dict[str, Any]:
    """A Lambda handler that raises a pipeline error."""
    from chalicelib.pipeline.errors import EvidenceInvalid

    raise EvidenceInvalid(f"bad evidence for {event['scan_id']}")


def test_dispatcher_calls_the_handler_named_by_the_handler_string() -> None:
    payload, error = dispatcher.invoke(f"{__name__}.echo_handler", b'{"a": 1}', "perimeter-score_scan")
    result = json.loads(payload)
    assert error is None and result["got"] == {"a": 1} and result["function"] == "perimeter-score_scan"
    assert result["ms_left"] > 0


def test_dispatcher_turns_an_exception_into_the_lambda_error_envelope() -> None:
    payload, error = dispatcher.invoke(f"{__name__}.failing_handler", b'{"scan_id": "scn_1"}', "fn")
    envelope = json.loads(payload)
    assert error == "Unhandled"
    assert envelope["errorType"] == "EvidenceInvalid" and envelope["errorMessage"] == "bad evidence for scn_1"
    assert isinstance(envelope["stackTrace"], list) and envelope["stackTrace"]


def test_dispatcher_reports_an_unknown_handler_as_an_error() -> None:
    payload, error = dispatcher.invoke("chalicelib.no_such_module.handler", b"{}", "fn")
    assert error == "Unhandled" and json.loads(payload)["errorType"] == "ModuleNotFoundError"


# -- the scanner image -------------------------------------------------------------------------------
DOCKERFILE = (ROOT / "scanner-container" / "Dockerfile").read_text()


def test_dockerfile_pins_a_slim_python_base() -> None:
    base = re.search(r"^FROM\s+(\S+)", DOCKERFILE, re.M)
    assert base is not None
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base.group(1)), base.group(1)


def test_dockerfile_runs_as_a_non_root_user_with_nmap() -> None:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE, re.M)
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert re.search(r"apt-get install[^\n]*\bnmap\b", DOCKERFILE)
    assert 'ENTRYPOINT ["python", "/app/entrypoint.py"]' in DOCKERFILE


def test_dockerfile_bakes_in_no_secrets_and_copies_only_code() -> None:
    for line in re.findall(r"^(?:ENV|ARG)\s+.*$", DOCKERFILE, re.M):
        assert not re.search(r"(KEY|SECRET|TOKEN|PASSWORD|PEPPER)", line, re.I), line
    sources = re.findall(r"^COPY\s+(\S+)", DOCKERFILE, re.M)
    assert sources and all(s.startswith(("chalicelib", "scanner-container/")) for s in sources), sources


def test_scanner_requirements_pin_the_same_versions_as_the_app() -> None:
    def pins(path: Path) -> dict[str, str]:
        return dict(line.split("==") for line in path.read_text().splitlines() if "==" in line)

    app_pins, image_pins = pins(ROOT / "requirements.txt"), pins(ROOT / "scanner-container" / "requirements.txt")
    assert image_pins and all(app_pins.get(name) == version for name, version in image_pins.items())


def test_scanner_env_contract_names_are_documented_in_the_image_readme() -> None:
    readme = (ROOT / "scanner-container" / "README.md").read_text()
    missing = [name for name in (*SCANNER_TASK_ENV, *SCANNER_STATIC_ENV) if f"`{name}`" not in readme]
    assert not missing, missing


# -- SIGTERM: a Fargate Spot interruption (2 minutes' notice) or a StopTask ------------------------------
class Exited(BaseException):
    """What the test's exit_now raises instead of os._exit (not an Exception: the task must not catch it)."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def _exit_now(code: int) -> None:
    raise Exited(code)


def test_sigterm_before_the_answer_reports_scanner_transient_for_the_asl_retry() -> None:
    import signal

    from chalicelib.scanners.task import install_sigterm_handler

    callbacks = Callbacks()

    def interrupted_checks(target: str, signals: list[str], options: Any) -> dict[str, SignalResult]:
        os.kill(os.getpid(), signal.SIGTERM)  # what ECS sends on a Spot interruption
        time.sleep(5)  # the handler runs here, in the main thread, and never returns
        return results(signals)

    task = make_task(callbacks, MemoryObjectStore(), interrupted_checks)
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert install_sigterm_handler(task, _exit_now)
        with pytest.raises(Exited) as exited:
            task.run()
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert exited.value.code == EXIT_FAILED
    assert [error for error, _ in callbacks.answers] == ["Scanner.Transient"]
    assert "SIGTERM" in callbacks.answers[0][1]
    # The ASL retries exactly this name on both scanner states.
    asl = (ROOT / "chalicelib" / "pipeline" / "scan-pipeline.asl.json").read_text()
    assert asl.count('"Scanner.Transient"') >= 2


def test_sigterm_exits_even_when_the_answer_cannot_be_sent() -> None:
    import signal

    from chalicelib.scanners.task import install_sigterm_handler

    class Unreachable(Callbacks):
        def failure(self, token: str, error: str, cause: str) -> None:
            raise ConnectionError("endpoint unreachable")

    task = make_task(Unreachable(), MemoryObjectStore(), lambda t, s, o: results(s))
    previous = signal.getsignal(signal.SIGTERM)
    try:
        assert install_sigterm_handler(task, _exit_now)
        with pytest.raises(Exited) as exited:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert exited.value.code == EXIT_FAILED


def test_sigterm_after_the_answer_sends_nothing_more() -> None:
    callbacks = Callbacks()
    task = make_task(callbacks, MemoryObjectStore(), lambda t, s, o: results(s))
    assert task.run() == EXIT_OK
    assert task.interrupt("SIGTERM") == EXIT_OK
    assert [kind for kind, _ in callbacks.answers] == ["success"]


def test_sigterm_handler_is_not_installed_off_the_main_thread() -> None:
    from chalicelib.scanners.task import install_sigterm_handler

    task = make_task(Callbacks(), MemoryObjectStore(), lambda t, s, o: results(s))
    installed: list[bool] = []
    worker = threading.Thread(target=lambda: installed.append(install_sigterm_handler(task, _exit_now)))
    worker.start()
    worker.join(5)
    assert installed == [False]


def test_dockerfile_builds_for_arm64_and_amd64_from_a_multi_arch_base() -> None:
    assert not re.search(r"^FROM\s+--platform", DOCKERFILE, re.M)  # a pinned platform would break arm64
    assert "--platform linux/arm64,linux/amd64" in DOCKERFILE
    deploy = (ROOT / "docs" / "deploy.md").read_text()
    assert "--platform linux/arm64,linux/amd64" in deploy
