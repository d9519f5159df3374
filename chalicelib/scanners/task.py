"""The scanner task: what the Fargate container (and the embedded stack's local runner) runs.

Reads the environment contract (`chalicelib.core.contract.SCANNER_TASK_ENV` plus the usual
PERIMETER_* settings), runs the signal group's checks, writes the evidence document to the object
store (S3; files under PERIMETER_DATA_DIR on the embedded stack),
heartbeats while it works, and answers the task token: success with a pointer to the evidence, or
failure with a typed error name the ASL matches (`Scanner.InvalidInput`, `Scanner.Transient`,
`Scanner.Crashed`). When its heartbeat is refused (the scan was cancelled or timed out) or its
deadline passes, it gives up at once. On SIGTERM (a Fargate Spot interruption gives 2 minutes'
notice, a StopTask 30 s) it answers `Scanner.Transient` at once if it has not answered yet, so the
ASL retries the branch instead of waiting for the heartbeat to time out.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import logging
import os
import signal
import threading
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from chalicelib.core import observability as obs
from chalicelib.core.contract import SIGNAL_GROUPS
from chalicelib.scans.evidence import EvidenceDocument
from chalicelib.scans.keys import evidence_key
from chalicelib.scans.models import ScanOptions, SignalKey, SignalResult

log = logging.getLogger("perimeter.scanner")

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT, EXIT_ABANDONED = 0, 1, 2, 3
DEADLINE_GRACE_SECONDS = 5


class Callbacks(Protocol):
    """The task-token side of Step Functions (TaskCallbacks in AWS)."""

    def heartbeat(self, token: str) -> None:
        """SendTaskHeartbeat; raises TaskTokenGone when nobody waits any more."""
        ...

    def success(self, token: str, output: dict[str, Any]) -> None:
        """SendTaskSuccess."""
        ...

    def failure(self, token: str, error: str, cause: str) -> None:
        """SendTaskFailure."""
        ...


class Objects(Protocol):
    """Where evidence goes (the reports bucket)."""

    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store bytes at key."""
        ...


