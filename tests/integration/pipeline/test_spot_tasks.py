"""Scanner tasks on Fargate Spot through moto: the ASL's CapacityProviderStrategy reaches ECS RunTask."""

from __future__ import annotations

import json

import pytest

from chalicelib.local.provision import SCANNER_CAPACITY_PROVIDER
from chalicelib.scans.models import ScanStatus
from tests.integration.pipeline.conftest import Rig

pytestmark = pytest.mark.slow


def test_scanner_tasks_run_on_the_spot_capacity_provider_without_a_launch_type(rig: Rig) -> None:
    scan = rig.submit("ok.example")
    done, execution = rig.wait(scan.scan_id)
    assert execution["status"] == "SUCCEEDED" and done.status == ScanStatus.COMPLETE
    scheduled = [json.loads(e["taskScheduledEventDetails"]["parameters"]) for e in rig.history(scan.scan_id)
                 if e["type"] == "TaskScheduled" and e["taskScheduledEventDetails"]["resourceType"] == "ecs"]
    assert len(scheduled) == 2
    for parameters in scheduled:
        assert "LaunchType" not in parameters
        assert parameters["CapacityProviderStrategy"] == [{"CapacityProvider": "FARGATE_SPOT", "Weight": 1}]
    ecs = rig.clients["ecs"]
    cluster = ecs.list_clusters()["clusterArns"][0]
    arns = ecs.list_tasks(cluster=cluster, desiredStatus="STOPPED")["taskArns"] or ecs.list_tasks(cluster=cluster)[
        "taskArns"]
    tasks = ecs.describe_tasks(cluster=cluster, tasks=arns)["tasks"]
    assert tasks and {t.get("capacityProviderName") for t in tasks} == {SCANNER_CAPACITY_PROVIDER}
