"""Test doubles shared by the webhook tests."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from chalicelib.domain.targets import IPAddress
from chalicelib.service.ports import DomainNotFound


class FakeResolver:
    """`resolve(host) -> list[ip]` from a table; a host may list successive answers (DNS rebinding).

    `answers[host]` is either a list of addresses (the same every time) or a list of such lists,
    used in turn (the last one repeats). Unknown hosts raise DomainNotFound. Every call is recorded.
    """

    def __init__(self, answers: dict[str, Sequence[str] | Sequence[Sequence[str]]]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def resolve(self, host: str) -> list[IPAddress]:
        turn = sum(1 for h in self.calls if h == host)
        self.calls.append(host)
        if host not in self.answers:
            raise DomainNotFound(host)
        table = self.answers[host]
        if table and not isinstance(table[0], str):
            rounds = [list(r) for r in table]
            current = rounds[min(turn, len(rounds) - 1)]
        else:
            current = [str(a) for a in table]
        return [ipaddress.ip_address(a) for a in current]
