"""The moto gaps `terraform apply` of infra/terraform and a scan through it meet (moto_fixes 11-16).

Each test fails on stock moto 5.2.5 (docs/moto-upstream.md has the upstream reports).
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from chalicelib.local import moto_fixes

REGION = "us-east-1"
VALID_ASL = json.dumps({"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}})
ROLE_ARN = "arn:aws:iam::123456789012:role/r"


@pytest.fixture
def mappings() -> Iterator[list[tuple[str, str, int]]]:
    """moto_fixes installed with an event source mapping hook that records what it is given."""
    seen: list[tuple[str, str, int]] = []
    moto_fixes.install(on_event_source_mapping=lambda f, q, n: seen.append((f, q, n)))
    with mock_aws():
        yield seen
    moto_fixes.install()


def _client(service: str) -> Any:
    return boto3.client(service, region_name=REGION, aws_access_key_id="testing", aws_secret_access_key="testing")


def test_aws_managed_iam_policies_exist(mappings: list[Any]) -> None:
    policy = "arn:aws:iam::aws:policy/service-role/AmazonAPIGatewayPushToCloudWatchLogs"
    assert _client("iam").get_policy(PolicyArn=policy)["Policy"]["PolicyName"] == "AmazonAPIGatewayPushToCloudWatchLogs"


def test_sqs_returns_the_redrive_allow_policy(mappings: list[Any]) -> None:
    sqs = _client("sqs")
    allow = json.dumps({"redrivePermission": "denyAll"})
    with_policy = sqs.create_queue(QueueName="dlq", Attributes={"RedriveAllowPolicy": allow})["QueueUrl"]
    plain = sqs.create_queue(QueueName="plain")["QueueUrl"]
    named = sqs.get_queue_attributes(QueueUrl=with_policy, AttributeNames=["RedriveAllowPolicy"])["Attributes"]
    assert named == {"RedriveAllowPolicy": allow}
    everything = sqs.get_queue_attributes(QueueUrl=with_policy, AttributeNames=["All"])["Attributes"]
    assert everything["RedriveAllowPolicy"] == allow
    assert "RedriveAllowPolicy" not in sqs.get_queue_attributes(QueueUrl=plain, AttributeNames=["All"])["Attributes"]


def test_step_functions_validates_definitions_and_lists_versions(mappings: list[Any]) -> None:
    sfn = _client("stepfunctions")
    assert sfn.validate_state_machine_definition(definition=VALID_ASL)["result"] == "OK"
    broken = sfn.validate_state_machine_definition(definition=json.dumps({"StartAt": "Missing", "States": {}}))
    assert broken["result"] == "FAIL" and broken["diagnostics"]
    arn = sfn.create_state_machine(name="m", definition=VALID_ASL, roleArn=ROLE_ARN, publish=True)["stateMachineArn"]
    versions = sfn.list_state_machine_versions(stateMachineArn=arn)["stateMachineVersions"]
    assert [v["stateMachineVersionArn"] for v in versions] == [f"{arn}:1"]


def test_run_task_accepts_task_level_memory_only(mappings: list[Any]) -> None:
    ecs, ec2 = _client("ecs"), _client("ec2")
    subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
    group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
    ecs.create_cluster(clusterName="c")
    ecs.register_task_definition(family="scanner", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                 cpu="256", memory="512",
                                 containerDefinitions=[{"name": "scanner", "image": "scanner:1", "essential": True}])
    network = {"awsvpcConfiguration": {"subnets": [subnet], "securityGroups": [group]}}
    tasks = ecs.run_task(cluster="c", taskDefinition="scanner", launchType="FARGATE",
                         networkConfiguration=network)["tasks"]
    assert len(tasks) == 1


def test_conditional_bucket_policy_denies_only_what_it_states(mappings: list[Any]) -> None:
    s3 = _client("s3")
    s3.create_bucket(Bucket="reports")
    s3.put_bucket_policy(Bucket="reports", Policy=json.dumps({"Version": "2012-10-17", "Statement": [
        {"Sid": "DenyPlainHttp", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
         "Resource": ["arn:aws:s3:::reports", "arn:aws:s3:::reports/*"],
         "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
        {"Sid": "NoSecrets", "Effect": "Deny", "Principal": "*", "Action": "s3:PutObject",
         "Resource": "arn:aws:s3:::reports/secrets/*"},
    ]}))
    s3.put_object(Bucket="reports", Key="tenants/t/report.pdf", Body=b"%PDF")
    assert s3.get_object(Bucket="reports", Key="tenants/t/report.pdf")["Body"].read() == b"%PDF"
    with pytest.raises(ClientError):  # an unconditional Deny still denies
        s3.put_object(Bucket="reports", Key="secrets/x", Body=b"x")


def _function(name: str) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def handle(event, context):\n    return {}\n")
    role = _client("iam").create_role(RoleName="fn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    created = _client("lambda").create_function(FunctionName=name, Runtime="python3.11", Role=role,
                                                Handler="handler.handle", Code={"ZipFile": buffer.getvalue()})
    return str(created["FunctionArn"])


def test_sqs_event_source_mappings_go_to_the_hook(mappings: list[Any]) -> None:
    sqs = _client("sqs")
    url = sqs.create_queue(QueueName="webhooks")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    function_arn = _function("deliver")
    _client("lambda").create_event_source_mapping(EventSourceArn=queue_arn, FunctionName="deliver", BatchSize=10)
    assert mappings == [(function_arn, queue_arn, 10)]
    sqs.send_message(QueueUrl=url, MessageBody="event")
    # moto no longer consumes the message inline: the hook's poller will receive it.
    received = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)["Messages"]
    assert [m["Body"] for m in received] == ["event"]


def test_an_ecs_run_task_state_keeps_its_capacity_provider_strategy() -> None:
    """moto_fixes 17: the strategy reaches RunTask (stock moto drops it and the cluster default applies)."""
    moto_fixes.install()
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        ecs, ec2, sfn = _client("ecs"), _client("ec2"), _client("stepfunctions")
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
        cluster = ecs.create_cluster(clusterName="c", capacityProviders=["FARGATE", "FARGATE_SPOT"],
                                     defaultCapacityProviderStrategy=[{"capacityProvider": "FARGATE", "weight": 1}],
                                     )["cluster"]["clusterArn"]
        ecs.register_task_definition(family="scanner", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                     cpu="256", memory="512",
                                     containerDefinitions=[{"name": "scanner", "image": "scanner:1", "memory": 512}])
        network = {"AwsvpcConfiguration": {"Subnets": [subnet], "SecurityGroups": [group]}}
        definition = {"StartAt": "Run", "States": {"Run": {
            "Type": "Task", "Resource": "arn:aws:states:::ecs:runTask", "End": True,
            "Parameters": {"Cluster": cluster, "TaskDefinition": "scanner",
                           "CapacityProviderStrategy": [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}],
                           "NetworkConfiguration": network}}}}
        machine = sfn.create_state_machine(name="run", definition=json.dumps(definition),
                                           roleArn=ROLE_ARN)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine)["executionArn"]
        for _ in range(100):
            described = sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.05)
        assert described["status"] == "SUCCEEDED", described
        tasks = ecs.describe_tasks(cluster=cluster, tasks=ecs.list_tasks(cluster=cluster)["taskArns"])["tasks"]
        assert [t.get("capacityProviderName") for t in tasks] == ["FARGATE_SPOT"]
