"""The embedded stack survives restarts: SIGTERM, then SIGKILL, with scans in flight and deliveries pending.

One data directory, three stacks in turn. Before the first restart: a tenant made with the admin CLI
(no environment but the XDG default that points at the data directory), a template, branding, a
webhook endpoint whose receiver is down, a complete scan with its report, and a scan that hangs on a
loopback tarpit. After SIGTERM and a restart (the receiver now up): everything reads back, the
hanging scan failed `interrupted`, and both the undelivered `scan.completed` and the new `scan.failed`
reach the receiver. Then SIGKILL with another hanging scan: no process of the killed stack remains,
and the next stack fails that scan `interrupted` too.
"""

from __future__ import annotations

import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.local.stack import free_port
from tests.e2e.conftest import E2E_PORTS
from tests.support.lab import Lab
from tests.support.stack import ROOT, RunningStack, stack_processes, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]
# A web target whose port 80 trickles a status line that never ends: the scan hangs. A random address, so
# parallel runs on one machine do not collide on its ports 80/443.
TARPIT = f"127.77.{random.randint(1, 254)}.{random.randint(1, 254)}"


class Receiver:
    """A webhook receiver on loopback that records every event it gets; down until `start()`."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.events: list[dict[str, Any]] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> None:
        events = self.events

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                events.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def got(self, event: str, token: str) -> bool:
        return any(e.get("event") == event and e.get("scan_token") == token for e in self.events)


class Tarpit:
    """Accepts on TARPIT:80 and :443 and sends one byte every few seconds, forever."""

    def __init__(self) -> None:
        self._stopping = threading.Event()
        self._sockets: list[socket.socket] = []

    def start(self) -> None:
        for port in (80, 443):
            listener = socket.create_server((TARPIT, port))
            self._sockets.append(listener)
            threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while not self._stopping.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            while not self._stopping.wait(2):
                try:
                    conn.sendall(b"H")
                except OSError:
                    return

    def stop(self) -> None:
        self._stopping.set()
        for listener in self._sockets:
            listener.close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    yield made
    made.stop()


@pytest.fixture
def tarpit() -> Iterator[Tarpit]:
    made = Tarpit()
    made.start()
    yield made
    made.stop()


def headers(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def admin_run(xdg: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`python -m chalicelib.admin ...` with a clean environment: only the XDG default locates the data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PERIMETER_", "MOTO_"))}
    env["XDG_DATA_HOME"] = str(xdg)
    return subprocess.run([sys.executable, "-m", "chalicelib.admin", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)


def admin(xdg: Path, *args: str) -> dict[str, Any]:
    """The admin CLI's JSON answer; asserts it succeeded."""
    done = admin_run(xdg, *args)
    assert done.returncode == 0, done.stderr
    return dict(json.loads(done.stdout))


def wait_for(what: str, condition: Any, stack: RunningStack, timeout: float = 60.0, context: Any = None) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.2)
    extra = f"\n{context()}" if context is not None else ""
    raise AssertionError(f"timed out waiting for {what}{extra}\n" + "\n".join(stack.output[-40:]))


def deliveries(stack: RunningStack, key: str, webhook: str) -> str:
    """The endpoint's deliveries log, for failure messages."""
    answer = requests.get(f"{stack.base_url}/v1/webhooks/{webhook}/deliveries", headers=headers(key), timeout=10)
    return json.dumps(answer.json(), indent=1)[:4000]


def scan_status(stack: RunningStack, key: str, token: str) -> dict[str, Any]:
    answer = requests.get(f"{stack.base_url}/v1/scans/{token}", headers=headers(key), timeout=10)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def start_hanging_scan(stack: RunningStack, key: str) -> str:
    """A web scan of the tarpit; its token once its scanner process runs."""
    created = requests.post(f"{stack.base_url}/v1/scans", headers=headers(key),
                            json={"target": TARPIT, "scan_type": "web"}, timeout=10)
    assert created.status_code == 202, created.text
    token = str(created.json()["scan_token"])
    wait_for("the hanging scan's scanner", lambda: scan_status(stack, key, token)["status"] == "scanning"
             and scanner_processes(token), stack)
    return token


def scanner_processes(scan_id: str) -> list[int]:
    """Live forked scanner processes of a scan (they name themselves `scn<last 12 of the id>`)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == f"scn{scan_id[-12:]}":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def check_nothing_lost(stack: RunningStack, key: str, saved: dict[str, Any]) -> None:
    """The tenant's key, complete scan and report, template, branding and webhook endpoint read back."""
    done = scan_status(stack, key, saved["complete"])
    assert done["status"] == "complete" and done["grade"] == saved["grade"]
    report = requests.get(f"{stack.base_url}/v1/scans/{saved['complete']}/report", headers=headers(key), timeout=30)
    assert report.status_code == 200 and report.content.startswith(b"%PDF"), report.text[:300]
    template = requests.get(f"{stack.base_url}/v1/scan-templates/{saved['template']}", headers=headers(key),
                            timeout=10)
    assert template.status_code == 200 and template.json()["name"] == "weekly mail"
    branding = requests.get(f"{stack.base_url}/v1/branding", headers=headers(key), timeout=10)
    assert branding.status_code == 200 and branding.json()["display_name"] == "Broker Ltd"
    hook = requests.get(f"{stack.base_url}/v1/webhooks/{saved['webhook']}", headers=headers(key), timeout=10)
    assert hook.status_code == 200 and hook.json()["url"] == saved["webhook_url"]


