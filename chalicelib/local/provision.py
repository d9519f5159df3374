"""Creates the AWS resources Perimeter needs, idempotently, on whatever endpoint the clients use.

The embedded stack calls it against its moto server; integration tests call it under mock_aws.
Names match the Terraform deployment's defaults.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.adapters.dynamodb import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA, TTL_ATTRIBUTE

ASL_PATH = Path(__file__).resolve().parent.parent / "pipeline" / "scan-pipeline.asl.json"
ACCOUNT = "123456789012"


@dataclass(frozen=True)
class Resources:
    """Names and addresses of what was provisioned, as environment variables for Settings."""

    table: str
    bucket: str
    queue_url: str
    dlq_url: str
    state_machine_arn: str

    def env(self) -> dict[str, str]:
        """The PERIMETER_* variables that point Settings at these resources."""
        return {
            "PERIMETER_TABLE": self.table,
            "PERIMETER_BUCKET": self.bucket,
            "PERIMETER_WEBHOOK_QUEUE_URL": self.queue_url,
            "PERIMETER_WEBHOOK_DLQ_URL": self.dlq_url,
            "PERIMETER_STATE_MACHINE_ARN": self.state_machine_arn,
        }


def render_asl(substitutions: dict[str, str] | None = None) -> str:
    """The ASL file with Terraform-style `${name}` placeholders filled in."""
    text = ASL_PATH.read_text()
    for key, value in (substitutions or {}).items():
        text = text.replace("${" + key + "}", value)
    json.loads(text)
    return text


def _exists(exc: Exception, *codes: str) -> bool:
    return getattr(exc, "response", {}).get("Error", {}).get("Code") in codes


def ensure_table(dynamodb: Any, name: str) -> None:
    """Create the single table (pk/sk, on-demand, TTL on expires_at) unless it exists."""
    try:
        dynamodb.create_table(TableName=name, KeySchema=KEY_SCHEMA, AttributeDefinitions=ATTRIBUTE_DEFINITIONS,
                              BillingMode="PAY_PER_REQUEST")
    except Exception as exc:
        if not _exists(exc, "ResourceInUseException"):
            raise
        return
    dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification={
        "Enabled": True, "AttributeName": TTL_ATTRIBUTE})


def ensure_bucket(s3: Any, name: str, region: str) -> None:
    """Create the reports bucket (encrypted, public access blocked) unless it exists."""
    try:
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
    except Exception as exc:
        if not _exists(exc, "BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
    s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True, "BlockPublicPolicy": True, "RestrictPublicBuckets": True})
    s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={
        "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]})


def ensure_queues(sqs: Any, name: str) -> tuple[str, str]:
    """Create the webhook queue and its DLQ (redrive after 10 receives); returns (queue url, dlq url)."""
    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq", Attributes={"MessageRetentionPeriod": "1209600"})["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": "180", "MessageRetentionPeriod": "345600",
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "10"}),
    })["QueueUrl"]
    return queue_url, dlq_url


def ensure_state_machine(sfn: Any, name: str, definition: str) -> str:
    """Create or update the state machine from the ASL file; returns its ARN."""
    role = f"arn:aws:iam::{ACCOUNT}:role/{name}-role"
    for machine in sfn.list_state_machines()["stateMachines"]:
        if machine["name"] == name:
            sfn.update_state_machine(stateMachineArn=machine["stateMachineArn"], definition=definition, roleArn=role)
            return str(machine["stateMachineArn"])
    return str(sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"])


def provision(clients: dict[str, Any], *, prefix: str = "perimeter", region: str = "us-east-1",
              asl_substitutions: dict[str, str] | None = None) -> Resources:
    """Create everything; `clients` maps service name to boto3 client. Safe to run twice."""
    table, bucket = prefix, f"{prefix}-reports"
    ensure_table(clients["dynamodb"], table)
    ensure_bucket(clients["s3"], bucket, region)
    queue_url, dlq_url = ensure_queues(clients["sqs"], f"{prefix}-webhook-events")
    arn = ensure_state_machine(clients["stepfunctions"], f"{prefix}-scan-pipeline", render_asl(asl_substitutions))
    return Resources(table, bucket, queue_url, dlq_url, arn)