class TaskEnv(BaseModel):
    """The per-task part of the environment contract, validated."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    task_token: str = Field(alias="TASK_TOKEN", min_length=1, max_length=2048)
    scan_id: str = Field(alias="SCAN_ID", pattern=r"^[A-Za-z0-9_-]{1,64}$")
    tenant_id: str = Field(alias="TENANT_ID", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    # A domain or address; a webapp start URL; an image reference (registry/path:tag@sha256:...).
    target: str = Field(alias="TARGET", min_length=1, max_length=2048)
    group: str = Field(alias="SIGNAL_GROUP")
    signals: tuple[SignalKey, ...] = Field(alias="SIGNALS")
    options: ScanOptions = Field(alias="SCAN_OPTIONS", default_factory=ScanOptions)
    deadline: int = Field(alias="SCAN_DEADLINE", gt=0)
    heartbeat_seconds: int = Field(alias="HEARTBEAT_SECONDS", ge=1, le=900)

    @field_validator("signals", "options", mode="before")
    @classmethod
    def _json(cls, value: object) -> object:
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("group")
    @classmethod
    def _known_group(cls, value: str) -> str:
        if value not in SIGNAL_GROUPS:
            raise ValueError(f"unknown signal group {value!r}")
        return value

    @property
    def group_signals(self) -> list[str]:
        """The scan's signals that belong to this task's group, in group order."""
        wanted = {s.value for s in self.signals}
        return [s for s in SIGNAL_GROUPS[self.group] if s in wanted]


class InvalidTaskInput(Exception):
    """The environment contract is broken (no token, bad JSON, unknown group)."""


def read_env(environ: Mapping[str, str]) -> TaskEnv:
    """Validate the per-task environment; raises InvalidTaskInput with a readable reason."""
    try:
        return TaskEnv.model_validate(dict(environ))
    except (ValidationError, ValueError) as exc:
        raise InvalidTaskInput(str(exc).replace("\n", " ")[:1000]) from None


RunChecks = Callable[[str, list[str], ScanOptions], dict[str, SignalResult]]


@dataclass
class ScannerTask:
    """One run of a signal group for one scan."""

    env: TaskEnv
    callbacks: Callbacks
    objects: Objects
    run_checks: RunChecks
    on_abandon: Callable[[], None]
    clock: Callable[[], float]
    _answered: bool = field(default=False, init=False)
    _answer_lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def run(self) -> int:
        """Run the checks and answer the token; returns the process exit code."""
        stop = threading.Event()
        beat = threading.Thread(target=contextvars.copy_context().run, args=(self._heartbeat, stop),  # log keys too
                                name="heartbeat", daemon=True)
        beat.start()
        try:
            return self._work()
        finally:
            stop.set()

    def _work(self) -> int:
        env = self.env
        started = datetime.now(UTC)
        try:
            results = self.run_checks(env.target, env.group_signals, env.options)
        except Exception as exc:
            log.exception("checks crashed")
            return self._fail("Scanner.Crashed", f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=5)}")
        document = EvidenceDocument(scan_id=env.scan_id, tenant_id=env.tenant_id, group=env.group, target=env.target,
                                    started_at=started, finished_at=datetime.now(UTC),
                                    signals={SignalKey(k): v for k, v in results.items()},
                                    attachments={SignalKey(k): v.attachments for k, v in results.items()
                                                 if v.attachments})
        body = document.model_dump_json().encode()
        key = evidence_key(env.tenant_id, env.scan_id, env.group)
        try:
            self.objects.put(key, body, "application/json")
        except Exception as exc:
            log.exception("could not store the evidence")
            return self._fail("Scanner.Transient", f"storing evidence failed: {type(exc).__name__}: {exc}")
        return self._answer(lambda: self.callbacks.success(env.task_token, {
            "group": env.group, "evidence_key": key, "sha256": hashlib.sha256(body).hexdigest(),
            "signals": list(results)}))

    def _fail(self, error: str, cause: str) -> int:
        code = self._answer(lambda: self.callbacks.failure(self.env.task_token, error, cause))
        return EXIT_FAILED if code == EXIT_OK else code

    def interrupt(self, reason: str) -> int:
        """Answer Scanner.Transient unless the token was answered already; returns the exit code.

        Called on SIGTERM: a Spot interruption or a StopTask must end in the ASL's retry, not in a
        heartbeat timeout. A second answer is never sent (EXIT_OK when the task had answered).
        """
        with self._answer_lock:
            answered = self._answered
        if answered:
            log.info("interrupted (%s) after answering", reason)
            return EXIT_OK
        log.warning("interrupted (%s) before answering: reporting Scanner.Transient", reason)
        return self._fail("Scanner.Transient", f"scanner task interrupted: {reason}")

    def _answer(self, send: Callable[[], None]) -> int:
        from chalicelib.aws.stepfunctions import TaskTokenGone

        with self._answer_lock:  # one answer per token: the work and a SIGTERM may race
            if self._answered:
                return EXIT_ABANDONED
            self._answered = True
        try:
            send()
        except TaskTokenGone:
            log.warning("the task token is gone (cancelled or timed out); result dropped")
            return EXIT_ABANDONED
        return EXIT_OK

    def _heartbeat(self, stop: threading.Event) -> None:
        """Beat every third of the heartbeat period; give up when refused or past the deadline."""
        from chalicelib.aws.stepfunctions import TaskTokenGone

        interval = max(0.5, self.env.heartbeat_seconds / 3)
        while not stop.wait(interval):
            if self.clock() > self.env.deadline + DEADLINE_GRACE_SECONDS:
                log.warning("past the scan's deadline; giving up")
                self.on_abandon()
                return
            try:
                self.callbacks.heartbeat(self.env.task_token)
            except TaskTokenGone:
                log.warning("heartbeat refused: the scan was cancelled or timed out; giving up")
                self.on_abandon()
                return
            except Exception:  # a missed beat is not fatal; the next one may pass
                log.exception("heartbeat failed")


def default_checks(settings: Any, env: TaskEnv | None = None,
                   cancelled: threading.Event | None = None) -> RunChecks:
    """The real checks of chalicelib.scanners, configured from Settings, with the newest intel.

    The intel (packaged, PERIMETER_INTEL_DIR or the refreshed copy under PERIMETER_INTEL_S3_PREFIX in
    the reports bucket) is loaded once per task; a newer copy that cannot be read leaves the packaged one.
    With the task's `env`, checks get the scan's deadline and `cancelled` (set when the task gives up), and
    a container scan gets its registry password (opened here, the only place that can) and the OSV data.
    """
    from chalicelib.scanners.base import ScanContext
    from chalicelib.scanners.checks import run_signals
    from chalicelib.scanners.intel.service import load_for_settings
    from chalicelib.storage.factory import make_object_store

    intel = load_for_settings(settings, lambda: make_object_store(settings))
    event = cancelled or threading.Event()

    def run(target: str, signals: list[str], options: ScanOptions) -> dict[str, SignalResult]:
        extra: dict[str, Any] = {"cancelled": event}
        if env is not None:
            extra["deadline"] = env.deadline
        if SignalKey.CONTAINER.value in signals:
            extra.update(_container_context(settings, env, options))
        return run_signals(target, signals, ScanContext.from_settings(settings, options, intel=intel, **extra))

    return run


def _container_context(settings: Any, env: TaskEnv | None, options: ScanOptions) -> dict[str, Any]:
    """OSV data, ECR tokens and the opened registry credentials of a container scan (ScanContext fields)."""
    from chalicelib.aws.clients import make_client
    from chalicelib.aws.ecr import EcrAuth
    from chalicelib.scanners.container.registry import ecr_credentials
    from chalicelib.scanners.intel.service import load_osv_for_settings
    from chalicelib.storage.factory import make_object_store

    extra: dict[str, Any] = {
        "osv": load_osv_for_settings(settings, lambda: make_object_store(settings)),
        "ecr_credentials": ecr_credentials(EcrAuth(lambda region: make_client("ecr", settings, region=region))),
    }
    auth = options.container.registry_auth if options.container is not None else None
    if auth is not None and auth.password_sealed and env is not None:
        extra["registry_credentials"] = open_registry_password(settings, env.tenant_id, env.scan_id, auth.username,
                                                               auth.password_sealed)
    return extra


def open_registry_password(settings: Any, tenant_id: str, scan_id: str, username: str, sealed: str) -> Any:
    """RegistryCredentials from the password the API sealed for this tenant and scan; None when it does not
    open (another key, scan or tenant): the pull then goes without credentials and says so."""
    from chalicelib.core.secretbox import SecretBox, SecretUnwrapError
    from chalicelib.scanners.container.options import RegistryCredentials
    from chalicelib.scans.models import registry_auth_context

    master = settings.registry_auth_master()
    if master is None:
        log.warning("registry credentials given but PERIMETER_REGISTRY_AUTH_KEY is not set")
        return None
    try:
        password = SecretBox(master).unwrap(sealed, registry_auth_context(tenant_id, scan_id))
    except SecretUnwrapError:
        log.warning("the sealed registry password does not open for this scan")
        return None
    return RegistryCredentials(username=username, password=password)


def main(environ: Mapping[str, str] | None = None, *, run_checks: RunChecks | None = None,
         on_abandon: Callable[[], None] | None = None) -> int:
    """The container entrypoint: returns the exit code (0 answered, 1 failure answered, 2 bad input, 3 abandoned)."""
    import time

    from chalicelib.aws.clients import make_client
    from chalicelib.aws.stepfunctions import TaskCallbacks
    from chalicelib.core.errors import ConfigurationError
    from chalicelib.core.settings import Settings
    from chalicelib.storage.factory import make_object_store

    environ = dict(os.environ if environ is None else environ)
    environ.setdefault("PERIMETER_KEY_PEPPER", "scanner-task-has-no-keys-0000")  # the scanner never sees API keys
    try:
        settings = Settings.from_env(environ)
    except (ValidationError, ValueError) as exc:
        log.error("invalid settings: %s", exc)
        return _report_bad_input(environ, f"invalid settings: {exc}")
    callbacks = TaskCallbacks(make_client("stepfunctions", settings))
    try:
        env = read_env(environ)
    except InvalidTaskInput as exc:
        log.error("invalid task input: %s", exc)
        return _report_bad_input(environ, str(exc), callbacks)
    try:  # the same store the pipeline reads: files under PERIMETER_DATA_DIR on the embedded stack, else S3
        objects = make_object_store(settings)
    except ConfigurationError as exc:
        log.error("unusable object store: %s", exc.detail)
        return _report_bad_input(environ, exc.detail, callbacks)
    cancelled = threading.Event()

    def abandon() -> None:
        """Stop the checks and the tools they started (wapiti, sqlmap run in sessions of their own), then exit."""
        from chalicelib.scanners.webapp import terminate_all

        cancelled.set()
        terminate_all()
        os._exit(EXIT_ABANDONED)

    task = ScannerTask(env=env, callbacks=callbacks, objects=objects,
                       run_checks=run_checks or default_checks(settings, env, cancelled),
                       on_abandon=on_abandon or abandon, clock=time.time)
    install_sigterm_handler(task)
    # The execution is named after the scan (chalicelib/aws/stepfunctions.py); never the task token.
    with obs.log_context(tenant_id=env.tenant_id, scan_id=env.scan_id, execution_name=env.scan_id,
                         signal_group=env.group):
        log.info("scanner task started: %s of %s", env.group, env.target)
        code = task.run()
        log.info("scanner task ended with exit code %d", code)
        return code


def install_sigterm_handler(task: ScannerTask, exit_now: Callable[[int], None] = os._exit) -> bool:
    """On SIGTERM answer Scanner.Transient (ScannerTask.interrupt) and exit; False off the main thread.

    Python runs signal handlers in the main thread only, so the local runner's thread mode keeps the
    default behaviour. `exit_now` is os._exit: the checks (and nmap) must not outlive the answer.
    """
    if threading.current_thread() is not threading.main_thread():
        return False

    def on_sigterm(signum: int, _frame: object) -> None:
        try:
            code = task.interrupt(f"{signal.Signals(signum).name} (Spot interruption or StopTask)")
        except Exception:  # the answer could not be sent: exit anyway, the heartbeat timeout will notice
            log.exception("could not report the interruption")
            code = EXIT_FAILED
        exit_now(code)

    signal.signal(signal.SIGTERM, on_sigterm)
    return True


def _report_bad_input(environ: Mapping[str, str], reason: str, callbacks: Callbacks | None = None) -> int:
    """Fail the token with Scanner.InvalidInput when there is one to fail; exit code 2 either way."""
    token = environ.get("TASK_TOKEN")
    if token and callbacks is not None:
        try:
            callbacks.failure(token, "Scanner.InvalidInput", reason)
        except Exception:
            log.exception("could not report the invalid input")
    return EXIT_BAD_INPUT
