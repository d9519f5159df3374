"""The scan feature's ports: the workflow engine that runs a scan, and the webhook event publisher."""

from __future__ import annotations

from typing import Any, Protocol


class Workflow(Protocol):
    """Starts and stops one scan's pipeline execution (Step Functions in AWS)."""

    def start(self, scan_id: str, payload: dict[str, Any]) -> str:
        """Start the execution named `scan_id`; idempotent on the name. Returns its id (ARN)."""
        ...

    def stop(self, scan_id: str, cause: str) -> None:
        """Stop the execution named `scan_id`; a finished or missing execution is fine."""
        ...


class EventPublisher(Protocol):
    """Puts one webhook event (DESIGN.md section 7) on the way to every endpoint of a tenant subscribed to it."""

    def publish(self, tenant_id: str, event: str, data: dict[str, Any], *, key: str | None = None) -> list[str]:
        """Record and enqueue the event for each subscribed endpoint; returns the delivery ids (maybe none).

        With `key`, the same (tenant, event, key) is published once however often it is called.
        """
        ...
