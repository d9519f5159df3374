"""Typed options of active scans (`webapp`, `container`) for `Client.create_scan(options=...)`.

Each helper turns into the API's `options` object with `to_options()`; only the values set are sent, so
the server's defaults apply to the rest. A registry password never appears in a `repr` or a log line:
it is held by `RegistryAuth` with `repr=False` and sent only inside the request body.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from perimeter_client.models import SEVERITIES

CONTAINER_SCANNERS = ("vuln", "secret", "misconfig")
WEBAPP_ENGINES = ("builtin", "wapiti", "sqlmap")


def _severities(values: Sequence[str]) -> list[str]:
    """Lower-cased known severities; raises ValueError for an unknown one or an empty list."""
    out = [v.strip().lower() for v in values if v.strip()]
    unknown = [v for v in out if v not in SEVERITIES]
    if unknown or not out:
        raise ValueError(f"severities must be some of {', '.join(SEVERITIES)}, not {list(values)!r}")
    return out


@dataclass(frozen=True)
class RegistryAuth:
    """Credentials of a private registry. Write-only on the server: sealed at submission, never shown back."""

    username: str
    password: str = field(repr=False)

    def __post_init__(self) -> None:
        if not self.username or not self.password:
            raise ValueError("registry credentials need a username and a password")

    def __repr__(self) -> str:
        return f"RegistryAuth(username={self.username!r}, password='***')"

    def to_dict(self) -> dict[str, str]:
        """The API's `registry_auth` object (it carries the password: send it, never print it)."""
        return {"username": self.username, "password": self.password}


@dataclass(frozen=True)
class ContainerOptions:
    """Options of a `container` scan: which severities to report, unfixed vulnerabilities, scanners,
    the platform of a multi-platform image, registry credentials, and the gate's `fail_on`."""

    severity: Sequence[str] | None = None
    ignore_unfixed: bool | None = None
    scanners: Sequence[str] | None = None
    platform: str | None = None
    registry_auth: RegistryAuth | None = None
    fail_on: str | None = None

    def __post_init__(self) -> None:
        if self.severity is not None:
            _severities(self.severity)
        if self.scanners is not None and (not self.scanners or set(self.scanners) - set(CONTAINER_SCANNERS)):
            raise ValueError(f"scanners must be some of {', '.join(CONTAINER_SCANNERS)}, not {list(self.scanners)!r}")
        if self.fail_on is not None:
            _severities([self.fail_on])

    def to_options(self) -> dict[str, Any]:
        """The scan's `options` object: `{"container": {...}, "fail_on": ...}`."""
        container: dict[str, Any] = {}
        if self.severity is not None:
            container["severity"] = _severities(self.severity)
        if self.ignore_unfixed is not None:
            container["ignore_unfixed"] = self.ignore_unfixed
        if self.scanners is not None:
            container["scanners"] = list(self.scanners)
        if self.platform is not None:
            container["platform"] = self.platform
        if self.registry_auth is not None:
            container["registry_auth"] = self.registry_auth.to_dict()
        options: dict[str, Any] = {"container": container} if container else {}
        if self.fail_on is not None:
            options["fail_on"] = self.fail_on.lower()
        return options


@dataclass(frozen=True)
class WebappOptions:
    """Options of a `webapp` scan: engines, politeness (requests per second) and budgets, the gate's `fail_on`.

    The server bounds every value (e.g. `rate_limit` at most 50, `max_requests` 10-20000) and answers 422
    beyond them.
    """

    engines: Sequence[str] | None = None
    rate_limit: float | None = None
    max_requests: int | None = None
    max_pages: int | None = None
    max_depth: int | None = None
    time_budget: float | None = None
    time_based: bool | None = None
    fail_on: str | None = None

    def __post_init__(self) -> None:
        if self.engines is not None and (not self.engines or set(self.engines) - set(WEBAPP_ENGINES)):
            raise ValueError(f"engines must be some of {', '.join(WEBAPP_ENGINES)}, not {list(self.engines)!r}")
        if self.fail_on is not None:
            _severities([self.fail_on])

    def to_options(self) -> dict[str, Any]:
        """The scan's `options` object: `{"webapp": {...}, "fail_on": ...}`."""
        webapp: dict[str, Any] = {}
        for name in ("rate_limit", "max_requests", "max_pages", "max_depth", "time_budget", "time_based"):
            value = getattr(self, name)
            if value is not None:
                webapp[name] = value
        if self.engines is not None:
            webapp["engines"] = list(self.engines)
        options: dict[str, Any] = {"webapp": webapp} if webapp else {}
        if self.fail_on is not None:
            options["fail_on"] = self.fail_on.lower()
        return options
