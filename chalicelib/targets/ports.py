"""The ports of the targets feature: the TXT lookup the challenge check reads DNS through, and the
challenge check itself as the service sees it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from chalicelib.targets.challenge import CheckReport


class TxtLookup(Protocol):
    """Reads the TXT records of a name."""

    def txt(self, name: str) -> list[str]:
        """Every TXT record at `name`, each record's strings joined; [] for NXDOMAIN or no TXT data.

        Raises chalicelib.net.ports.ResolverUnavailable when no server answered.
        """
        ...


class ChallengeCheck(Protocol):
    """Looks for a domain's challenge (`chalicelib.targets.challenge.ChallengeChecker`)."""

    def check(self, domain: str, token: str) -> CheckReport:
        """What each method saw; never raises for what the network does."""
        ...
