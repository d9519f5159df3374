"""What deploys is what runs: `terraform apply` of infra/terraform against the embedded stack's AWS
endpoint (`python -m chalicelib.local.endpoint`: moto with the Lambda dispatcher, the Fargate runner
and an SQS event source poller, nothing provisioned), then a posture scan through what it created.

The API function is invoked the way API Gateway invokes it (a REST proxy event through the Lambda
Invoke API); the tenant comes from the admin CLI run with the environment read back from the created
function; the scan runs through the created state machine, table, bucket, task definition and queue.
Fake credentials and loopback only: it never contacts AWS.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.infra.terraform_config import ROOT, TERRAFORM_DIR
from tests.infra.test_terraform import ASL_FILE, FAKE_SECRETS, PLUGIN_DIR, _env, _run, _terraform, app_only_package
from tests.support.endpoint import clean_environ, running_endpoint
from tests.support.lab import DNSBL_ZONES, Lab, standard_lab

pytestmark = pytest.mark.slow
# The apply takes about 2 minutes (S3 lifecycle and SQS waiters); a moto gap shows as a provider waiter
# retrying for 20 minutes, so the apply is killed well before that and the test fails saying so.
APPLY_TIMEOUT = 240
SERVICES = ("apigateway", "cloudwatch", "dynamodb", "ec2", "ecr", "ecs", "events", "iam", "kms", "lambda",
            "logs", "s3", "sfn", "sns", "sqs", "ssm", "sts")
PORTS = "1-1000,2375,5900,6379"
SCAN_TIMEOUT = 60  # measured: 2-3 s
WEBHOOK_TIMEOUT = 30


class Receiver:
    """A webhook receiver on loopback that records every request it gets (headers and raw body)."""

    def __init__(self) -> None:
        requests_seen: list[tuple[dict[str, str], bytes]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                requests_seen.append((dict(self.headers), self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.requests = requests_seen
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}/hook"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def event(self, name: str, token: str) -> tuple[dict[str, str], bytes] | None:
        """The first request carrying event `name` for scan `token`, if any."""
        for headers, body in self.requests:
            event = json.loads(body)
            if event.get("event") == name and event.get("scan_token") == token:
                return headers, body
        return None

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture(scope="module")
def terraform() -> str:
    """terraform and the offline provider mirror, or a skip saying which is missing."""
    path = _terraform()
    if not (PLUGIN_DIR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"no offline provider mirror at {PLUGIN_DIR}: terraform init would need the registry")
    return path


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from standard_lab(Path(tmp_path_factory.mktemp("apply-lab")), "the apply test's lab")


@pytest.fixture(scope="module")
def endpoint(terraform: str, lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`python -m chalicelib.local.endpoint` with the lab's CA (what the scanner image's CA bundle gives)."""
    env = {**clean_environ(), "SSL_CERT_FILE": str(lab.ca.ca_file), "REQUESTS_CA_BUNDLE": str(lab.ca.ca_file),
           "PERIMETER_LOG_LEVEL": "WARNING"}
    with running_endpoint(env, tmp_path_factory.mktemp("endpoint") / "endpoint.log") as running:
        yield running.url


def _override(endpoint: str) -> str:
    endpoints = "\n".join(f'    {name} = "{endpoint}"' for name in SERVICES)
    return f"""
provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  skip_region_validation      = true
  s3_use_path_style           = true
  max_retries                 = 2
  endpoints {{
{endpoints}
  }}
}}
"""


