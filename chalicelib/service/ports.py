"""Ports the services need besides storage: the workflow engine and the DNS resolver."""

from __future__ import annotations

from typing import Any, Protocol

from chalicelib.domain.targets import IPAddress


class Workflow(Protocol):
    """Starts and stops one scan's pipeline execution (Step Functions in AWS)."""

    def start(self, scan_id: str, payload: dict[str, Any]) -> str:
        """Start the execution named `scan_id`; idempotent on the name. Returns its id (ARN)."""
        ...

    def stop(self, scan_id: str, cause: str) -> None:
        """Stop the execution named `scan_id`; a finished or missing execution is fine."""
        ...


class Resolver(Protocol):
    """Resolves a host name to its addresses."""

    def resolve(self, host: str) -> list[IPAddress]:
        """A and AAAA addresses; [] when the name exists without addresses.

        Raises DomainNotFound for NXDOMAIN and ResolverUnavailable when no answer could be had.
        """
        ...


class DomainNotFound(Exception):
    """The name does not exist (NXDOMAIN)."""


class ResolverUnavailable(Exception):
    """The resolvers timed out or failed (SERVFAIL, refused, unreachable)."""


class EventPublisher(Protocol):
    """Puts one webhook event (DESIGN.md section 7) on the way to every endpoint of a tenant subscribed to it."""

    def publish(self, tenant_id: str, event: str, data: dict[str, Any], *, key: str | None = None) -> list[str]:
        """Record and enqueue the event for each subscribed endpoint; returns the delivery ids (maybe none).

        With `key`, the same (tenant, event, key) is published once however often it is called.
        """
        ...


class ObjectStore(Protocol):
    """The reports bucket: encrypted objects under tenant prefixes, and short-lived download links."""

    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store `body` at `key` (server-side encrypted)."""
        ...

    def get(self, key: str) -> bytes:
        """The object's bytes; raises ObjectMissing."""
        ...

    def presign(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """A GET URL for `key` valid for `expires_in` seconds, as an attachment named `filename` when given."""
        ...


class ObjectMissing(Exception):
    """No object under that key."""
