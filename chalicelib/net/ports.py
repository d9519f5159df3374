"""The DNS resolver port and its two failures."""

from __future__ import annotations

from typing import Protocol

from chalicelib.core.addresses import IPAddress


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