def _apply(terraform: str, workdir: Path, env: dict[str, str], log: Path) -> float:
    """terraform apply, killed with its providers after APPLY_TIMEOUT s; returns the seconds it took."""
    started = time.monotonic()
    with log.open("wb") as out:
        process = subprocess.Popen([terraform, "apply", "-auto-approve", "-no-color", "-input=false", "-lock=false",
                                    "-parallelism=20"], cwd=workdir, env=env, stdin=subprocess.DEVNULL,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        code = process.wait(timeout=APPLY_TIMEOUT)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # terraform and its provider plugin
        process.wait()
        pytest.fail(f"terraform apply did not finish in {APPLY_TIMEOUT} s (a provider waiter on a moto gap?):\n"
                    f"{log.read_text(errors='replace')[-4000:]}")
    assert code == 0, log.read_text(errors="replace")[-6000:]
    return time.monotonic() - started


@pytest.fixture(scope="module")
def applied(terraform: str, endpoint: str, lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """infra/terraform applied to the endpoint (a copy of the module; nothing left in the repository)."""
    base = tmp_path_factory.mktemp("apply")
    workdir = base / "repo" / "infra" / "terraform"
    shutil.copytree(TERRAFORM_DIR, workdir, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    (base / "repo" / "chalicelib" / "pipeline").mkdir(parents=True)
    shutil.copy2(ASL_FILE, base / "repo" / "chalicelib" / "pipeline" / ASL_FILE.name)
    env = {**_env(base), **FAKE_SECRETS, "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
           "AWS_EC2_METADATA_DISABLED": "true"}
    dist = app_only_package(base / "dist")
    (workdir / "endpoints_override.tf").write_text(_override(endpoint))
    (workdir / "test.auto.tfvars.json").write_text(json.dumps({
        "lambda_zip": str(dist / "lambda.zip"), "api_routes_file": str(dist / "api-routes.json"),
        "dns_servers": [lab.dns.address], "dns_timeout": 2, "allow_private_targets": ["127.0.0.0/8"],
        "scan_ports": PORTS, "dnsbl_zones": list(DNSBL_ZONES),  # breach_api_url: https only, none in the lab
        "rate_limit_per_minute": 100000, "deletion_protection": False,
    }))
    init = _run([terraform, "init", "-backend=false", f"-plugin-dir={PLUGIN_DIR}", "-no-color"], workdir, env)
    assert init.returncode == 0, init.stdout + init.stderr
    seconds = _apply(terraform, workdir, env, base / "apply.log")
    print(f"terraform apply: {seconds:.1f} s (log: {base / 'apply.log'})")
    shown = _run([terraform, "show", "-json"], workdir, env)
    assert shown.returncode == 0, shown.stderr
    state = json.loads(shown.stdout)
    assert not list(TERRAFORM_DIR.glob(".terraform*")), "terraform left working files in infra/terraform"
    return {"endpoint": endpoint, "state": state}


def _client(service: str, endpoint: str) -> Any:
    import boto3

    return boto3.client(service, region_name="us-east-1", endpoint_url=endpoint, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def _gateway_event(method: str, path: str, resource: str, key: str, body: dict[str, Any] | None = None,
                   params: dict[str, str] | None = None) -> dict[str, Any]:
    """What API Gateway (REST, Lambda proxy integration, stage `api`) sends the function."""
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json", "Host": "api.example.test"}
    return {
        "resource": resource, "path": path, "httpMethod": method, "headers": headers,
        "multiValueHeaders": {k: [v] for k, v in headers.items()}, "queryStringParameters": None,
        "multiValueQueryStringParameters": None, "pathParameters": params, "stageVariables": None,
        "requestContext": {"resourcePath": resource, "httpMethod": method, "path": f"/api{path}", "stage": "api",
                           "requestId": f"req-{time.monotonic_ns()}", "identity": {"sourceIp": "127.0.0.1"}},
        "body": json.dumps(body) if body is not None else None, "isBase64Encoded": False,
    }


def _wait_for(what: str, check: Callable[[], Any], timeout: float) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.5)


def test_a_posture_scan_runs_through_what_terraform_created(applied: dict[str, Any], lab: Lab) -> None:
    endpoint = applied["endpoint"]
    resources = {r["address"]: r["values"] for r in applied["state"]["values"]["root_module"]["resources"]}
    assert "aws_lambda_event_source_mapping.webhooks" in resources and 'aws_lambda_function.fn["api"]' in resources
    lambdas = _client("lambda", endpoint)
    environment = lambdas.get_function_configuration(FunctionName="perimeter-api")["Environment"]["Variables"]
    assert environment["PERIMETER_TABLE"] and environment["PERIMETER_STATE_MACHINE_ARN"].startswith("arn:aws:states:")

    # The admin CLI with the created function's environment (as an operator would with AWS credentials).
    cli_env = {**clean_environ(), **environment, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
               "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1", "AWS_DEFAULT_REGION": "us-east-1"}
    created = subprocess.run([sys.executable, "-m", "chalicelib.admin", "create-tenant", "broker", "--name",
                              "Broker Ltd"], cwd=ROOT, env=cli_env, capture_output=True, text=True, timeout=60,
                             check=False)
    assert created.returncode == 0, created.stderr
    key = str(json.loads(created.stdout)["api_key"])

    def call(method: str, path: str, resource: str, body: dict[str, Any] | None = None,
             params: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
        answer = lambdas.invoke(FunctionName="perimeter-api",
                                Payload=json.dumps(_gateway_event(method, path, resource, key, body, params)))
        payload = json.loads(answer["Payload"].read())
        assert "FunctionError" not in answer, payload
        text = payload.get("body") or ""
        return payload["statusCode"], payload.get("headers") or {}, json.loads(text) if text.startswith("{") else text

    receiver = Receiver()
    try:
        status, _, hook = call("POST", "/v1/webhooks", "/v1/webhooks",
                               {"url": receiver.url, "events": ["scan.completed", "scan.failed"]})
        assert status == 201, hook
        started = time.monotonic()
        status, _, scan = call("POST", "/v1/scans", "/v1/scans", {"domain": "good.test", "scan_type": "posture"})
        assert status == 202, scan
        token = scan["scan_token"]

        def finished() -> Any:
            code, _, body = call("GET", f"/v1/scans/{token}", "/v1/scans/{token}", params={"token": token})
            assert code == 200, body
            return body if body["status"] in ("complete", "failed") else None

        done = _wait_for("the posture scan", finished, timeout=SCAN_TIMEOUT)
        print(f"posture scan through the created state machine: {time.monotonic() - started:.1f} s")
        assert done["status"] == "complete", done
        assert done["grade"] == "A", done
        _assert_ran_on_what_terraform_created(endpoint, environment, resources)

        status, headers, _ = call("GET", f"/v1/scans/{token}/report", "/v1/scans/{token}/report",
                                  params={"token": token})
        bucket = environment["PERIMETER_BUCKET"]
        assert status == 302 and bucket in headers["Location"] and "/report.pdf" in headers["Location"], headers
        linked = requests.get(headers["Location"], timeout=10)  # the presigned link, through the bucket policy
        assert linked.status_code == 200 and linked.content.startswith(b"%PDF"), linked.text[:300]
        keys = [o["Key"] for o in _client("s3", endpoint).list_objects_v2(Bucket=bucket).get("Contents", [])]
        pdf = [k for k in keys if k.startswith("tenants/broker/") and k.endswith("/report.pdf")]
        assert len(pdf) == 1, keys
        body = _client("s3", endpoint).get_object(Bucket=bucket, Key=pdf[0])["Body"].read()
        assert body == linked.content

        headers, raw = _wait_for("scan.completed through the created queue",
                                 lambda: receiver.event("scan.completed", token), timeout=WEBHOOK_TIMEOUT)
        # Signed with the secret the created API function showed, as a plain receiver checks it.
        expected = "sha256=" + hmac.new(str(hook["secret"]).encode(), raw, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(expected, headers["X-Perimeter-Signature"]), headers
        assert json.loads(raw)["grade"] == "A"
    finally:
        receiver.stop()


def _assert_ran_on_what_terraform_created(endpoint: str, environment: dict[str, str],
                                          resources: dict[str, Any]) -> None:
    """The scan's execution is the created state machine's; its scanner tasks ran the created task definition."""
    sfn = _client("stepfunctions", endpoint)
    machine = environment["PERIMETER_STATE_MACHINE_ARN"]
    assert machine == resources["aws_sfn_state_machine.pipeline"]["arn"]
    executions = _wait_for("the execution to end", lambda: [
        e for e in sfn.list_executions(stateMachineArn=machine)["executions"] if e["status"] != "RUNNING"],
        timeout=30)
    assert [e["status"] for e in executions] == ["SUCCEEDED"], executions
    ecs = _client("ecs", endpoint)
    cluster = resources["aws_ecs_cluster.scanners"]["arn"]
    arns = ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"] if arns else []
    assert tasks, "no scanner task ran on the created cluster"
    assert {t["taskDefinitionArn"] for t in tasks} == {resources["aws_ecs_task_definition.scanner"]["arn"]}
    [strategy] = resources["aws_ecs_cluster_capacity_providers.scanners"]["default_capacity_provider_strategy"]
    assert {t.get("capacityProviderName") for t in tasks} == {strategy["capacity_provider"]}
