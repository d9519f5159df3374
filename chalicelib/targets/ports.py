"""The TXT lookup port the challenge check reads DNS through."""

from __future__ import annotations

from typing import Protocol


class TxtLookup(Protocol):
    """Reads the TXT records of a name."""

    def txt(self, name: str) -> list[str]:
        """Every TXT record at `name`, each record's strings joined; [] for NXDOMAIN or no TXT data.

        Raises chalicelib.net.ports.ResolverUnavailable when no server answered.
        """
        ...
