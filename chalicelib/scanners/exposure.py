"""Per-service exposure checks: what the `scan` signal runs on every identified open port.

Each entry takes one identified Service (and the scan's context) and returns findings about it:
known-exploited and end-of-life versions, appliance login portals, anonymous FTP, data stores
without authentication, weak SSH algorithms. Entries never raise for a service they do not
handle: they return [].
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.identify.model import Service
from chalicelib.scans.models import Finding

log = logging.getLogger(__name__)

ServiceCheck = Callable[[Service, ScanContext], list[Finding]]

SERVICE_CHECKS: tuple[ServiceCheck, ...] = ()


def service_findings(services: Sequence[Service], ctx: ScanContext,
                     checks: Sequence[ServiceCheck] | None = None) -> list[Finding]:
    """Every finding each service check makes about each service; a check that crashes is logged and skipped."""
    findings: list[Finding] = []
    for service in services:
        for check in SERVICE_CHECKS if checks is None else checks:
            try:
                findings.extend(check(service, ctx))
            except Exception:
                log.exception("service check %s crashed on %s:%s", getattr(check, "__name__", check),
                              service.address, service.port)
    return findings
