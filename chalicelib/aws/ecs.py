"""The scanner tasks of a scan on ECS: found by their RunTask `group` (`scan:<scan id>`) and stopped."""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger(__name__)


def scan_group(scan_id: str) -> str:
    """The ECS task group the ASL gives a scan's scanner tasks."""
    return f"scan:{scan_id}"


class EcsScannerTasks:
    """Stops the running scanner tasks of one scan in the scanners' cluster."""

    def __init__(self, cluster: str, client: Any) -> None:
        self.cluster = cluster
        self._client = client

    def running(self, scan_id: str) -> list[str]:
        """ARNs of the scan's tasks whose desired status is RUNNING."""
        arns: list[str] = []
        paginator = self._client.get_paginator("list_tasks")
        for page in paginator.paginate(cluster=self.cluster, desiredStatus="RUNNING"):
            batch = page.get("taskArns", [])
            for start in range(0, len(batch), 100):  # DescribeTasks takes 100 at most
                described = self._client.describe_tasks(cluster=self.cluster, tasks=batch[start:start + 100])
                arns += [t["taskArn"] for t in described.get("tasks", []) if t.get("group") == scan_group(scan_id)]
        return arns

    def stop_scan(self, scan_id: str, reason: str) -> int:
        """StopTask for each running task of the scan; returns how many were stopped. Errors are logged."""
        stopped = 0
        try:
            for arn in self.running(scan_id):
                self._client.stop_task(cluster=self.cluster, task=arn, reason=reason[:255])
                stopped += 1
        except Exception:  # the scanner also stops itself when its heartbeat is refused
            log.exception("could not stop the scanner tasks of %s", scan_id)
        return stopped
