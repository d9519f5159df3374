"""What the local runner's fork server preloads, and the function each forked scanner task runs.

Starting a fresh interpreter per scanner task costs ~0.8 s of CPU (imports, botocore models) against
~0.2 s of actual checks, so the embedded stack forks tasks from a warm fork server instead. A forked
task is still its own process: it gets exactly the task's environment, its own session and process
group (StopTask kills it and its nmap), and runs the same `chalicelib.scanners.task.main` the
container entrypoint runs. The fork server dies with the stack and every task with the fork server
(`chalicelib.local.children`).
"""

from __future__ import annotations

import contextlib
import os
import sys

from chalicelib.local.children import die_with_stack, run_group

die_with_stack()  # imported first in the fork server: it dies with the stack (SIGKILL included)

import aws_lambda_powertools.logging.formatter  # noqa: E402,F401 - preloaded: every task and worker logs JSON
import boto3  # noqa: E402

import chalicelib.scanners.checks  # noqa: E402,F401 - preloaded: every check module
from chalicelib.aws import clients as aws  # noqa: E402
from chalicelib.core import observability  # noqa: E402
from chalicelib.scanners import task  # noqa: E402

# Warm botocore's loader in the fork server: children reuse the session and its parsed models.
aws._session = boto3.session.Session()
for _service in ("s3", "stepfunctions"):
    aws._session.client(_service, region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                        aws_access_key_id="warm", aws_secret_access_key="warm")  # noqa: S106 - never sent


def run(env: dict[str, str]) -> None:
    """The body of one forked scanner task: own session, the task's environment, the entrypoint's main.

    The task runs under `run_group`: its session dies whole (nmap included) with the fork server.
    """
    os.environ.clear()
    os.environ.update(env)
    # `ps` shows which scan a scanner process belongs to (Linux).
    with contextlib.suppress(OSError), open("/proc/self/comm", "w") as comm:
        comm.write(f"scn{env.get('SCAN_ID', '')[-12:]}")
    observability.configure_logging_from_env(env, log_level="INFO")
    sys.exit(run_group(lambda: task.main(env)))
