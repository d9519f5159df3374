"""`python -m chalicelib.local.endpoint`: moto with the embedded stack's hooks, provisioning nothing.

What terraform apply (tests/infra/test_apply.py) builds on: the endpoint starts empty, never touches
the data directory, runs a created function's Handler with that function's own environment (not
the endpoint's Perimeter settings), reports a handler exception as Lambda does, and stops cleanly.
"""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.support.endpoint import RunningEndpoint, clean_environ, running_endpoint

pytestmark = pytest.mark.slow
REGION = "us-east-1"


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningEndpoint, Path]]:
    """The endpoint started with Perimeter settings of its own, which no function may see."""
    base = tmp_path_factory.mktemp("endpoint")
    data_dir = base / "data"
    env = {**clean_environ(), "PERIMETER_DATA_DIR": str(data_dir), "PERIMETER_TABLE": "the-endpoint-s-own",
           "PERIMETER_LOG_LEVEL": "INFO"}
    with running_endpoint(env, base / "endpoint.log") as running:
        yield running, data_dir


def _client(service: str, running: RunningEndpoint) -> Any:
    return boto3.client(service, region_name=REGION, endpoint_url=running.url, aws_access_key_id="testing",
                        aws_secret_access_key="testing")


def test_it_provisions_nothing_and_leaves_the_data_directory_alone(endpoint: tuple[RunningEndpoint, Path]) -> None:
    running, data_dir = endpoint
    assert _client("dynamodb", running).list_tables()["TableNames"] == []
    assert _client("s3", running).list_buckets()["Buckets"] == []
    assert "QueueUrls" not in _client("sqs", running).list_queues()
    assert _client("stepfunctions", running).list_state_machines()["stateMachines"] == []
    assert _client("ecs", running).list_clusters()["clusterArns"] == []
    assert _client("lambda", running).list_functions()["Functions"] == []
    assert not data_dir.exists()


def _create_function(running: RunningEndpoint, name: str, handler: str, variables: dict[str, str]) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:  # the code itself comes from the checkout (the dispatcher)
        archive.writestr("placeholder.py", "")
    iam = _client("iam", running)
    role = iam.create_role(RoleName=f"{name}-role", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                "Principal": {"Service": "lambda.amazonaws.com"}}]}))["Role"]["Arn"]
    _client("lambda", running).create_function(
        FunctionName=name, Runtime="python3.11", Role=role, Handler=handler, Code={"ZipFile": buffer.getvalue()},
        Environment={"Variables": variables})


def _invoke(running: RunningEndpoint, name: str, event: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
    answer = _client("lambda", running).invoke(FunctionName=name, Payload=json.dumps(event))
    return json.loads(answer["Payload"].read()), answer.get("FunctionError")


NAMES = ["PERIMETER_TABLE", "PERIMETER_DATA_DIR", "PERIMETER_LOG_LEVEL", "AWS_ENDPOINT_URL", "AWS_REGION"]


def test_a_function_runs_with_its_own_environment(endpoint: tuple[RunningEndpoint, Path]) -> None:
    running, data_dir = endpoint
    handler = "tests.support.endpoint.echo_environment"
    _create_function(running, "fn-a", handler, {"PERIMETER_TABLE": "table-a"})
    _create_function(running, "fn-b", handler, {"PERIMETER_TABLE": "table-b"})

    a, error = _invoke(running, "fn-a", {"names": NAMES})
    assert error is None, a
    assert a == {"function": "fn-a", "environment": {
        "PERIMETER_TABLE": "table-a", "PERIMETER_DATA_DIR": None, "PERIMETER_LOG_LEVEL": None,
        "AWS_ENDPOINT_URL": running.url, "AWS_REGION": REGION}}
    b, _ = _invoke(running, "fn-b", {"names": NAMES})
    assert b["environment"]["PERIMETER_TABLE"] == "table-b"

    _client("lambda", running).update_function_configuration(
        FunctionName="fn-a", Environment={"Variables": {"PERIMETER_TABLE": "table-a2"}})
    again, _ = _invoke(running, "fn-a", {"names": NAMES})
    assert again["environment"]["PERIMETER_TABLE"] == "table-a2"
    assert not data_dir.exists()


def test_a_handler_exception_is_a_lambda_error_envelope(endpoint: tuple[RunningEndpoint, Path]) -> None:
    running, _ = endpoint
    _create_function(running, "fn-fail", "tests.support.endpoint.fail", {})
    payload, error = _invoke(running, "fn-fail", {"why": "test"})
    assert error == "Unhandled"
    assert payload["errorType"] == "HandlerFailed" and "asked to fail: test" in payload["errorMessage"]