def test_restart_with_sigterm_then_sigkill_loses_nothing(lab: Lab, tmp_path: Path, receiver: Receiver,
                                                          tarpit: Tarpit) -> None:
    xdg = tmp_path / "xdg"
    data = xdg / "perimeter"  # where the CLI finds it by default with XDG_DATA_HOME alone
    env = lab.stack_env(PERIMETER_SCAN_PORTS=E2E_PORTS, PERIMETER_RATE_LIMIT="100000")
    stack = start_stack(env, timeout=90, data_dir=data)
    stacks = [stack]
    try:
        assert (data / "pepper").stat().st_mode & 0o777 == 0o600 and data.stat().st_mode & 0o777 == 0o700
        # The CLI against the running stack, with no PERIMETER_* environment: a key the stack accepts.
        key = str(admin(xdg, "create-tenant", "broker", "--name", "Broker Ltd")["api_key"])
        assert requests.get(f"{stack.base_url}/v1/scans", headers=headers(key), timeout=10).status_code == 200
        saved: dict[str, Any] = {"webhook_url": receiver.url}
        template = requests.post(f"{stack.base_url}/v1/scan-templates", headers=headers(key),
                                 json={"name": "weekly mail", "scan_type": "mail"}, timeout=10)
        assert template.status_code == 201, template.text
        saved["template"] = template.json()["template_id"]
        branding = requests.put(f"{stack.base_url}/v1/branding", headers=headers(key),
                                json={"display_name": "Broker Ltd"}, timeout=10)
        assert branding.status_code == 200, branding.text
        hook = requests.post(f"{stack.base_url}/v1/webhooks", headers=headers(key), timeout=10,
                             json={"url": receiver.url, "events": ["scan.completed", "scan.failed"]})
        assert hook.status_code == 201, hook.text
        saved["webhook"] = hook.json()["webhook_id"]

        hanging = start_hanging_scan(stack, key)
        created = requests.post(f"{stack.base_url}/v1/scans", headers=headers(key),
                                json={"domain": "good.test", "scan_type": "mail"}, timeout=10)
        saved["complete"] = created.json()["scan_token"]
        finished = wait_for("the mail scan", lambda: (s := scan_status(stack, key, saved["complete"]))["status"]
                            in ("complete", "failed") and s, stack)
        assert finished["status"] == "complete", finished
        saved["grade"] = finished["grade"]
        # scan.completed: attempt 1 failed (receiver down), attempt 2 waits 5 s in the in-memory queue.
        stopped_pid = stack.process.pid
        # The receiver comes up once the old stack is gone, so only the new one can deliver (its recovery
        # re-sends at once; a receiver started after it would meet the next attempt minutes later).
        stack = stack.restart(signal.SIGTERM, timeout=90, between=receiver.start)
        stacks.append(stack)
        assert not stack_processes(stopped_pid) and not scanner_processes(hanging), "SIGTERM stops every child"

        check_nothing_lost(stack, key, saved)
        failed = scan_status(stack, key, hanging)
        assert failed["status"] == "failed" and failed["error"]["code"] == "interrupted", failed
        wait_for("the undelivered scan.completed and the new scan.failed",
                 lambda: receiver.got("scan.completed", saved["complete"]) and receiver.got("scan.failed", hanging),
                 stack, timeout=30, context=lambda: deliveries(stack, key, saved["webhook"]))
        assert [e["event"] for e in receiver.events if e.get("scan_token") == hanging] == ["scan.failed"]

        hanging_again = start_hanging_scan(stack, key)
        killed_pid = stack.kill()
        wait_for("every process of the killed stack to end", lambda: not stack_processes(killed_pid)
                 and not scanner_processes(hanging_again), stack, timeout=10)
        stack = start_stack(env, timeout=90, data_dir=data, port=stack.port)
        stacks.append(stack)

        check_nothing_lost(stack, key, saved)
        again = scan_status(stack, key, hanging_again)
        assert again["status"] == "failed" and again["error"]["code"] == "interrupted", again
        wait_for("scan.failed of the scan interrupted by SIGKILL", lambda: receiver.got("scan.failed", hanging_again),
                 stack, timeout=60, context=lambda: deliveries(stack, key, saved["webhook"]))
        completed = [e for e in receiver.events if e.get("event") == "scan.completed"]
        assert len({e["id"] for e in completed}) == 1, "the undelivered event is delivered once, not per restart"
    finally:
        for running in stacks:
            running.stop()


def test_the_printed_key_and_the_cli_work_across_a_restart_and_while_stopped(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    data = xdg / "perimeter"
    quiet = {"PERIMETER_BOOTSTRAP_API_KEY": "", "PERIMETER_LOCAL_PIPELINE": "off"}  # the key make run prints
    stack = start_stack(quiet, timeout=90, data_dir=data)
    stacks = [stack]
    try:
        first_key = stack.api_key
        assert (data / "bootstrap-key").stat().st_mode & 0o777 == 0o600
        assert admin(xdg, "redrive-webhooks")["moved"] == 0  # the running stack's queues, from stack.json
        stack = stack.restart(signal.SIGTERM, timeout=90)
        stacks.append(stack)
        assert stack.api_key == first_key, "make run prints the same key after a restart"
        listed = requests.get(f"{stack.base_url}/v1/scans", headers=headers(first_key), timeout=10)
        assert listed.status_code == 200
        stack.stop(sig=signal.SIGTERM)
        assert not (data / "stack.json").exists()
        stopped = admin_run(xdg, "redrive-webhooks")
        assert stopped.returncode == 1 and "stack-not-running" in stopped.stderr
        key = str(admin(xdg, "create-tenant", "offline", "--name", "Made while stopped")["api_key"])
        stack = start_stack(quiet, timeout=90, data_dir=data, port=stack.port)
        stacks.append(stack)
        assert stack.api_key == first_key
        assert requests.get(f"{stack.base_url}/v1/scans", headers=headers(key), timeout=10).status_code == 200
    finally:
        for running in stacks:
            running.stop()
