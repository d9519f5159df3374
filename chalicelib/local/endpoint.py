"""The embedded stack's AWS endpoint alone: moto with the stack's hooks, and nothing provisioned.

`python -m chalicelib.local.endpoint [--port N]` serves moto on 127.0.0.1, prints
`AWS endpoint: http://127.0.0.1:N` and runs until SIGINT/SIGTERM. Whatever is then created there (by
`terraform apply` of infra/terraform, say) runs as it would in AWS:

- Invoke of a Lambda function runs its `Handler` in a worker process whose environment is the
  function's own `Environment` over the platform's (region, credentials, AWS_ENDPOINT_URL: what the
  Lambda runtime provides), one small worker pool per function.
- ECS RunTask starts the scanner entrypoint (`chalicelib.local.runner`, subprocess mode unless
  PERIMETER_LOCAL_RUNNER says otherwise) with the task definition's and the overrides' environment
  over the platform's; a task that dies without answering fails its token at once, as the
  `scanner_task_stopped` rule does in AWS.
- An SQS event source mapping is polled (`chalicelib.local.poller.poll_once`) into its function with
  ReportBatchItemFailures, instead of moto's inline one-message invocation.

The platform's environment is this process's without its PERIMETER_* settings: a function or task
sees only the Perimeter settings it was created with, as in AWS. So nothing here reads or writes the
data directory (PERIMETER_DATA_DIR is dropped): the functions use the DynamoDB table and S3 bucket
that were created, through AWS_ENDPOINT_URL. EventBridge schedules (the sweepers) are not run.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from chalicelib.local.children import STACK_PID_VAR
from chalicelib.local.stack import FAKE_CREDENTIALS, free_port

log = logging.getLogger("perimeter.endpoint")
WORKERS_PER_FUNCTION = 2
# The PERIMETER_* variables the platform itself sets (the guard's view of its own sockets, the marker of
# this process tree); every other PERIMETER_* comes from the function or the task definition only.
PLATFORM_VARIABLES = ("PERIMETER_SELF_ENDPOINTS", STACK_PID_VAR)


def platform_environment(environ: Mapping[str, str]) -> dict[str, str]:
    """`environ` without the Perimeter settings the platform does not set itself."""
    return {k: v for k, v in environ.items() if not k.startswith("PERIMETER_") or k in PLATFORM_VARIABLES}


def _init_worker(environment: dict[str, str]) -> None:
    """A Lambda worker: die with the endpoint, then take the platform's and the function's environment."""
    from chalicelib.local.children import worker_initializer

    worker_initializer()
    platform = platform_environment(os.environ)
    os.environ.clear()
    os.environ.update({**platform, **environment})


class FunctionWorkers:
    """Runs Lambda handlers in worker processes, a pool per function carrying the function's environment."""

    def __init__(self, region: str) -> None:
        self.region = region
        self._pools: dict[str, tuple[dict[str, str], ProcessPoolExecutor]] = {}
        self._lock = threading.Lock()

    def environment(self, function_name: str) -> dict[str, str]:
        """The function's Environment.Variables in moto; raises when there is no such function."""
        from moto.awslambda.models import lambda_backends
        from moto.core.models import DEFAULT_ACCOUNT_ID

        function = lambda_backends[DEFAULT_ACCOUNT_ID][self.region].get_function(function_name)
        return {str(k): str(v) for k, v in (function.environment_vars or {}).items()}

    def _pool(self, function_name: str, environment: dict[str, str]) -> ProcessPoolExecutor:
        """The function's pool; a new one when its environment changed (the old one is let go)."""
        import multiprocessing

        with self._lock:
            current = self._pools.get(function_name)
            if current is not None and current[0] == environment:
                return current[1]
            pool = ProcessPoolExecutor(max_workers=WORKERS_PER_FUNCTION,
                                       mp_context=multiprocessing.get_context("forkserver"),
                                       initializer=_init_worker, initargs=(environment,))
            self._pools[function_name] = (environment, pool)
        if current is not None:
            current[1].shutdown(wait=False)
        return pool

    def invoke(self, handler: str, event: bytes, function_name: str) -> tuple[bytes, str | None]:
        """moto_fixes' invoker: (payload, None) or (error envelope, "Unhandled")."""
        from concurrent.futures.process import BrokenProcessPool

        from chalicelib.local import dispatcher

        pool: ProcessPoolExecutor | None = None
        try:
            pool = self._pool(function_name, self.environment(function_name))
            result: tuple[bytes, str | None] = pool.submit(dispatcher.invoke, handler, event, function_name).result()
            return result
        except BrokenProcessPool as exc:  # a worker died: the next invocation gets a new pool
            with self._lock:
                if pool is not None and self._pools.get(function_name, ({}, None))[1] is pool:
                    del self._pools[function_name]
            return _exit_error(f"worker process exited: {exc}")
        except Exception as exc:  # an unknown function, say: Lambda's own error envelope
            return _exit_error(f"{type(exc).__name__}: {exc}")

    def shutdown(self) -> None:
        """Stop every worker."""
        with self._lock:
            pools, self._pools = [p for _, p in self._pools.values()], {}
        for pool in pools:
            pool.shutdown(wait=False, cancel_futures=True)


