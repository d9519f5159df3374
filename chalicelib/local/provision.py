"""Creates the AWS resources Perimeter needs, idempotently, on whatever endpoint the clients use.

The embedded stack calls it against its moto server; integration tests call it under mock_aws.
Names match the Terraform deployment's defaults.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from chalicelib.aws.dynamodb import ATTRIBUTE_DEFINITIONS, KEY_SCHEMA, TTL_ATTRIBUTE
from chalicelib.core.contract import PIPELINE_LAMBDAS, SCANNER_CONTAINER

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
    cluster: str = ""

    def env(self) -> dict[str, str]:
        """The PERIMETER_* variables that point Settings at these resources."""
        return {
            "PERIMETER_TABLE": self.table,
            "PERIMETER_BUCKET": self.bucket,
            "PERIMETER_WEBHOOK_QUEUE_URL": self.queue_url,
            "PERIMETER_WEBHOOK_DLQ_URL": self.dlq_url,
            "PERIMETER_STATE_MACHINE_ARN": self.state_machine_arn,
            "PERIMETER_CLUSTER": self.cluster,
        }


def render_asl(substitutions: dict[str, str] | None = None) -> str:
    """The ASL file with Terraform-style `${name}` placeholders filled in."""
    text = ASL_PATH.read_text()
    for key, value in (substitutions or {}).items():
        text = text.replace("${" + key + "}", value)
    unfilled = sorted(set(re.findall(r"\$\{(\w+)\}", text)))
    if unfilled:
        raise ValueError(f"ASL placeholders without a value: {', '.join(unfilled)}")
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
    """Create the webhook queue and its DLQ as `webhooks.queue_config` says; returns (queue url, dlq url)."""
    from chalicelib.webhooks import queue_config

    dlq_url = sqs.create_queue(QueueName=f"{name}-dlq", Attributes=queue_config.dlq_attributes())["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    queue_url = sqs.create_queue(QueueName=name, Attributes=queue_config.queue_attributes(dlq_arn))["QueueUrl"]
    return queue_url, dlq_url


def ensure_state_machine(sfn: Any, name: str, definition: str) -> str:
    """Create or update the state machine from the ASL file; returns its ARN."""
    role = f"arn:aws:iam::{ACCOUNT}:role/{name}-role"
    for machine in sfn.list_state_machines()["stateMachines"]:
        if machine["name"] == name:
            sfn.update_state_machine(stateMachineArn=machine["stateMachineArn"], definition=definition, roleArn=role)
            return str(machine["stateMachineArn"])
    return str(sfn.create_state_machine(name=name, definition=definition, roleArn=role)["stateMachineArn"])


def _role(iam: Any, name: str, service: str) -> str:
    """An IAM role `service` may assume (moto checks Lambda roles exist); returns its ARN."""
    trust = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": service},
                                                      "Action": "sts:AssumeRole"}]}
    try:
        return str(iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"])
    except Exception as exc:
        if not _exists(exc, "EntityAlreadyExists"):
            raise
        return str(iam.get_role(RoleName=name)["Role"]["Arn"])


def _placeholder_zip() -> bytes:
    """A deployment package for moto's control plane: the embedded stack runs the repository's code."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "The embedded stack dispatches to the handlers of app.py in-process.\n")
    return buffer.getvalue()


def ensure_lambdas(lam: Any, iam: Any, prefix: str) -> dict[str, str]:
    """Register the pipeline Lambdas (Handler strings from the contract); returns ASL placeholder -> ARN."""
    role = _role(iam, f"{prefix}-lambda", "lambda.amazonaws.com")
    arns: dict[str, str] = {}
    for spec in PIPELINE_LAMBDAS:
        name = f"{prefix}-{spec.name}"
        try:
            arn = lam.create_function(FunctionName=name, Runtime="python3.11", Role=role, Handler=spec.handler,
                                      Code={"ZipFile": _placeholder_zip()}, Timeout=spec.timeout,
                                      MemorySize=spec.memory)["FunctionArn"]
        except Exception as exc:
            if not _exists(exc, "ResourceConflictException"):
                raise
            arn = lam.get_function(FunctionName=name)["Configuration"]["FunctionArn"]
        if spec.asl_placeholder:
            arns[spec.asl_placeholder] = str(arn)
    return arns


