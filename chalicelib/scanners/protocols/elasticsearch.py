"""Elasticsearch / OpenSearch: does `GET /` answer with the cluster banner without credentials (401 if not)?"""

from __future__ import annotations

import json
import logging
from typing import Any

from chalicelib.scanners.base import CheckFailed, CheckSkipped, ScanContext
from chalicelib.scanners.fetch import FetchError, fetch
from chalicelib.scanners.identify.model import Service
from chalicelib.scanners.protocols.datastore import unauthenticated
from chalicelib.scanners.protocols.wire import UNNAMED, guarded_address, printable
from chalicelib.scans.models import Finding

log = logging.getLogger(__name__)

NAMES = frozenset({"elasticsearch", "opensearch"})
HTTP_NAMES = frozenset({"http", "https", "ssl/http", "http-proxy", "wap-wsp", *UNNAMED})  # nmap calls 9200 wap-wsp
PORTS = frozenset({9200, 9201})
MAX_BODY = 65536


def cluster_banner(body: str | bytes) -> dict[str, Any] | None:
    """The banner fields of an Elasticsearch/OpenSearch `GET /` JSON body, None when it is not one."""
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None
    version = doc.get("version") if isinstance(doc, dict) else None
    if not isinstance(version, dict) or not isinstance(version.get("number"), str):
        return None
    if "cluster_name" not in doc and "for Search" not in str(doc.get("tagline", "")):
        return None
    product = "OpenSearch" if version.get("distribution") == "opensearch" else "Elasticsearch"
    return {"product": product, "version": printable(version["number"], 40),
            "cluster_name": printable(str(doc.get("cluster_name", "")), 120),
            "node_name": printable(str(doc.get("name", "")), 120),
            "tagline": printable(str(doc.get("tagline", "")), 120)}


def handles_elasticsearch(service: Service) -> bool:
    """True for a service named elasticsearch, HTTP on 9200/9201, or HTTP whose root page is an ES banner."""
    name = service.name.lower()
    if name in NAMES or "search" in (service.product or "").lower():
        return True
    if name in HTTP_NAMES and service.port in PORTS:
        return True
    return service.http is not None and service.http.status == 200 and cluster_banner(service.http.body) is not None


def root_page(address: str, port: int, tls: bool, ctx: ScanContext) -> tuple[int, str]:
    """(status, body) of `GET /` on the address; raises FetchError, CheckSkipped, CheckFailed."""
    host = f"[{address}]" if ":" in address else address
    result = fetch(f"{'https' if tls else 'http'}://{host}:{port}/", ctx, max_redirects=0, max_body=MAX_BODY)
    return result.final.status, result.body.decode("utf-8", "replace")


def check_elasticsearch(service: Service, ctx: ScanContext) -> list[Finding]:
    """`datastore-unauthenticated` when `GET /` returns the cluster banner without credentials; [] otherwise.

    Uses the root page identification already fetched when it has one; 401/403 means protected.
    """
    if not handles_elasticsearch(service):
        return []
    address = guarded_address(service, ctx)
    if address is None:
        return []
    facts = service.http
    if facts is not None and facts.status in (200, 401, 403):
        status, body, source = facts.status, facts.body, "identification"
    else:
        try:
            status, body = root_page(address, service.port, bool(facts and facts.tls), ctx)
        except (FetchError, CheckSkipped, CheckFailed) as exc:
            log.info("Elasticsearch probe of %s:%s ended: %s", address, service.port, exc)
            return []
        source = "probe"
    banner = cluster_banner(body) if status == 200 else None
    if banner is None:
        return []
    product, version = banner["product"], banner["version"]
    return [unauthenticated(service, address, product, version, {"status": status, "banner": banner, "seen_by": source},
                            f"{product} {version} on {address}:{service.port} returned its cluster banner to "
                            "GET / without credentials.")]
