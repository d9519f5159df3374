"""The embedded stack: a moto server as every AWS endpoint, provisioned resources, and the Chalice app.

`python -m chalicelib.local` (what `make run` calls) starts it on 127.0.0.1 (the API on
`PERIMETER_HOST`, 127.0.0.1 unless set) and stops on Ctrl-C.
Its table, objects and pepper live in the data directory (`chalicelib.local.datadir`), so a restart
loses nothing; moto stays the endpoint for Step Functions, Lambda, ECS and SQS (in memory), and
restart recovery (`chalicelib.local.recovery`) gives every scan the previous run left in flight an end.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shlex
import socket
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.local import datadir
from chalicelib.local.children import STACK_PID_VAR
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
    api_host: str = "127.0.0.1"  # PERIMETER_HOST: an IPv4 address; 0.0.0.0 serves every interface
    moto_port: int = 0
    started: list[Any] = field(default_factory=list)
    resources: Resources | None = None
    api_key: str = ""
    runner: Any = None
    lambdas: Any = None
    data_dir: Path | None = None
    recovery: Any = None
    _lock: datadir.StackLock | None = None

    @property
    def api_url(self) -> str:
        """Where this machine reaches the API (127.0.0.1 when it serves every interface)."""
        host = "127.0.0.1" if self.api_host == "0.0.0.0" else self.api_host  # noqa: S104 - a comparison
        return f"http://{host}:{self.api_port}"

    def start(self) -> None:
        """Take the data directory, start moto, provision, serve the API, recover; raises on failure.

        Raises datadir.DataDirError when the data directory is unusable or another stack holds it.
        """
        from moto.server import ThreadedMotoServer

        self.data_dir = datadir.prepare(self.data_dir or datadir.default_data_dir())
        self._lock = datadir.StackLock(self.data_dir).acquire()
        # Every process the stack starts (fork server, Lambda workers, scanner tasks) inherits these.
        os.environ[datadir.ENV_VAR] = str(self.data_dir)
        os.environ[STACK_PID_VAR] = str(os.getpid())
        os.environ.setdefault("PERIMETER_KEY_PEPPER", datadir.load_or_create_pepper(self.data_dir))
        self.moto_port = self.moto_port or int(os.environ.get("MOTO_PORT", "0") or 0) or free_port()
        # The stack's own sockets, refused at every guard whatever the exemptions (workers and tasks inherit it).
        os.environ["PERIMETER_SELF_ENDPOINTS"] = f"{self.api_host}:{self.api_port},127.0.0.1:{self.moto_port}"
        endpoint = f"http://127.0.0.1:{self.moto_port}"
        os.environ.update(FAKE_CREDENTIALS)
        os.environ["MOTO_PORT"] = str(self.moto_port)  # moto's Step Functions interpreter calls back here
        os.environ["AWS_ENDPOINT_URL"] = endpoint
        os.environ.setdefault("PERIMETER_PUBLIC_BASE_URL", self.api_url)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.moto_port, verbose=False)
        server.start()
        self.started.append(server)
        _post_json(f"{endpoint}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})

        from chalicelib.aws.clients import make_client
        from chalicelib.core.settings import Settings

        bootstrap = Settings.from_env()
        clients = {name: make_client(name, bootstrap) for name in PROVISIONED_SERVICES}
        # PERIMETER_LOCAL_PIPELINE=off: scans are accepted and stay pending (to measure the API alone).
        pipeline = os.environ.get("PERIMETER_LOCAL_PIPELINE", "on") != "off"
        self.resources = provision(clients, region=bootstrap.aws_region, pipeline=pipeline,
                                   storage=uses_aws_storage(bootstrap))
        os.environ.update(self.resources.env())
        self._start_pipeline(clients["ecs"])
        from chalicelib.local.runner import start_fork_server

        start_fork_server()  # from this (the main) thread, once the environment is complete
        self.api_key = self._bootstrap_key()
        self._serve_api()
        from chalicelib.bootstrap import get_services
        from chalicelib.local.poller import start_webhook_poller

        self.started.append(start_webhook_poller(get_services()))  # the event source mapping of deliver_webhooks
        datadir.write_stack_info(self.data_dir, datadir.StackInfo(
            pid=os.getpid(), api_url=self.api_url, aws_endpoint=endpoint,
            queue_url=self.resources.queue_url, dlq_url=self.resources.dlq_url))
        self.recovery = self._recover()

    def _recover(self) -> Any:
        """Restart recovery (scans left in flight, undelivered events); None when the table cannot list."""
        from chalicelib.bootstrap import get_services
        from chalicelib.local.recovery import recover, sweep_outbox

        services = get_services()
        if not hasattr(services.store, "items"):
            log.warning("the table is not durable: no restart recovery of scans")
            sweep_outbox(services)
            return None
        return recover(services, services.store)  # type: ignore[arg-type]  # SqliteStore.items

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
        """The `local` tenant's key to print: PERIMETER_BOOTSTRAP_API_KEY, else the one kept in the data dir."""
        from chalicelib.bootstrap import get_services, set_services
        from chalicelib.core.errors import AlreadyExists, Unauthorized

        set_services(None)
        services = get_services()
        with contextlib.suppress(AlreadyExists):
            services.auth.create_tenant(LOCAL_TENANT, "Local development")
        given = services.settings.bootstrap_api_key
        if given is not None and len(given.get_secret_value()) < 20:
            raise SystemExit("PERIMETER_BOOTSTRAP_API_KEY must be at least 20 characters.")
        if given is None and self.data_dir is not None:
            kept = datadir.read_private(self.data_dir, datadir.BOOTSTRAP_KEY_FILE)
            if kept is not None:
                with contextlib.suppress(Unauthorized):  # revoked meanwhile: issue another
                    if services.auth.authenticate(None, kept).tenant.tenant_id == LOCAL_TENANT:
                        return kept
        try:
            _, key = services.auth.issue_key(LOCAL_TENANT, name="bootstrap",
                                             key=given.get_secret_value() if given else None)
        except AlreadyExists:
            key = given.get_secret_value() if given else ""
        if given is None and self.data_dir is not None:
            datadir.write_private(self.data_dir, datadir.BOOTSTRAP_KEY_FILE, key + "\n")
        return key

    def _serve_api(self) -> None:
        from chalicelib.local.apiserver import serve_api

        server = serve_api(self.api_host, self.api_port)
        thread = threading.Thread(target=server.serve_forever, name="perimeter-api", daemon=True)
        thread.start()
        self.started.append(server)
        _wait_for(f"{self.api_url}/v1/health")

    def stop(self) -> None:
        """Stop the scanner tasks, the API and moto servers, then free the data directory.

        Scans still in flight are left as they are: the next start's recovery ends them.
        """
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
        if self._lock is not None and self.data_dir is not None:
            datadir.remove_stack_info(self.data_dir)
            self._lock.release()
            self._lock = None


def uses_aws_storage(settings: Any) -> bool:
    """True when the services would keep the table or the objects in moto (no data directory wiring)."""
    from chalicelib.aws.dynamodb import DynamoDBStore
    from chalicelib.aws.s3 import S3ObjectStore
    from chalicelib.bootstrap import Services

    probe = Services(settings)
    return isinstance(probe.store, DynamoDBStore) or isinstance(probe.objects, S3ObjectStore)


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