SCANNER_CAPACITY_PROVIDER = "FARGATE_SPOT"  # var.scanner_capacity_provider's default in infra/terraform


def ensure_scanners(ecs: Any, ec2: Any, iam: Any, prefix: str) -> dict[str, str]:
    """The scanners' cluster, task definition and network (moto's default VPC); returns ASL placeholders."""
    # As infra/terraform/scanners.tf: both Fargate providers, scanner tasks on FARGATE_SPOT.
    cluster = ecs.create_cluster(
        clusterName=f"{prefix}-scanners", capacityProviders=["FARGATE", "FARGATE_SPOT"],
        defaultCapacityProviderStrategy=[{"capacityProvider": SCANNER_CAPACITY_PROVIDER, "weight": 1}],
    )["cluster"]["clusterArn"]
    role = _role(iam, f"{prefix}-scanner-task", "ecs-tasks.amazonaws.com")
    task_definition = ecs.register_task_definition(
        family=f"{prefix}-scanner", networkMode="awsvpc", requiresCompatibilities=["FARGATE"], cpu="256",
        memory="512", taskRoleArn=role, executionRoleArn=role,
        containerDefinitions=[{"name": SCANNER_CONTAINER, "image": f"{prefix}-scanner:local", "essential": True,
                               "memory": 512}],
    )["taskDefinition"]["taskDefinitionArn"]
    vpcs = ec2.describe_vpcs(Filters=[{"Name": "isDefault", "Values": ["true"]}])["Vpcs"]
    vpc = vpcs[0]["VpcId"]
    subnets = [s["SubnetId"] for s in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                   {"Name": "group-name", "Values": ["default"]}])["SecurityGroups"]
    return {"cluster_arn": str(cluster), "scanner_task_definition_arn": str(task_definition),
            "scanner_subnet_1": subnets[0], "scanner_subnet_2": subnets[min(1, len(subnets) - 1)],
            "scanner_security_group": str(groups[0]["GroupId"]),
            "scanner_capacity_provider": SCANNER_CAPACITY_PROVIDER}


PROVISIONED_SERVICES = ("dynamodb", "s3", "sqs", "stepfunctions", "lambda", "iam", "ecs", "ec2")


# A state machine that accepts a scan and ends: for measuring the API alone (PERIMETER_LOCAL_PIPELINE=off).
IDLE_DEFINITION = json.dumps({"Comment": "Pipeline switched off: scans stay pending.", "StartAt": "Accepted",
                              "States": {"Accepted": {"Type": "Pass", "End": True}}})


def provision(clients: dict[str, Any], *, prefix: str = "perimeter", region: str = "us-east-1",
              asl_substitutions: dict[str, str] | None = None, pipeline: bool = True,
              storage: bool = True) -> Resources:
    """Create everything; `clients` maps each of PROVISIONED_SERVICES to a boto3 client. Safe to run twice.

    `pipeline=False` deploys IDLE_DEFINITION instead of the ASL file (scans stay pending).
    `storage=False` skips the DynamoDB table and the S3 bucket: the embedded stack keeps its table and
    objects in its data directory (SQLite and files), not in moto.
    """
    table, bucket = prefix, f"{prefix}-reports"
    if storage:
        ensure_table(clients["dynamodb"], table)
        ensure_bucket(clients["s3"], bucket, region)
    queue_url, dlq_url = ensure_queues(clients["sqs"], f"{prefix}-webhook-events")
    placeholders = ensure_lambdas(clients["lambda"], clients["iam"], prefix)
    placeholders.update(ensure_scanners(clients["ecs"], clients["ec2"], clients["iam"], prefix))
    placeholders.update(asl_substitutions or {})
    definition = render_asl(placeholders) if pipeline else IDLE_DEFINITION
    arn = ensure_state_machine(clients["stepfunctions"], f"{prefix}-scan-pipeline", definition)
    return Resources(table, bucket, queue_url, dlq_url, arn, cluster=f"{prefix}-scanners")
