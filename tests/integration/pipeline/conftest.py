"""The whole pipeline in one process: moto (Step Functions executing the real ASL, ECS, Lambda, S3,
DynamoDB), the in-process Lambda dispatcher and the local Fargate runner in thread mode.

Scanner behaviour is chosen per target, so one fixture covers success and every failure path.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.bootstrap import Services, set_services
from chalicelib.core.settings import Settings
from chalicelib.local import dispatcher, moto_fixes
from chalicelib.local.provision import PROVISIONED_SERVICES, provision
from chalicelib.local.runner import LocalTaskRunner
from chalicelib.scanners import task
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import Scan, ScanStatus, SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES
from tests.support.fakes import FakeResolver
from tests.support.memory import RecordingPublisher

PEPPER = "pipeline-test-pepper-0123456789"
TARGETS = {name: ["93.184.216.34"] for name in (
    "ok.example", "crash.example", "hang.example", "garbage.example", "flaky.example", "slow.example",
    "critical.example", "badinput.example", "foreign.example",
)}


def complete(signals: list[str], findings: Mapping[str, list[Any]] | None = None) -> dict[str, SignalResult]:
    """Every signal complete, with the given findings."""
    return {s: SignalResult(status=SignalStatus.COMPLETE, max_score=MAX_SCORES[SignalKey(s)],
                            findings=list((findings or {}).get(s, []))) for s in signals}


@dataclass
class Behaviours:
    """What the fake scanner does for each target; records attempts and abandonments."""

    attempts: dict[str, int] = field(default_factory=dict)
    abandoned: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    # Per-scan behaviour (SCAN_ID -> scanner main) that takes precedence over the per-target one.
    by_scan: dict[str, Callable[[Mapping[str, str]], int]] = field(default_factory=dict)

    def __call__(self, env: Mapping[str, str]) -> int:
        custom = self.by_scan.get(env.get("SCAN_ID", ""))
        if custom is not None:
            return custom(env)
        target = env.get("TARGET", "")
        with self.lock:
            self.attempts[f"{target}/{env.get('SIGNAL_GROUP')}"] = self.attempts.get(
                f"{target}/{env.get('SIGNAL_GROUP')}", 0) + 1
            attempt = self.attempts[f"{target}/{env.get('SIGNAL_GROUP')}"]
        run_checks: Callable[..., dict[str, SignalResult]] = lambda t, signals, o: complete(signals)  # noqa: E731
        if target == "crash.example" and env.get("SIGNAL_GROUP") == "network":
            def run_checks(t: str, signals: list[str], o: Any) -> dict[str, SignalResult]:
                raise RuntimeError("segfault in a check")
        elif target == "hang.example" and env.get("SIGNAL_GROUP") == "network":
            self.release.wait(30)  # never heartbeats, never answers: a dead container
            return 137
        elif target == "garbage.example" and env.get("SIGNAL_GROUP") == "intel":
            return answer_garbage(env)
        elif target == "flaky.example" and env.get("SIGNAL_GROUP") == "network" and attempt == 1:
            return answer_failure(env, "Scanner.Transient", "S3 throttled")
        elif target == "slow.example" and env.get("SIGNAL_GROUP") == "network":
            def run_checks(t: str, signals: list[str], o: Any) -> dict[str, SignalResult]:
                self.release.wait(30)  # working and heartbeating, but slow
                return complete(signals)
        elif target == "badinput.example":
            env = {**env, "SIGNALS": "not json"}
        elif target == "foreign.example" and env.get("SIGNAL_GROUP") == "intel":
            env = {**env, "SCAN_ID": "scn_someoneelse"}
        elif target == "critical.example" and env.get("SIGNAL_GROUP") == "network":
            from chalicelib.scanners.open_ports import CATALOG

            finding = CATALOG.make("docker-api-exposed", key="2375", detail="Docker API on 2375",
                                   evidence={"port": 2375})
            run_checks = lambda t, signals, o: complete(signals, {"scan": [finding]})  # noqa: E731
        return task.main(env, run_checks=run_checks, on_abandon=self.abandoned.set)


def answer_failure(env: Mapping[str, str], error: str, cause: str) -> int:
    boto3.client("stepfunctions", region_name="us-east-1").send_task_failure(
        taskToken=env["TASK_TOKEN"], error=error, cause=cause)
    return 1


def answer_garbage(env: Mapping[str, str]) -> int:
    body = b'{"not": "evidence"}'
    key = f"tenants/{env['TENANT_ID']}/scans/{env['SCAN_ID']}/evidence/{env['SIGNAL_GROUP']}.json"
    boto3.client("s3", region_name="us-east-1").put_object(Bucket=env["PERIMETER_BUCKET"], Key=key, Body=body)
    import hashlib

    boto3.client("stepfunctions", region_name="us-east-1").send_task_success(
        taskToken=env["TASK_TOKEN"], output=json.dumps({"evidence_key": key,
                                                        "sha256": hashlib.sha256(body).hexdigest()}))
    return 0


@dataclass
class Rig:
    """The running in-process pipeline."""

    services: Services
    clients: dict[str, Any]
    events: RecordingPublisher
    behaviours: Behaviours
    runner: LocalTaskRunner
    tenant: Any

    def submit(self, domain: str, **fields: Any) -> Scan:
        return self.services.scans.create(self.tenant, CreateScan(domain=domain, **fields))

    def execution(self, scan_id: str) -> dict[str, Any]:
        arn = self.services.workflow.execution_arn(scan_id)  # type: ignore[attr-defined]
        return dict(self.clients["stepfunctions"].describe_execution(executionArn=arn))

    def wait(self, scan_id: str, timeout: float = 30.0) -> tuple[Scan, dict[str, Any]]:
        """Wait until the execution ends; returns the scan record and the execution."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            execution = self.execution(scan_id)
            if execution["status"] != "RUNNING":
                return self.services.scans.get(self.tenant.tenant_id, scan_id), execution
            time.sleep(0.05)
        raise AssertionError(f"execution of {scan_id} still running after {timeout} s")

    def wait_status(self, scan_id: str, status: ScanStatus, timeout: float = 10.0) -> Scan:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            scan = self.services.scans.get(self.tenant.tenant_id, scan_id)
            if scan.status == status:
                return scan
            time.sleep(0.05)
        raise AssertionError(f"scan {scan_id} never became {status}")

    def history(self, scan_id: str) -> list[dict[str, Any]]:
        arn = self.services.workflow.execution_arn(scan_id)  # type: ignore[attr-defined]
        return list(self.clients["stepfunctions"].get_execution_history(executionArn=arn, maxResults=1000)["events"])


