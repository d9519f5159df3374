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
