"""What the Score step stores beside the scan item: bounded finding evidence and the container SBOM."""

from __future__ import annotations

import hashlib
import json

from chalicelib.core.objects import ObjectStore
from chalicelib.pipeline.errors import EvidenceInvalid
from chalicelib.scans.keys import sbom_key
from chalicelib.scans.models import Finding, SignalKey, SignalResult

MAX_FINDING_EVIDENCE_BYTES = 4096  # per finding on the scan record; the full evidence stays in S3
MAX_SBOM_BYTES = 64 * 1024 * 1024


def store_sbom(objects: ObjectStore, tenant_id: str, scan_id: str,
               scored: dict[str, SignalResult]) -> tuple[str, str] | None:
    """Store the container signal's CycloneDX SBOM (its `sbom` attachment); (key, sha256) or None without one.

    Raises EvidenceInvalid when the attachment is not a CycloneDX JSON document or is too large.
    """
    result = scored.get(SignalKey.CONTAINER.value)
    document = result.attachments.get("sbom") if result is not None else None
    if document is None:
        return None
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise EvidenceInvalid("the container signal's sbom attachment is not a CycloneDX JSON document")
    body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
    if len(body) > MAX_SBOM_BYTES:
        raise EvidenceInvalid(f"the SBOM is {len(body)} bytes; at most {MAX_SBOM_BYTES}")
    key = sbom_key(tenant_id, scan_id)
    objects.put(key, body, "application/vnd.cyclonedx+json")
    return key, hashlib.sha256(body).hexdigest()


def compact(result: SignalResult) -> SignalResult:
    """The result with each finding's evidence bounded for the scan record."""
    return result.model_copy(update={"findings": [bounded(f) for f in result.findings]})


def bounded(finding: Finding) -> Finding:
    size = len(json.dumps(finding.evidence, default=str))
    if size <= MAX_FINDING_EVIDENCE_BYTES:
        return finding
    return finding.model_copy(update={"evidence": {"truncated": True, "bytes": size,
                                                   "note": "The full evidence is in the scan's evidence document."}})