def _exit_error(message: str) -> tuple[bytes, str]:
    return json.dumps({"errorType": "Runtime.ExitError", "errorMessage": message}).encode(), "Unhandled"


@dataclass
class Endpoint:
    """moto on a loopback port with the Lambda, ECS and event source mapping hooks; provisions nothing."""

    port: int = 0
    region: str = "us-east-1"
    started: list[Any] = field(default_factory=list)
    functions: FunctionWorkers | None = None
    runner: Any = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Endpoint:
        """Start moto and connect the hooks; returns self. Raises what the server start raises."""
        from moto.server import ThreadedMotoServer

        from chalicelib.local import moto_fixes
        from chalicelib.local.runner import LocalTaskRunner, start_fork_server
        from chalicelib.local.stack import _post_json

        self.port = self.port or free_port()
        mode = os.environ.get("PERIMETER_LOCAL_RUNNER", "subprocess")
        # Every process started from here on (fork server, Lambda workers, scanner tasks) inherits these.
        os.environ.update({**FAKE_CREDENTIALS, "AWS_DEFAULT_REGION": self.region, "AWS_REGION": self.region,
                           "MOTO_PORT": str(self.port), "AWS_ENDPOINT_URL": self.url,
                           "PERIMETER_SELF_ENDPOINTS": f"127.0.0.1:{self.port}", STACK_PID_VAR: str(os.getpid())})
        self.functions = FunctionWorkers(self.region)
        import boto3

        ecs = boto3.client("ecs", region_name=self.region, endpoint_url=self.url)
        self.runner = LocalTaskRunner(mode=mode, base_env=platform_environment(os.environ), ecs_client=ecs)
        moto_fixes.install(invoker=self.functions.invoke, on_run_task=self.runner.on_run_task,
                           on_stop_task=self.runner.on_stop_task, on_event_source_mapping=self._on_mapping)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        server.start()
        self.started.append(server)
        _post_json(f"{self.url}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
        start_fork_server()  # from the calling (main) thread: see runner.start_fork_server
        return self

    def _on_mapping(self, function_arn: str, queue_arn: str, batch_size: int) -> None:
        """Poll the queue into the function, as Lambda's SQS event source mapping does."""
        import boto3

        from chalicelib.aws.sqs import SqsQueue
        from chalicelib.local.poller import WebhookPoller

        sqs = boto3.client("sqs", region_name=self.region, endpoint_url=self.url)
        queue_name = queue_arn.rsplit(":", 1)[-1]
        function_name = function_arn.rsplit(":", 1)[-1]
        queue = SqsQueue("", client_factory=lambda: sqs)

        def handler(event: dict[str, Any]) -> dict[str, Any]:
            from moto.awslambda.models import lambda_backends
            from moto.core.models import DEFAULT_ACCOUNT_ID

            assert self.functions is not None
            function = lambda_backends[DEFAULT_ACCOUNT_ID][self.region].get_function(function_name)
            payload, error = self.functions.invoke(str(function.handler), json.dumps(event).encode(), function_name)
            if error:
                raise RuntimeError(f"{function_name} failed: {payload[:500]!r}")
            result: dict[str, Any] = json.loads(payload or b"{}") or {}
            return result

        def start() -> None:  # off moto's request thread: CreateEventSourceMapping answers without waiting
            queue.queue_url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
            self.started.append(WebhookPoller(queue, handler, batch_size=min(batch_size, 10),
                                              source_arn=queue_arn).start())
            log.info("polling %s into %s", queue_name, function_name)

        threading.Thread(target=start, name=f"esm-{function_name}", daemon=True).start()

    def stop(self) -> None:
        """Stop the pollers, the tasks, the workers and moto."""
        if self.runner is not None:
            self.runner.stop_all()
        for part in reversed(self.started):
            try:
                part.stop()
            except Exception:  # stopping anyway
                log.exception("error while stopping %s", part)
        self.started.clear()
        if self.functions is not None:
            self.functions.shutdown()


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM; prints the endpoint URL on one line once it answers."""
    parser = argparse.ArgumentParser(prog="python -m chalicelib.local.endpoint", description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (default: a free one)")
    parser.add_argument("--region", default=os.environ.get("AWS_REGION", "us-east-1"))
    args = parser.parse_args(argv)
    level = os.environ.get("PERIMETER_LOG_LEVEL", "WARNING")
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("werkzeug").setLevel(level)
    endpoint = Endpoint(port=args.port, region=args.region)
    try:
        endpoint.start()
    except Exception as exc:
        endpoint.stop()
        print(f"perimeter: could not start the AWS endpoint: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"AWS endpoint: {endpoint.url}", flush=True)
    done.wait()
    endpoint.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
