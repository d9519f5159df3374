"""The embedded stack: a moto server as every AWS endpoint, provisioned resources, and the Chalice app.

`python -m chalicelib.local` (what `make run` calls) starts it on 127.0.0.1 and stops on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
import shlex
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from chalicelib.local.provision import PROVISIONED_SERVICES, Resources, provision

log = logging.getLogger("perimeter.local")
LOCAL_TENANT = "local"
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
}


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class LocalStack:
    """Owns the moto server and the API server threads."""

    api_port: int = 8000
    moto_port: int = 0
    started: list[Any] = field(default_factory=list)
    resources: Resources | None = None
    api_key: str = ""
    runner: Any = None
    lambdas: Any = None

    def start(self) -> None:
        """Start moto, provision, register the bootstrap key and serve the API; raises on failure."""
        from moto.server import ThreadedMotoServer

        self.moto_port = self.moto_port or int(os.environ.get("MOTO_PORT", "0") or 0) or free_port()
        # The stack's own sockets, refused at every guard whatever the exemptions (workers and tasks inherit it).
        os.environ["PERIMETER_SELF_ENDPOINTS"] = f"127.0.0.1:{self.api_port},127.0.0.1:{self.moto_port}"
        endpoint = f"http://127.0.0.1:{self.moto_port}"
        os.environ.update(FAKE_CREDENTIALS)
        os.environ["MOTO_PORT"] = str(self.moto_port)  # moto's Step Functions interpreter calls back here
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        os.environ.setdefault("PERIMETER_KEY_PEPPER", secrets.token_urlsafe(32))
        os.environ.setdefault("PERIMETER_PUBLIC_BASE_URL", f"http://127.0.0.1:{self.api_port}")
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        server.start()
        self.started.append(server)
        _post_json(f"{endpoint}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})

        from chalicelib.adapters.aws import make_client
        from chalicelib.settings import Settings

        bootstrap = Settings.from_env()
        clients = {name: make_client(name, bootstrap) for name in PROVISIONED_SERVICES}
        # PERIMETER_LOCAL_PIPELINE=off: scans are accepted and stay pending (to measure the API alone).
        pipeline = os.environ.get("PERIMETER_LOCAL_PIPELINE", "on") != "off"
        self.resources = provision(clients, region=bootstrap.aws_region, pipeline=pipeline)
        os.environ.update(self.resources.env())
        self._start_pipeline(clients["ecs"])
        self.api_key = self._bootstrap_key()
        self._serve_api()
        from chalicelib.local.poller import start_webhook_poller
        from chalicelib.services import get_services

        self.started.append(start_webhook_poller(get_services()))  # the event source mapping of deliver_webhooks

    def _start_pipeline(self, ecs: Any) -> None:
        """Connect moto's Lambda and ECS to the in-process dispatcher and the local Fargate runner."""
        from chalicelib.local import dispatcher, moto_fixes
        from chalicelib.local.runner import LocalTaskRunner

        command = shlex.split(os.environ.get("PERIMETER_LOCAL_SCANNER_COMMAND", "")) or None
        mode = "subprocess" if command else os.environ.get("PERIMETER_LOCAL_RUNNER", "fork")
        self.runner = LocalTaskRunner(mode=mode, command=command, base_env=dict(os.environ), ecs_client=ecs)
        self.lambdas = dispatcher.LambdaWorkers()
        moto_fixes.install(invoker=self.lambdas.invoke, on_run_task=self.runner.on_run_task,
                           on_stop_task=self.runner.on_stop_task)

    def _bootstrap_key(self) -> str:
        from chalicelib.errors import AlreadyExists
        from chalicelib.services import get_services, set_services

        set_services(None)
        services = get_services()
        with contextlib.suppress(AlreadyExists):
            services.auth.create_tenant(LOCAL_TENANT, "Local development")
        given = services.settings.bootstrap_api_key
        if given is not None and len(given.get_secret_value()) < 20:
            raise SystemExit("PERIMETER_BOOTSTRAP_API_KEY must be at least 20 characters.")
        try:
            _, key = services.auth.issue_key(LOCAL_TENANT, name="bootstrap",
                                             key=given.get_secret_value() if given else None)
        except AlreadyExists:
            key = given.get_secret_value() if given else ""
        return key

    def _serve_api(self) -> None:
        from chalicelib.local.apiserver import serve_api

        server = serve_api("127.0.0.1", self.api_port)
        thread = threading.Thread(target=server.serve_forever, name="perimeter-api", daemon=True)
        thread.start()
        self.started.append(server)
        _wait_for(f"http://127.0.0.1:{self.api_port}/v1/health")

    def stop(self) -> None:
        """Stop the scanner tasks, the API and moto servers."""
        if self.runner is not None:
            self.runner.stop_all()
        if self.lambdas is not None:
            self.lambdas.shutdown()
        for part in reversed(self.started):
            try:
                part.shutdown() if hasattr(part, "shutdown") else part.stop()
            except Exception:  # shutting down anyway
                log.exception("error while stopping %s", part)
        self.started.clear()


def _post_json(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",  # noqa: S310 - loopback
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10):  # noqa: S310 - loopback moto server
        pass


def _wait_for(url: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):  # noqa: S310 - loopback API server
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
