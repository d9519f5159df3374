"""A whole scan through the API, the real ASL, the scanners and a webhook delivery, with every log line kept:
none carries a secret, and they carry the request, tenant, scan and execution as keys.

The logs are configured as the Lambdas configure them, at DEBUG. Both object stores are covered: S3
(report links are presigned URLs) and the embedded stack's files (report links carry a download token).
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest
from chalice.test import Client
from moto import mock_aws

from app import app, deliver_webhooks
from chalicelib.bootstrap import Services, set_services
from chalicelib.core.settings import Settings
from chalicelib.local import dispatcher, moto_fixes
from chalicelib.local.poller import poll_once
from chalicelib.local.provision import PROVISIONED_SERVICES, provision
from chalicelib.local.runner import LocalTaskRunner
from tests.integration.pipeline.conftest import PEPPER, TARGETS, Behaviours
from tests.support.fakes import FakeResolver
from tests.support.observability import LogCapture, json_logs

pytestmark = pytest.mark.slow


@dataclass
class Receiver:
    """A webhook receiver on 127.0.0.1 that answers 200 and keeps what it got."""

    port: int
    bodies: list[dict[str, Any]] = field(default_factory=list)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            """Quiet."""

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            server.receiver.bodies.append(json.loads(body))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

    class Server(ThreadingHTTPServer):
        daemon_threads = True
        receiver: Receiver

    server = Server(("127.0.0.1", 0), Handler)
    server.receiver = Receiver(server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@dataclass
class Stack:
    services: Services
    client: Client
    key: str
    logs: LogCapture


@pytest.fixture(params=["s3", "files"])
def stack(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Stack]:
    """The in-process pipeline with the real webhook service, logs captured at DEBUG from the start."""
    with json_logs("DEBUG") as logs, mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        clients = {name: boto3.client(name, region_name="us-east-1") for name in PROVISIONED_SERVICES}
        resources = provision(clients)
        for key, value in resources.env().items():
            monkeypatch.setenv(key, value)
        # The scanners write where the pipeline reads: files under PERIMETER_DATA_DIR, else the bucket.
        storage = {"PERIMETER_DATA_DIR": str(tmp_path / "data")} if request.param == "files" else {}
        settings = Settings.from_env({**resources.env(), **storage}, key_pepper=PEPPER, scanner_heartbeat_seconds=2,
                                     allow_private_targets=["127.0.0.0/8"])
        services = Services(settings, resolver=FakeResolver(TARGETS))
        set_services(services)
        behaviours = Behaviours()
        runner = LocalTaskRunner(mode="thread", ecs_client=clients["ecs"], thread_main=behaviours,
                                 base_env={**resources.env(), **storage, "PERIMETER_KEY_PEPPER": PEPPER,
                                           "AWS_REGION": "us-east-1"})
        moto_fixes.install(invoker=dispatcher.invoke, on_run_task=runner.on_run_task,
                           on_stop_task=runner.on_stop_task)
        services.auth.create_tenant("t1", "Tenant One")
        _, key = services.auth.issue_key("t1", name="test")
        try:
            with Client(app) as client:
                yield Stack(services, client, key, logs)
        finally:
            behaviours.release.set()
            moto_fixes.install()
            set_services(None)
            time.sleep(0.2)


def _call(stack: Stack, method: str, path: str, body: Any = None, **headers: str) -> Any:
    sent = {"Authorization": f"Bearer {stack.key}", "Content-Type": "application/json", **headers}
    return getattr(stack.client.http, method)(path, headers=sent,
                                              body=json.dumps(body).encode() if body is not None else b"")


def _scan_to_completion(stack: Stack) -> str:
    created = _call(stack, "post", "/v1/scans", {"domain": "ok.example"}, **{"Idempotency-Key": "first-scan"})
    assert created.status_code == 202, created.body
    token = str(json.loads(created.body)["scan_token"])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        scan = json.loads(stack.client.http.get(f"/v1/scans/{token}", headers={"X-API-Key": stack.key}).body)
        if scan["status"] in ("complete", "failed"):
            assert scan["status"] == "complete", scan
            return token
        time.sleep(0.05)
    raise AssertionError(f"scan {token} did not complete")


def _deliver(stack: Stack, receiver: Receiver, events: int) -> None:
    """Run the webhook queue through `app.deliver_webhooks`, as the event source mapping does."""
    context = dispatcher.LambdaContext("deliver_webhooks")
    deadline = time.monotonic() + 20
    while len(receiver.bodies) < events and time.monotonic() < deadline:
        poll_once(stack.services.webhook_queue, lambda event: deliver_webhooks(event, context), wait_seconds=0)
    assert len(receiver.bodies) >= events, receiver.bodies


def test_a_full_scan_with_webhooks_logs_no_secret_and_keys_every_line(stack: Stack, receiver: Receiver) -> None:
    hook = _call(stack, "post", "/v1/webhooks", {"url": f"http://127.0.0.1:{receiver.port}/hook", "events": ["*"]})
    assert hook.status_code == 201, hook.body
    webhook = json.loads(hook.body)
    rotated = json.loads(_call(stack, "post", f"/v1/webhooks/{webhook['webhook_id']}/rotate-secret", {}).body)
    wrong_key = "pmk_" + "w" * 43
    assert _call(stack, "get", "/v1/scans", Authorization=f"Bearer {wrong_key}").status_code == 401

    token = _scan_to_completion(stack)
    report = _call(stack, "get", f"/v1/scans/{token}/report")
    assert report.status_code == 302, report.body
    link = urlsplit(report.headers["Location"])
    if link.path.startswith("/v1/downloads/"):  # the embedded stack's files: the token is the capability
        capability = link.path.rsplit("/", 1)[1]
        assert stack.services.objects.verify_link(capability, time.time())  # type: ignore[attr-defined]
        assert stack.client.http.get(link.path[:-4] + "AAAA").status_code == 403  # a tampered link is refused
    else:  # S3: a presigned URL
        capability = parse_qs(link.query)["X-Amz-Signature"][0]
    _deliver(stack, receiver, events=2)
    assert {b["event"] for b in receiver.bodies} >= {"scan.started", "scan.completed"}

    logs = stack.logs
    secrets = {"API key": stack.key, "key pepper": PEPPER, "webhook secret": webhook["secret"],
               "rotated webhook secret": rotated["secret"], "refused key": wrong_key,
               "report link capability": capability}
    text = logs.text()
    for name, secret in secrets.items():
        assert secret not in text, f"the {name} was logged"
    for marker in ("whsec_", "Bearer ", "X-Amz-Signature=", "X-Amz-Credential="):
        assert marker not in text, f"{marker!r} was logged"
    assert re.search(r"pmk_[A-Za-z0-9_-]{20}", text) is None, "an API key was logged"

    lines = logs.lines()  # every line is one JSON document
    assert any(r.levelname == "DEBUG" for r in logs.records), "DEBUG lines are captured too"
    api = [line for line in lines if line.get("tenant_id") == "t1" and line.get("request_id")]
    assert any(line["message"].startswith("scan created") and line["scan_id"] == token for line in api)
    steps = [line for line in lines if str(line.get("function_name")).startswith("perimeter-")]  # pipeline Lambdas
    assert {line["message"].split(": ", 1)[-1] for line in steps} >= {
        "pending -> scanning", "scanning -> scoring", "scoring -> complete"}
    assert all((line["scan_id"], line["execution_name"], line["tenant_id"]) == (token, token, "t1")
                         and line["request_id"] for line in steps)
    scanner = [line for line in lines if line["logger"] == "perimeter.scanner"]
    assert {line.get("signal_group") for line in scanner} == {"network", "intel"}
    assert all(line["scan_id"] == token and line["execution_name"] == token for line in scanner)
    deliveries = [line for line in lines if line["message"].startswith("webhook attempt delivered")]
    assert deliveries and all(line["tenant_id"] == "t1" and line["delivery_id"] and line["request_id"]
                              for line in deliveries)
    assert any(line.get("scan_id") == token and line["event"] == "scan.completed" for line in deliveries)
