"""Validated inputs of the public API (request bodies). Unknown fields are refused."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, StringConstraints, field_validator, model_validator

from chalicelib.scans.models import ContainerOptions, Priority, RegistryAuth, ScanOptions, ScanType
from chalicelib.scans.options import check_dkim_selector, parse_port_spec

Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:/-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
Timeout = Annotated[int, Field(ge=30, le=3600, description="Upper bound on the whole scan, in seconds.")]
TargetText = Annotated[str, StringConstraints(min_length=1, max_length=2048)]


class SubmittedRegistryAuth(RegistryAuth):
    """Registry credentials as submitted: the password is sealed by ScanService.create and never stored plain."""

    password: SecretStr = Field(min_length=1, max_length=4096, description="Write-only: never shown again.")

    @model_validator(mode="before")
    @classmethod
    def _no_sealed_blob(cls, data: Any) -> Any:
        if isinstance(data, dict) and "password_sealed" in data:
            raise ValueError("password_sealed is not accepted; send password")
        return data


class SubmittedContainerOptions(ContainerOptions):
    """Container options as submitted (with a plain registry password)."""

    registry_auth: SubmittedRegistryAuth | None = Field(
        default=None, description="Credentials of a private registry: write-only, sealed before storing.")


class SubmittedOptions(ScanOptions):
    """Scan options as submitted: every value the scanner would refuse is refused here with 422.

    `ports`: ports 1-65535, ranges `low-high` with low <= high, `top-N` with 1 <= N <= 65535.
    `dkim_selectors`: DNS labels (letters, digits, `_`, `.`, `-`; starting and ending with a letter or digit).
    """

    container: SubmittedContainerOptions | None = Field(
        default=None, description="`container` scans only.")

    # Stored scans keep the plain ScanOptions, so records written before these rules still read; a
    # template's stored options are checked again when it is launched.

    @model_validator(mode="before")
    @classmethod
    def _from_stored(cls, data: Any) -> Any:
        return data.model_dump() if isinstance(data, ScanOptions) else data

    @field_validator("ports")
    @classmethod
    def _ports_the_scanner_accepts(cls, value: str | None) -> str | None:
        if value is not None:
            parse_port_spec(value)  # raises ValueError, which pydantic reports on options.ports
        return value

    @field_validator("dkim_selectors")
    @classmethod
    def _selectors_the_scanner_probes(cls, value: list[str] | None) -> list[str] | None:
        return [check_dkim_selector(s) for s in value] if value is not None else None


class CreateScan(BaseModel):
    """`POST /v1/scans`: either `{"domain": ...}` (a posture scan) or a targeted scan."""

    model_config = ConfigDict(extra="forbid")

    domain: TargetText | None = Field(default=None, description="Domain for a posture scan.")
    target: TargetText | None = Field(
        default=None, description="Domain or public IP for a targeted scan; a host or http(s) URL for `webapp`; "
                                  "an image reference `registry[:port]/path[:tag][@sha256:...]` for `container`.")
    scan_type: ScanType | None = Field(default=None, description="Default: posture.")
    name: Name | None = None
    priority: Priority = Priority.NORMAL
    options: SubmittedOptions = Field(default_factory=SubmittedOptions)
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    timeout_seconds: Timeout = 900

    @model_validator(mode="after")
    def _one_target(self) -> CreateScan:
        if (self.domain is None) == (self.target is None):
            raise ValueError("give exactly one of 'domain' or 'target'")
        return self

    @property
    def effective_type(self) -> ScanType:
        """posture unless scan_type says otherwise."""
        return self.scan_type or ScanType.POSTURE

    @property
    def raw_target(self) -> str:
        """The target as the partner wrote it."""
        return self.domain if self.domain is not None else (self.target or "")
