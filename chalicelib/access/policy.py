"""Which role each route needs: a registry keyed by (method, route template), filled by the operation table.

`chalicelib.api.table` registers every routed operation (every /v1 operation and every dialect
operation) at import; `chalicelib.api.http.handle` looks the current request up by its method and
the route template Chalice matched (`request.context["resourcePath"]`). A route nobody registered
needs the owner role: the check fails closed.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from chalicelib.access.roles import Role

UNREGISTERED_ROLE = Role.OWNER


@dataclass(frozen=True)
class RouteRule:
    """One route's rule: the operation's id (the audit action) and the least role it needs."""

    method: str
    path: str
    operation_id: str
    role: Role
    public: bool = False


class RoutePolicy:
    """(method, route template) -> RouteRule."""

    def __init__(self) -> None:
        self._rules: dict[tuple[str, str], RouteRule] = {}
        self._lock = threading.Lock()

    def register(self, rule: RouteRule) -> None:
        """Add or replace one route's rule (the table registers each route once; re-imports replace)."""
        with self._lock:
            self._rules[(rule.method.upper(), rule.path)] = rule

    def rule_for(self, method: str, path: str | None) -> RouteRule | None:
        """The rule of a route, None when it was never registered."""
        if not path:
            return None
        with self._lock:
            return self._rules.get((method.upper(), path))

    def required(self, method: str, path: str | None) -> Role:
        """The least role a route needs: its rule's, else owner (fail closed)."""
        rule = self.rule_for(method, path)
        return rule.role if rule is not None else UNREGISTERED_ROLE

    def rules(self) -> list[RouteRule]:
        """Every registered rule, in registration order."""
        with self._lock:
            return list(self._rules.values())


POLICY = RoutePolicy()
