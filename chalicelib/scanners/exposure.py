"""Per-service exposure checks: what the `scan` signal runs on every identified open port.

In order: the appliance and login-panel rules (which may name the product behind a web port), the
intel checks (known-exploited, end-of-life and outdated versions, on the port's product and on every
further product it showed, such as PHP behind a web server), then the protocol probes (anonymous FTP,
data stores without authentication, weak SSH algorithms). A check that names the product of a port
nobody had named informs the checks after it. Entries return [] for a service they do not handle.
"""

from __future__ import annotations

import dataclasses
import logging
import urllib.parse
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.identify import fetch_http_facts
from chalicelib.scanners.identify.appliances import appliance_findings
from chalicelib.scanners.identify.model import HttpFacts, Service
from chalicelib.scanners.intel.findings import intel_findings
from chalicelib.scanners.protocols import PROTOCOL_CHECKS
from chalicelib.scans.models import Finding

log = logging.getLogger(__name__)

ServiceCheck = Callable[[Service, ScanContext], list[Finding]]

PORTAL_FETCH_TIMEOUT = 3.0  # seconds per portal-path request
MAX_PARALLEL_SERVICES = 8  # services checked at once (each check is a few short exchanges with one port)


def appliance_check(service: Service, ctx: ScanContext) -> list[Finding]:
    """The appliance and login-panel rules; portal paths are requested on the service itself when its
    root page names nothing."""

    def fetch(url: str) -> HttpFacts | None:
        parts = urllib.parse.urlsplit(url)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        return fetch_http_facts(service, path or "/", ctx, timeout=min(ctx.http_timeout, PORTAL_FETCH_TIMEOUT))

    return appliance_findings(service, ctx, fetch)


def software_intel(service: Service, ctx: ScanContext) -> list[Finding]:
    """intel_findings for the port's product and for each further product it showed (`service.software`)."""
    findings = intel_findings(service, ctx)
    for software in service.software:
        if software.cpe and software.cpe != service.cpe:
            other = dataclasses.replace(service, product=software.product, version=software.version,
                                        cpe=software.cpe, software=())
            findings.extend(intel_findings(other, ctx))
    return findings


SERVICE_CHECKS: tuple[ServiceCheck, ...] = (appliance_check, software_intel, *PROTOCOL_CHECKS)


def named_by(service: Service, findings: Sequence[Finding]) -> Service:
    """The service with the product a finding named (an appliance rule), when identification had none."""
    if service.cpe:
        return service
    named = next((f for f in findings if f.cpe and f.product), None)
    if named is None:
        return service
    return dataclasses.replace(service, product=named.product, version=named.version or service.version,
                               cpe=named.cpe)


def service_findings(services: Sequence[Service], ctx: ScanContext,
                     checks: Sequence[ServiceCheck] | None = None) -> list[Finding]:
    """Every finding each service check makes about each service, services in parallel, in service order.

    The checks of one service run in order; a check that crashes is logged and skipped.
    """
    chosen = tuple(SERVICE_CHECKS if checks is None else checks)
    if not services:
        return []
    with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL_SERVICES, len(services)),
                            thread_name_prefix="exposure") as pool:
        results = list(pool.map(lambda service: _one_service(service, ctx, chosen), services))
    return [finding for found in results for finding in found]


def _one_service(service: Service, ctx: ScanContext, checks: Sequence[ServiceCheck]) -> list[Finding]:
    findings: list[Finding] = []
    current = service
    for check in checks:
        try:
            found = check(current, ctx)
        except Exception:
            log.exception("service check %s crashed on %s:%s", getattr(check, "__name__", check),
                          service.address, service.port)
            continue
        findings.extend(found)
        current = named_by(current, found)
    return findings
