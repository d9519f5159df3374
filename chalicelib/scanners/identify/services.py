"""The entry point: identify every open port of one address, concurrently, under one budget.

Probes come from nmap's service-probes file (ctx.service_probes, read from the system, never
vendored) or the built-in table when it is absent; HTTP(S) ports are then fetched once (root page
and favicon) for their headers, title and certificate, which also name the server when the probes
did not. With `service_detection`, probing goes deeper (more and rarer probes) and ports still
unnamed get a budgeted `nmap -sV`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from chalicelib.net.guard import parse_ip
from chalicelib.scanners.base import ScanContext, address_allowed
from chalicelib.scanners.identify import nmap_sv
from chalicelib.scanners.identify.engine import Plan, PortResult, identify_port
from chalicelib.scanners.identify.fingerprints import load_probes
from chalicelib.scanners.identify.http import fetch_http_facts, is_http, server_header, web_software
from chalicelib.scanners.identify.model import Service
from chalicelib.scanners.identify.portnames import port_name
from chalicelib.scanners.identify.probes import Identity, ProbeSet

log = logging.getLogger(__name__)

LIGHT = (4, 4)  # probes after NULL, rarity ceiling: nmap's --version-light is intensity 2
DEEP = (10, 7)  # with service_detection: nmap's default intensity is 7
MAX_CONCURRENT_PORTS = 64
# An answer to a probe ends after this fraction of ctx.identify_wait without a byte (0.5 s of the default 1 s):
# longer than a round trip, after which the rest of a reply larger than one TCP flight would arrive.
ANSWER_IDLE = 0.5


def clean_banner(raw: bytes, limit: int = 200) -> str:
    """The printable ASCII of a banner (CR and LF kept), other bytes as '.', trimmed, at most `limit` characters."""
    text = raw[: limit * 2].decode("latin-1")
    return "".join(c if " " <= c <= "~" or c in "\r\n" else "." for c in text).strip()[:limit]


def _version(identity: Identity) -> str | None:
    """nmap's version, shortened to the CPE's version when it starts with it (`9.2p1 Debian 2` -> `9.2p1`)."""
    cpe = identity.app_cpe
    cpe_version = cpe.split(":")[4] if cpe and cpe.startswith("cpe:/a:") and cpe.count(":") >= 4 else ""
    if identity.version and cpe_version and identity.version.startswith(cpe_version):
        return cpe_version
    return identity.version or (cpe_version or None)


def to_service(address: str, port: int, found: PortResult, host: str | None) -> Service:
    """A Service from what probing found (a port-only Service when nothing matched)."""
    identity = found.identity
    banner = clean_banner(found.banner)
    if identity is None:
        name = f"ssl/{port_name(port)}" if found.tls else port_name(port)
        return Service(address, port, name, banner=banner, host=host,
                       extra={"tls": "true"} if found.tls else {})
    name = identity.service
    if found.tls and name.startswith("http"):
        name = "https"
    elif found.tls and not name.startswith("ssl"):
        name = f"ssl/{name}"
    extra = {k: v for k, v in (("info", identity.info), ("os", identity.os), ("hostname", identity.hostname),
                               ("device", identity.device), ("version_detail", identity.version),
                               ("probe", found.probe)) if v}
    other = [c for c in identity.cpes if c != identity.app_cpe]
    if other:
        extra["other_cpes"] = " ".join(other)
    if found.tls:
        extra["tls"] = "true"
    cpe = identity.app_cpe if identity.app_cpe and identity.app_cpe.startswith("cpe:/a:") else None
    method = "banner" if found.probe == "NULL" else "probe"
    return Service(address, port, name, identity.product, _version(identity), cpe, banner,
                   method if identity.product or not identity.soft else "port", extra, host=host)


async def _probe_all(address: str, ports: Sequence[int], probes: ProbeSet, plan: Plan,
                     host: str | None) -> list[PortResult]:
    gate = asyncio.Semaphore(MAX_CONCURRENT_PORTS)

    async def one(port: int) -> PortResult:
        async with gate:
            return await identify_port(address, port, probes, plan, host)

    return list(await asyncio.gather(*(one(p) for p in ports)))


def _add_http(service: Service, ctx: ScanContext, deadline: float) -> Service:
    """The service with its HTTP facts, and its product named from them when the probes did not."""
    remaining = deadline - time.monotonic()
    if not is_http(service) or remaining <= 0.05:
        return service
    facts = fetch_http_facts(service, "/", ctx, favicon=True, timeout=min(ctx.http_timeout, remaining))
    if facts is None:
        return service
    software = web_software(facts)
    server = next((s for s in software if s.source.startswith("server:")), None)
    if service.product is None and server is not None:
        service = dataclasses.replace(service, product=server.product, version=server.version, cpe=server.cpe,
                                      method="http")
    elif service.product is None and server_header(facts):
        service = dataclasses.replace(service, product=server_header(facts), method="http")
    others = tuple(s for s in software if s is not server or s.product != service.product)
    return dataclasses.replace(service, http=facts, software=others)


def identify_services(address: str, ports: Sequence[int], ctx: ScanContext, *,
                      host: str | None = None) -> list[Service]:
    """A Service for each port of `address` (an IP literal), in port order, within ctx.identify_budget.

    `host` is the name the address was resolved from (SNI and Host for HTTPS). A port the target
    guard refuses is never connected to: it comes back named by its number only. Raises ValueError
    when `address` is not an IP address; network failures only leave ports unnamed.
    """
    ip = parse_ip(address)
    if ip is None:
        raise ValueError(f"{address!r} is not an IP address")
    started = time.monotonic()
    deadline = started + ctx.identify_budget
    probe_count, rarity = DEEP if ctx.service_detection else LIGHT
    # Probes get the first three quarters of the budget, the HTTP fetches the rest.
    plan = Plan(ctx.identify_wait, ctx.connect_timeout, probe_count, rarity, started + 0.75 * ctx.identify_budget,
                idle=ctx.identify_wait * ANSWER_IDLE)
    allowed = [p for p in dict.fromkeys(ports) if address_allowed(ip, ctx, p)]
    probes = load_probes(ctx.service_probes)
    results = dict(zip(allowed, asyncio.run(_probe_all(str(ip), allowed, probes, plan, host)), strict=True)) \
        if allowed else {}
    services = {p: to_service(str(ip), p, results[p], host) for p in allowed}
    if services:
        with ThreadPoolExecutor(max_workers=min(8, len(services))) as pool:
            for updated in pool.map(lambda s: _add_http(s, ctx, deadline), services.values()):
                services[updated.port] = updated
    unknown = [p for p, s in services.items() if s.product is None]
    if ctx.service_detection and ctx.use_nmap and unknown:
        for port, service in nmap_sv.identify(str(ip), unknown, ctx, host).items():
            services[port] = service
    log.debug("identified %d/%d ports of %s with %s in %.2f s", sum(s.product is not None for s in services.values()),
              len(services), address, probes.source, time.monotonic() - started)
    return [services.get(p) or Service(str(ip), p, port_name(p), host=host, extra={"guard": "refused"})
            for p in dict.fromkeys(ports)]
