"""A container scan's options, registry credentials and how the credentials travel sealed.

The API seals a partner's registry credentials at scan creation (`seal_registry_auth`) into
`ContainerOptions.registry_auth`; only the scanner task, holding the same key, opens them
(`open_registry_auth`). The seal binds tenant and scan, so a sealed blob copied into another scan
or tenant does not open. Credentials never appear in reprs, evidence, logs or findings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field

SeverityName = Literal["critical", "high", "medium", "low"]
ScannerName = Literal["vuln", "secret", "misconfig"]
SEVERITY_RANK: dict[str, int] = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}


class ContainerOptions(BaseModel):
    """What a partner may set on a `container` scan (ScanOptions.container)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    severity: SeverityName = Field(
        default="low", description="The lowest vulnerability severity reported (`critical` reports only critical).")
    ignore_unfixed: bool = Field(
        default=False, description="Leave out vulnerabilities no released version fixes yet.")
    scanners: tuple[ScannerName, ...] = Field(
        default=("vuln", "secret", "misconfig"), min_length=1,
        description="What to look for: known-vulnerable packages, secrets in files, image misconfiguration.")
    platform: str = Field(
        default="linux/amd64", pattern=r"^[a-z0-9]+/[a-z0-9_]+(/[a-z0-9]+)?$",
        description="The platform picked from a multi-platform image (`os/arch[/variant]`).")
    registry_auth: str | None = Field(
        default=None, max_length=8192, repr=False,
        description="Registry credentials as sealed by the API at scan creation (never the plain secret).")


@dataclass(frozen=True)
class RegistryCredentials:
    """A registry user name and password (or token); the password never shows in a repr."""

    username: str
    password: str = field(repr=False)


class Sealer(Protocol):
    """What sealing needs of chalicelib/webhooks/secretbox.py SecretBox (wrap/unwrap bound to a context)."""

    def wrap(self, secret: str, context: str) -> str:
        """Encrypt `secret` bound to `context`."""
        ...

    def unwrap(self, wrapped: str, context: str) -> str:
        """Decrypt; raises ValueError (SecretUnwrapError) for another key, context or tampering."""
        ...


class RegistryAuthError(ValueError):
    """Sealed registry credentials that do not open for this tenant and scan, or are malformed."""


def _context(tenant_id: str, scan_id: str) -> str:
    return f"perimeter/registry-auth/v1|{tenant_id}|{scan_id}"


def seal_registry_auth(box: Sealer, tenant_id: str, scan_id: str, creds: RegistryCredentials) -> str:
    """Seal `creds` for one scan of one tenant (the value stored in ContainerOptions.registry_auth)."""
    plain = json.dumps({"u": creds.username, "p": creds.password}, separators=(",", ":"))
    return box.wrap(plain, _context(tenant_id, scan_id))


def open_registry_auth(box: Sealer, tenant_id: str, scan_id: str, sealed: str) -> RegistryCredentials:
    """The credentials sealed by `seal_registry_auth` for this tenant and scan; raises RegistryAuthError."""
    try:
        doc = json.loads(box.unwrap(sealed, _context(tenant_id, scan_id)))
        return RegistryCredentials(username=str(doc["u"]), password=str(doc["p"]))
    except (ValueError, KeyError, TypeError):
        raise RegistryAuthError("the sealed registry credentials do not open for this scan") from None
