"""Targets in the table: `TENANT#<id>` / `TARGET#<target id>`, and one `TGTDOMAIN#<domain>` entry per
registered domain pointing at its target (the conditional create that keeps registration idempotent)."""

from __future__ import annotations

import contextlib

from chalicelib.core.store import ConditionFailed, KeyValueStore
from chalicelib.targets.models import Target

TARGET_PREFIX = "TARGET#"
DOMAIN_PREFIX = "TGTDOMAIN#"


def _pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


class TargetRepository:
    """Reads and writes targets with optimistic versions; every key is under the tenant."""

    def __init__(self, store: KeyValueStore) -> None:
        self._store = store

    def get(self, tenant_id: str, target_id: str) -> tuple[Target, int] | None:
        """The target and its version, or None (also for another tenant's id)."""
        record = self._store.get(_pk(tenant_id), f"{TARGET_PREFIX}{target_id}")
        if record is None:
            return None
        return Target.model_validate(record.data), record.version

    def save(self, target: Target, version: int) -> None:
        """Write a target under `version` (0: create); raises ConditionFailed when another writer won."""
        self._store.put(_pk(target.tenant_id), f"{TARGET_PREFIX}{target.target_id}", target.model_dump(mode="json"),
                        expect_version=version)

    def claim_domain(self, tenant_id: str, domain: str, target_id: str) -> str:
        """Point the domain at `target_id` unless it already points elsewhere; returns the id it points at."""
        try:
            self._store.put(_pk(tenant_id), f"{DOMAIN_PREFIX}{domain}", {"target_id": target_id}, expect_version=0)
        except ConditionFailed:
            return self.domain_owner(tenant_id, domain) or self.claim_domain(tenant_id, domain, target_id)
        return target_id

    def domain_owner(self, tenant_id: str, domain: str) -> str | None:
        """The id of the tenant's target for `domain`, or None."""
        record = self._store.get(_pk(tenant_id), f"{DOMAIN_PREFIX}{domain}")
        return str(record.data["target_id"]) if record is not None else None

    def release_domain(self, tenant_id: str, domain: str, target_id: str) -> None:
        """Remove the domain entry if it still points at `target_id`."""
        record = self._store.get(_pk(tenant_id), f"{DOMAIN_PREFIX}{domain}")
        if record is not None and record.data.get("target_id") == target_id:
            with contextlib.suppress(ConditionFailed):  # re-pointed meanwhile: no longer ours to remove
                self._store.delete(_pk(tenant_id), f"{DOMAIN_PREFIX}{domain}", expect_version=record.version)

    def delete(self, tenant_id: str, target_id: str) -> None:
        """Remove a target (absent is fine)."""
        self._store.delete(_pk(tenant_id), f"{TARGET_PREFIX}{target_id}")

    def page(self, tenant_id: str, after: str | None, limit: int) -> list[Target]:
        """Up to `limit` targets, newest first, after a sort key."""
        records = self._store.query(_pk(tenant_id), TARGET_PREFIX, forward=False, after=after, limit=limit)
        return [Target.model_validate(r.data) for r in records]
