"""moto-backed fixtures: the real DynamoDB adapter and the provisioned resources."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.adapters.dynamodb import DynamoDBStore
from chalicelib.local.provision import Resources, provision


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    """moto in-process with Step Functions execution on; yields clients by service name."""
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        yield {name: boto3.client(name, region_name="us-east-1")
               for name in ("dynamodb", "s3", "sqs", "stepfunctions")}


@pytest.fixture
def resources(aws: dict[str, Any]) -> Resources:
    """Everything the embedded stack provisions, under moto."""
    return provision(aws)


@pytest.fixture
def dynamo_store(aws: dict[str, Any], resources: Resources) -> DynamoDBStore:
    """The DynamoDB adapter over the provisioned table."""
    return DynamoDBStore(resources.table, aws["dynamodb"])
