"""The CycloneDX 1.5 JSON SBOM of a scanned image: the image as metadata.component, every component with its
purl and the layer it came from, and the vulnerabilities matched (ids, ratings, the components they affect).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from packageurl import PackageURL

from chalicelib.scanners.container.image import Image
from chalicelib.scanners.container.inventory import Inventory
from chalicelib.scanners.container.vulns import Match

TOOL_NAME = "perimeter-container-scanner"
TOOL_VERSION = "1"


def _image_purl(image: Image, name: str) -> str:
    repo = name.rsplit("/", 1)[-1].split(":")[0].split("@")[0] or "image"
    return PackageURL(type="oci", name=repo, version=image.digest, qualifiers={"arch": image.config.get(
        "architecture", "")} if image.config.get("architecture") else None).to_string()


def _properties(**values: str | None) -> list[dict[str, str]]:
    return [{"name": f"perimeter:{k}", "value": v} for k, v in values.items() if v]


def build_sbom(image: Image, name: str, inventory: Inventory, matches: Sequence[Match], *,
               now: datetime, serial: uuid.UUID | None = None) -> dict[str, Any]:
    """A CycloneDX 1.5 document (a JSON-ready dict) for `image` as scanned under `name`."""
    hex_digest = image.digest.removeprefix("sha256:")
    image_ref = f"image:{image.digest}"
    components: list[dict[str, Any]] = []
    if inventory.os is not None and inventory.os.id:
        components.append({"type": "operating-system", "bom-ref": f"os:{inventory.os.distro}",
                           "name": inventory.os.id, "version": inventory.os.version_id or "unknown",
                           "description": inventory.os.pretty_name or None})
    for component in inventory.components:
        components.append({
            "type": component.bom_type, "bom-ref": component.purl, "name": component.name,
            "version": component.version, "purl": component.purl,
            "properties": _properties(layer=component.layer, path=component.path, ecosystem=component.ecosystem,
                                      **{"package-type": component.kind}),
        })
    vulnerabilities: dict[str, dict[str, Any]] = {}
    for match in matches:
        entry = vulnerabilities.setdefault(match.osv_id, {
            "bom-ref": f"vuln:{match.osv_id}", "id": match.osv_id,
            "source": {"name": "OSV", "url": f"https://osv.dev/vulnerability/{match.osv_id}"},
            "references": [{"id": a, "source": {"name": "NVD" if a.startswith("CVE-") else "OSV"}}
                           for a in match.aliases],
            "ratings": [{"severity": match.severity, **({"score": match.cvss_score, "method": (
                "CVSSv4" if (match.cvss_vector or "").startswith("CVSS:4") else "CVSSv31"),
                "vector": match.cvss_vector} if match.cvss_score is not None else {})}],
            "description": match.summary or None, "affects": []})
        entry["affects"].append({"ref": match.component.purl, "versions": [
            {"version": match.component.version, "status": "affected"}]})
    document: dict[str, Any] = {
        "bomFormat": "CycloneDX", "specVersion": "1.5",
        "serialNumber": (serial or uuid.uuid4()).urn, "version": 1,
        "metadata": {
            "timestamp": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "tools": {"components": [{"type": "application", "name": TOOL_NAME, "version": TOOL_VERSION}]},
            "component": {"type": "container", "bom-ref": image_ref, "name": name, "version": image.digest,
                          "purl": _image_purl(image, name), "hashes": [{"alg": "SHA-256", "content": hex_digest}],
                          "properties": _properties(platform=image.platform, os=inventory.os.pretty_name
                                                    if inventory.os else None,
                                                    layers=",".join(layer.digest for layer in image.layers))},
        },
        "components": components,
        "dependencies": [{"ref": image_ref, "dependsOn": [c["bom-ref"] for c in components]}],
    }
    if vulnerabilities:
        document["vulnerabilities"] = [_drop_none(v) for _, v in sorted(vulnerabilities.items())]
    cleaned: dict[str, Any] = _drop_none(document)
    return cleaned


def _drop_none(value: Any) -> Any:
    """The document without None values and empty lists of references (CycloneDX rejects nulls)."""
    if isinstance(value, dict):
        return {k: _drop_none(v) for k, v in value.items() if v is not None and v != []}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value
