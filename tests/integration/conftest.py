"""moto-backed fixtures: the real DynamoDB adapter and the provisioned resources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.aws.dynamodb import DynamoDBStore
from chalicelib.local.provision import PROVISIONED_SERVICES, Resources, provision


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """moto in-process with Step Functions execution on; yields clients by service name."""
    # Lambda never reaches for Docker here: without the dispatcher (tests/integration/pipeline) it echoes.
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        yield {name: boto3.client(name, region_name="us-east-1") for name in PROVISIONED_SERVICES}


@pytest.fixture
def resources(aws: dict[str, Any]) -> Resources:
    """Everything the embedded stack provisions, under moto."""
    return provision(aws)


@pytest.fixture
def dynamo_store(aws: dict[str, Any], resources: Resources) -> DynamoDBStore:
    """The DynamoDB adapter over the provisioned table."""
    return DynamoDBStore(resources.table, aws["dynamodb"])
