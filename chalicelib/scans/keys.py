"""The S3 key layout of the reports bucket: where a scan's evidence and reports and a tenant's logo live."""

from __future__ import annotations


def scan_prefix(tenant_id: str, scan_id: str) -> str:
    """Where everything of one scan lives in the reports bucket."""
    return f"tenants/{tenant_id}/scans/{scan_id}/"


def evidence_key(tenant_id: str, scan_id: str, group: str) -> str:
    """The S3 key of one scanner task's evidence document."""
    return f"{scan_prefix(tenant_id, scan_id)}evidence/{group}.json"


def report_key(tenant_id: str, scan_id: str, fmt: str) -> str:
    """The S3 key of a rendered report (`pdf` or `json`)."""
    return f"{scan_prefix(tenant_id, scan_id)}report.{fmt}"


def branding_logo_key(tenant_id: str, digest: str, ext: str) -> str:
    """The S3 key of a tenant's uploaded logo: outside `tenants/`, so report retention never expires it."""
    return f"branding/{tenant_id}/logo-{digest}.{ext}"


def findings_key(tenant_id: str, scan_id: str) -> str:
    """The S3 key of a scan's full findings when they exceed the table item (gzipped JSON)."""
    return f"{scan_prefix(tenant_id, scan_id)}findings.json.gz"


def sbom_key(tenant_id: str, scan_id: str) -> str:
    """The S3 key of a container scan's CycloneDX SBOM."""
    return f"{scan_prefix(tenant_id, scan_id)}sbom.cdx.json"
