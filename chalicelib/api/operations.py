"""The operation table's parts: `Op` (one public operation) and `Routes`, which declares each Op on its handler.

A route module makes one `Routes()` and decorates every handler with its method, path, models,
summary and errors; `chalicelib.api.table` gathers them, and both Chalice (app.py) and the OpenAPI
document (`chalicelib.api.spec`) read that one table. A handler is called as
`handler(request, **path_params)` with the path parameters Chalice parsed.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from chalice.app import Response
from pydantic import BaseModel

from chalicelib.access.policy import POLICY, RoutePolicy, RouteRule
from chalicelib.access.roles import Role

VERSION = "0.1.0"  # the API's version: /v1/health and the document's info.version

Handler = Callable[..., Response]
H = TypeVar("H", bound=Handler)


@dataclass(frozen=True)
class Op:
    """One public operation: what app.py routes and what the document describes."""

    method: str
    path: str
    operation_id: str
    summary: str
    ok: int
    response: type[BaseModel] | None
    request: type[BaseModel] | None = None
    query: type[BaseModel] | None = None
    public: bool = False
    errors: tuple[int, ...] = field(default=())
    tags: tuple[str, ...] = ()
    media: str | None = None  # the success body's media type when it is not JSON (a download)
    path_max: int = 100  # the path parameters' maximum length
    also_ok: tuple[int, ...] = ()  # further success statuses with the same body (202 while a report renders)
    role: Role | None = None  # the least role allowed; None: derived from method and tags (`required_role`)
    content_types: tuple[str, ...] = ()  # the request body's accepted media types; (): chalice's default (JSON)
    handler: Handler | None = field(default=None, compare=False, repr=False)

    @property
    def path_params(self) -> tuple[str, ...]:
        """The path parameters' names, in order."""
        return tuple(re.findall(r"{(\w+)}", self.path))

    @property
    def name(self) -> str:
        """The handler's name: the Chalice view name."""
        if self.handler is None:
            raise ValueError(f"{self.operation_id} has no handler")
        return self.handler.__name__


class Routes:
    """The operations of one route module, in declaration order."""

    def __init__(self) -> None:
        self.operations: list[Op] = []

    def __call__(self, method: str, path: str, operation_id: str, summary: str, ok: int,
                 response: type[BaseModel] | None, **options: Any) -> Callable[[H], H]:
        """Declare the decorated handler's operation; options are Op's optional fields."""
        def declare(handler: H) -> H:
            self.operations.append(Op(method, path, operation_id, summary, ok, response, handler=handler, **options))
            return handler
        return declare


# The least role of a write (any method but GET/HEAD) by the operation's tag; a tag not listed needs owner.
WRITE_ROLE_BY_TAG: dict[str, Role] = {
    "scans": Role.MEMBER, "reports": Role.MEMBER,
    "templates": Role.ADMIN, "webhooks": Role.ADMIN, "branding": Role.ADMIN, "targets": Role.ADMIN,
    "api-keys": Role.ADMIN, "audit": Role.ADMIN, "agents": Role.ADMIN,
    "organization": Role.OWNER, "team": Role.OWNER, "account": Role.OWNER,
}
READ_METHODS = frozenset({"GET", "HEAD"})


def required_role(op: Op) -> Role:
    """The least role `op` needs: its explicit `role`, else viewer to read, else its tags' write role.

    A write whose tags are all unknown (or that has none) needs owner: new operations fail closed
    until someone says otherwise.
    """
    if op.role is not None:
        return op.role
    if op.method.upper() in READ_METHODS:
        return Role.VIEWER
    roles = [WRITE_ROLE_BY_TAG.get(tag, Role.OWNER) for tag in op.tags] or [Role.OWNER]
    return max(roles, key=lambda role: role.rank)


def register_routes(ops: Iterable[Op], policy: RoutePolicy = POLICY) -> None:
    """Record every operation's least role under its (method, path) for `chalicelib.api.http.handle`."""
    for op in ops:
        policy.register(RouteRule(op.method, op.path, op.operation_id, required_role(op), op.public))
