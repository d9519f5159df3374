"""The finding every data-store probe makes: `datastore-unauthenticated`, with product and version set."""

from __future__ import annotations

from typing import Any

from chalicelib.scanners.base import Catalog, FindingSpec
from chalicelib.scanners.identify.model import Service
from chalicelib.scans.models import Finding, Severity, SignalKey

CATALOG = Catalog(SignalKey.SCAN, {
    "datastore-unauthenticated": FindingSpec(
        Severity.CRITICAL, "Data store answers without authentication",
        "Take the data store off the internet (bind it to a private interface or firewall the port) and "
        "turn on authentication; assume its contents have been read and rotate any secrets stored in it.",
        "CWE-306"),
})


def unauthenticated(service: Service, address: str, product: str, version: str | None,
                    evidence: dict[str, Any], detail: str) -> Finding:
    """The `datastore-unauthenticated` finding for `product` on the service's port."""
    return CATALOG.make(
        "datastore-unauthenticated", key=f"{address}:{service.port}:{product}", detail=detail,
        evidence={"address": address, "port": service.port, "product": product, "version": version, **evidence},
        product=product, version=version or service.version, cpe=service.cpe,
    )
