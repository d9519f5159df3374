"""terraform fmt, validate and plan of infra/terraform, offline, leaving nothing in the repository.

The plan runs against a local moto server (only the data sources call AWS during a plan: account id,
availability zones, the NAT AMI parameter), with fake credentials: it never contacts real AWS.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from chalicelib.core import contract
from tests.infra.terraform_config import ROOT, TERRAFORM_DIR

PLUGIN_DIR = Path("/opt/tf-plugins")
ASL_FILE = ROOT / "chalicelib" / "pipeline" / "scan-pipeline.asl.json"
FAKE_SECRETS = {"TF_VAR_key_pepper": "test-pepper-0123456789",
                "TF_VAR_webhook_secret_key": "test-webhook-secret-key-0123456789abcdef"}


def _terraform() -> str:
    path = shutil.which("terraform")
    if path is None:
        pytest.skip("terraform is not installed (https://developer.hashicorp.com/terraform/install)")
    return path


def _env(workdir: Path) -> dict[str, str]:
    cli_config = workdir / "terraformrc"
    cli_config.write_text("disable_checkpoint = true\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "TF_VAR_"))}
    return {**env, "CHECKPOINT_DISABLE": "1", "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
            "TF_CLI_CONFIG_FILE": str(cli_config), "TF_DATA_DIR": str(workdir / "tf-data")}


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def test_terraform_files_are_formatted(tmp_path: Path) -> None:
    result = _run([_terraform(), "fmt", "-check", "-recursive", "-diff", "-no-color"], TERRAFORM_DIR, _env(tmp_path))
    assert result.returncode == 0, f"run `terraform fmt -recursive infra/terraform`:\n{result.stdout}{result.stderr}"


@pytest.fixture(scope="module")
def initialized(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, dict[str, str]]]:
    """A copy of the module with the ASL at the same relative path, initialised from the offline mirror."""
    terraform = _terraform()
    if not (PLUGIN_DIR / "registry.terraform.io" / "hashicorp" / "aws").is_dir():
        pytest.skip(f"no offline provider mirror at {PLUGIN_DIR}: terraform init would need the registry")
    base = tmp_path_factory.mktemp("terraform")
    workdir = base / "repo" / "infra" / "terraform"
    shutil.copytree(TERRAFORM_DIR, workdir, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*"))
    (base / "repo" / "chalicelib" / "pipeline").mkdir(parents=True)
    shutil.copy2(ASL_FILE, base / "repo" / "chalicelib" / "pipeline" / ASL_FILE.name)
    env = _env(base)
    init = _run([terraform, "init", "-backend=false", f"-plugin-dir={PLUGIN_DIR}", "-no-color"], workdir, env)
    assert init.returncode == 0, init.stdout + init.stderr
    yield terraform, workdir, env
    assert not list(TERRAFORM_DIR.glob(".terraform*")), "terraform left working files in infra/terraform"


def test_terraform_configuration_validates(initialized: tuple[str, Path, dict[str, str]]) -> None:
    terraform, workdir, env = initialized
    validate = _run([terraform, "validate", "-no-color"], workdir, env)
    # validate renders templatefile() too: an ASL ${placeholder} that Terraform does not pass fails here.
    assert validate.returncode == 0, validate.stdout + validate.stderr
    assert "Success" in validate.stdout


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def moto_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A moto server on a free loopback port (a subprocess of this test, stopped at the end)."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (requirements-dev.txt)")
    port = _free_port()
    log = (tmp_path_factory.mktemp("moto") / "moto.log").open("w")
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=log, stderr=subprocess.STDOUT)
    endpoint = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(f"{endpoint}/moto-api/", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("moto server did not start")
        yield endpoint
    finally:
        server.terminate()
        server.wait(timeout=10)
        log.close()


def app_only_package(dist: Path) -> Path:
    """`scripts/package.py --app-only` into `dist` (lambda.zip, api-routes.json); returns `dist`."""
    package = subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), "--app-only",
                              "--output", str(dist / "lambda.zip"), "--routes", str(dist / "api-routes.json")],
                             capture_output=True, text=True, timeout=300, check=False)
    assert package.returncode == 0, package.stderr
    return dist


def _plan(initialized: tuple[str, Path, dict[str, str]], endpoint: str, tmp_path: Path) -> dict[str, Any]:
    terraform, workdir, env = initialized
    dist = app_only_package(tmp_path / "dist")
    override = workdir / "endpoints_override.tf"
    override.write_text(f"""
provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_requesting_account_id  = true
  endpoints {{
    sts = "{endpoint}"
    ec2 = "{endpoint}"
    ssm = "{endpoint}"
    iam = "{endpoint}"
    kms = "{endpoint}"
  }}
}}
""")
    plan_env = {**env, **FAKE_SECRETS, "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing", "AWS_EC2_METADATA_DISABLED": "true"}
    try:
        plan = _run([terraform, "plan", "-no-color", "-input=false", "-lock=false", "-refresh=false",
                     f"-var=lambda_zip={dist / 'lambda.zip'}", f"-var=api_routes_file={dist / 'api-routes.json'}",
                     f"-out={tmp_path / 'plan.bin'}"], workdir, plan_env)
        assert plan.returncode == 0, plan.stdout[-3000:] + plan.stderr[-3000:]
        shown = _run([terraform, "show", "-json", str(tmp_path / "plan.bin")], workdir, plan_env)
        assert shown.returncode == 0, shown.stderr
    finally:
        override.unlink()
    return dict(json.loads(shown.stdout))


def test_terraform_plans_the_whole_deployment(initialized: tuple[str, Path, dict[str, str]], moto_endpoint: str,
                                              tmp_path: Path) -> None:
    plan = _plan(initialized, moto_endpoint, tmp_path)
    changes = {c["address"]: c["change"] for c in plan["resource_changes"]}
    assert all(c["actions"] in (["create"], ["read"]) for c in changes.values())
    for spec in contract.ALL_LAMBDAS:
        fn = changes[f'aws_lambda_function.fn["{spec.name}"]']["after"]
        assert (fn["handler"], fn["timeout"], fn["memory_size"], fn["runtime"]) == \
            (spec.handler, spec.timeout, spec.memory, "python3.11")
    import app

    body = json.loads(changes["aws_api_gateway_rest_api.api"]["after"]["body"])
    assert set(body["paths"]) == set(app.app.routes), "one API Gateway resource per Chalice route"
    integration = body["paths"]["/v1/health"]["x-amazon-apigateway-any-method"]["x-amazon-apigateway-integration"]
    assert integration["type"] == "aws_proxy" and integration["uri"].endswith(":function:perimeter-api/invocations")
    assert changes["aws_api_gateway_stage.api"]["after"]["stage_name"] == "api"
    _assert_gateway_responses_are_problems(body["x-amazon-apigateway-gateway-responses"])
    mapping = changes["aws_lambda_event_source_mapping.webhooks"]["after"]
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert changes["aws_instance.nat[0]"]["after"]["instance_type"] == "t4g.nano"
    assert "aws_nat_gateway.scanners[0]" not in changes
    _assert_dashboard_reads_the_code_metrics(json.loads(changes["aws_cloudwatch_dashboard.main"]["after"]
                                                        ["dashboard_body"]))


def _assert_dashboard_reads_the_code_metrics(body: dict[str, Any]) -> None:
    """Every Perimeter metric the dashboard shows (and every breakdown) is one chalicelib.core.observability emits."""
    from chalicelib.core.observability import METRICS, NAMESPACE

    shown: dict[str, set[str]] = {}
    for widget in body["widgets"]:
        for line in widget["properties"]["metrics"]:
            if line[0] == NAMESPACE:
                assert line[2:4] == ["service", "perimeter"], line
                shown.setdefault(line[1], set())
            for expression in (item["expression"] for item in line if isinstance(item, dict) and "expression" in item):
                match = re.fullmatch(r"SEARCH\('\{(\w+),service,(\w+)\} MetricName=\"(\w+)\" service=\"perimeter\"', "
                                     r"'Sum', 300\)", expression)
                assert match and match.group(1) == NAMESPACE, expression
                shown.setdefault(match.group(3), set()).add(match.group(2))
    assert shown.keys() == METRICS.keys(), "the dashboard shows every metric the code emits, and only those"
    assert all(dimensions <= set(METRICS[name]) for name, dimensions in shown.items()), shown


def _assert_gateway_responses_are_problems(responses: dict[str, Any]) -> None:
    """API Gateway's own refusals (unknown route, media type, size, throttling, any 4xx/5xx) are problem+json."""
    expected = {"MISSING_AUTHENTICATION_TOKEN": (404, "not-found"),
                "UNSUPPORTED_MEDIA_TYPE": (415, "unsupported-media-type"),
                "REQUEST_TOO_LARGE": (413, "payload-too-large"), "THROTTLED": (429, "rate-limited"),
                "DEFAULT_4XX": (None, "request-refused"), "DEFAULT_5XX": (503, "service-unavailable")}
    for name, (status, code) in expected.items():
        response = responses[name]
        assert response["responseParameters"]["gatewayresponse.header.Content-Type"] == "'application/problem+json'"
        problem = json.loads(response["responseTemplates"]["application/json"])
        assert problem["code"] == code and problem["type"] == f"urn:perimeter:problem:{code}"
        assert (response.get("statusCode"), problem.get("status")) == \
            ((str(status), status) if status is not None else (None, None)), name
    assert all("gatewayresponse.header.Retry-After" in r["responseParameters"]
               for r in responses.values() if r.get("statusCode") == "429")
