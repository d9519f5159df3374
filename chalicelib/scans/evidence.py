"""What a scanner task hands the pipeline: one evidence document per signal group, and its pointer."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.scans.models import SignalKey, SignalResult


class EvidenceDocument(BaseModel):
    """The results of one signal group's checks, written to S3 by the scanner task."""

    model_config = ConfigDict(extra="forbid")

    version: Literal[1] = 1
    scan_id: str
    tenant_id: str
    group: str
    target: str
    started_at: datetime
    finished_at: datetime
    signals: dict[SignalKey, SignalResult]
    # SignalResult.attachments (excluded from its dumps by design), carried explicitly: e.g. the container
    # signal's CycloneDX SBOM under "sbom". The Score step stores them as objects of their own.
    attachments: dict[SignalKey, dict[str, Any]] = Field(default_factory=dict)

    def results(self) -> dict[SignalKey, SignalResult]:
        """The signal results with their attachments put back."""
        return {key: result.model_copy(update={"attachments": self.attachments[key]})
                if key in self.attachments else result for key, result in self.signals.items()}


class EvidencePointer(BaseModel):
    """One branch of the RunScanners Parallel state: where its evidence is, or that it was skipped."""

    model_config = ConfigDict(extra="ignore")

    group: str
    skipped: bool = False
    evidence_key: str | None = None
    sha256: str | None = Field(default=None, pattern=r"^[0-9a-f]{64}$")