@pytest.fixture
def rig(monkeypatch: pytest.MonkeyPatch) -> Iterator[Rig]:
    """moto + the real ASL + dispatcher + thread runner, a tenant `t1`, heartbeat 2 s."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        clients = {name: boto3.client(name, region_name="us-east-1") for name in PROVISIONED_SERVICES}
        resources = provision(clients)
        for key, value in resources.env().items():
            monkeypatch.setenv(key, value)
        settings = Settings.from_env({**resources.env()}, key_pepper=PEPPER, scanner_heartbeat_seconds=2)
        services = Services(settings, resolver=FakeResolver(TARGETS))
        events = RecordingPublisher()
        services.__dict__["webhooks"] = events  # `events` is the webhook service: record instead
        set_services(services)
        behaviours = Behaviours()
        runner = LocalTaskRunner(mode="thread", ecs_client=clients["ecs"], thread_main=behaviours,
                                 base_env={**resources.env(), "PERIMETER_KEY_PEPPER": PEPPER,
                                           "AWS_REGION": "us-east-1"})
        moto_fixes.install(invoker=dispatcher.invoke, on_run_task=runner.on_run_task,
                           on_stop_task=runner.on_stop_task)
        tenant = services.auth.create_tenant("t1", "Tenant One", ready_threshold=65)
        try:
            yield Rig(services, clients, events, behaviours, runner, tenant)
        finally:
            behaviours.release.set()
            moto_fixes.install()
            set_services(None)
            time.sleep(0.2)  # let scanner threads notice the release before moto goes away
