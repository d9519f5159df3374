"""Signal `scan`: open TCP ports on the target's guard-allowed addresses, what answers on each, and risky
exposures among them.

`nmap -sT -n -Pn -oX -` when nmap is on PATH (XML parsed with defusedxml), otherwise a built-in asyncio
connect scanner with the same output. Both scan the same expanded port list. Every open port is then
identified (`chalicelib.scanners.identify`, budgeted); `service_detection` makes that deeper (more
probes, and `nmap -sV` for ports still unnamed). The per-service exposure checks run on the result.
The `timing` option (T0-T5) is nmap's `-T<n>`, and the built-in scanner's concurrency and connect timeout.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import shutil
import socket
import struct
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

import defusedxml.ElementTree as DefusedET

from chalicelib.core.addresses import IPAddress
from chalicelib.net.guard import parse_ip
from chalicelib.scanners.base import (
    Catalog,
    CheckFailed,
    FindingSpec,
    ScanContext,
    address_allowed,
    allowed_addresses,
    safe_check,
)
from chalicelib.scanners.dns_hygiene import dangling_cname_findings
from chalicelib.scanners.exposure import service_findings
from chalicelib.scanners.identify import Service, identify_services
from chalicelib.scanners.identify.portnames import SERVICES
from chalicelib.scanners.intel.findings import intel_version
from chalicelib.scans.models import Finding, Severity, SignalKey, SignalResult, SignalStatus
from chalicelib.scans.options import parse_port_spec

log = logging.getLogger(__name__)


# Port -> finding code for exposures worth more than an "open port" note.
RISKY_PORTS: dict[int, str] = {
    **dict.fromkeys((1433, 1521, 3306, 5432, 5984, 6379, 9042, 9200, 9300, 11211, 27017, 27018), "database-exposed"),
    2375: "docker-api-exposed",
    3389: "rdp-exposed",
    **dict.fromkeys((139, 445), "smb-exposed"),
    23: "telnet-exposed",
    **dict.fromkeys((5800, 5900, 5901), "vnc-exposed"),
    21: "ftp-exposed",
    **dict.fromkeys((2082, 2083, 2086, 2087, 5601, 6443, 8080, 8443, 9000, 9090, 10000, 15672),
                    "admin-panel-exposed"),
    **dict.fromkeys((110, 143), "cleartext-mail-access"),
    **dict.fromkeys((22, 2222), "ssh-exposed"),
}

CATALOG = Catalog(SignalKey.SCAN, {
    "docker-api-exposed": FindingSpec(
        Severity.CRITICAL, "Docker Engine API exposed without TLS",
        "Never publish the Docker socket on TCP; if remote access is needed use TLS client certificates "
        "on 2376 behind a VPN.", "CWE-306"),
    "database-exposed": FindingSpec(
        Severity.HIGH, "Database or cache service reachable from the internet",
        "Bind the service to a private interface and allow only application hosts via a firewall or "
        "security group.", "CWE-668"),
    "rdp-exposed": FindingSpec(
        Severity.HIGH, "Remote Desktop (RDP) exposed",
        "Put RDP behind a VPN or an RD Gateway with MFA; never expose 3389 directly.", "CWE-668"),
    "smb-exposed": FindingSpec(
        Severity.HIGH, "SMB/NetBIOS file sharing exposed",
        "Block 139 and 445 at the perimeter; SMB is not meant for the internet.", "CWE-668"),
    "telnet-exposed": FindingSpec(
        Severity.HIGH, "Telnet exposed (cleartext remote login)",
        "Disable telnet and use SSH with key authentication.", "CWE-319"),
    "vnc-exposed": FindingSpec(
        Severity.HIGH, "VNC remote desktop exposed",
        "Restrict VNC to a VPN or tunnel it over SSH.", "CWE-668"),
    "ftp-exposed": FindingSpec(
        Severity.MEDIUM, "FTP exposed (cleartext credentials)",
        "Replace FTP with SFTP or FTPS, or restrict it to known addresses.", "CWE-319"),
    "admin-panel-exposed": FindingSpec(
        Severity.MEDIUM, "Administrative or alternate web interface exposed",
        "Keep management interfaces off the internet or behind SSO and an allow-list.", "CWE-668"),
    "cleartext-mail-access": FindingSpec(
        Severity.LOW, "Cleartext mailbox access (POP3/IMAP) offered",
        "Offer only IMAPS (993) and POP3S (995), or require STARTTLS before authentication.", "CWE-319"),
    "ssh-exposed": FindingSpec(
        Severity.LOW, "SSH reachable from the internet",
        "Allow key authentication only, disable root login, and restrict sources where possible."),
    "open-port": FindingSpec(Severity.INFO, "Open TCP port", "Close any port that does not need to be public."),
})

DEFAULT_TIMING = "T4"
# The built-in scanner's (concurrency, connect timeout in seconds) per nmap timing template. It has no
# inter-probe delay: the slow templates mean few connections at a time and patient timeouts.
BUILTIN_TIMING: dict[str, tuple[int, float]] = {
    "T0": (1, 5.0), "T1": (4, 3.0), "T2": (16, 2.5), "T3": (100, 2.0), "T4": (200, 1.5), "T5": (400, 0.5),
}


def builtin_pace(ctx: ScanContext) -> tuple[int, float]:
    """(concurrency, connect timeout) of the built-in scanner: the timing template's, else the context's own."""
    if ctx.timing is None:
        return ctx.port_concurrency, ctx.connect_timeout
    return BUILTIN_TIMING[ctx.timing]


def compress_ports(ports: Iterable[int]) -> str:
    """The shortest nmap `-p` spelling of a port set: `22,80-82,443`."""
    ordered = sorted(set(ports))
    parts: list[str] = []
    start = prev = -2
    for port in [*ordered, -1]:
        if port == prev + 1:
            prev = port
            continue
        if start >= 0:
            parts.append(str(start) if start == prev else f"{start}-{prev}")
        start = prev = port
    return ",".join(parts)


# ---------------------------------------------------------------- built-in asyncio connect scanner


async def _probe(address: str, port: int, timeout: float) -> bool:
    """True when a TCP connect to (address, port) succeeds and is not a loopback self-connect."""
    loop = asyncio.get_running_loop()
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setblocking(False)
    try:
        async with asyncio.timeout(timeout):
            await loop.sock_connect(sock, (address, port))
        if sock.getsockname()[:2] == sock.getpeername()[:2]:
            return False  # TCP simultaneous-open with ourselves: a phantom, not a listener
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        return True
    except (OSError, TimeoutError):
        return False
    finally:
        sock.close()


async def _scan_async(targets: Sequence[tuple[str, int]], timeout: float, concurrency: int) -> set[tuple[str, int]]:
    queue = iter(targets)
    found: set[tuple[str, int]] = set()

    async def worker() -> None:
        for address, port in queue:
            if await _probe(address, port, timeout):
                found.add((address, port))

    await asyncio.gather(*(worker() for _ in range(max(1, min(concurrency, len(targets))))))
    return found


def scan_builtin(addresses: Sequence[str], ports: Sequence[int], *, timeout: float = 1.5,
                 concurrency: int = 200) -> dict[str, list[int]]:
    """Connect-scan every (address, port); returns {address: sorted open ports}. Runs its own event loop."""
    targets = [(a, p) for a in addresses for p in ports]
    found = asyncio.run(_scan_async(targets, timeout, concurrency))
    return {a: sorted(p for addr, p in found if addr == a) for a in addresses}


# ---------------------------------------------------------------------------------------- nmap


class NmapFailed(Exception):
    """nmap exited badly, timed out, or printed XML we cannot read."""


def parse_nmap_xml(text: str) -> dict[str, list[int]]:
    """{address: sorted open TCP ports} from `nmap -oX` output; raises NmapFailed on bad XML."""
    try:
        root = DefusedET.fromstring(text)
    except Exception as exc:  # defusedxml raises ParseError or its own DefusedXmlException subclasses
        raise NmapFailed(f"unreadable nmap XML: {exc}") from None
    result: dict[str, list[int]] = {}
    for host in root.iter("host"):
        if host.get("timedout") == "true":  # nmap gave up on the host: no port list, not "nothing open"
            raise NmapFailed("nmap timed out on a host (--host-timeout)")
        address_node = next((a for a in host.iter("address") if a.get("addrtype") in ("ipv4", "ipv6")), None)
        if address_node is None:
            continue
        address = str(address_node.get("addr"))
        open_ports = result.setdefault(address, [])
        for port in host.iter("port"):
            state = port.find("state")
            if port.get("protocol") == "tcp" and state is not None and state.get("state") == "open":
                open_ports.append(int(str(port.get("portid"))))
        open_ports.sort()
    return result


def nmap_command(addresses: Sequence[str], ports: Sequence[int], *, host_timeout: int = 300,
                 timing: str = DEFAULT_TIMING) -> list[str]:
    """The nmap argv for a TCP connect scan (no raw sockets, no DNS, no host discovery) at `timing` (T0-T5).

    Raises ValueError for any other timing.
    """
    if timing not in BUILTIN_TIMING:
        raise ValueError(f"unknown timing {timing!r}")
    cmd = ["nmap", "-sT", "-n", "-Pn", f"-{timing}", "--max-retries", "1", "--host-timeout", f"{host_timeout}s",
           "-oX", "-", "-p", compress_ports(ports)]
    if any(":" in a for a in addresses):
        cmd.append("-6")
    return [*cmd, *addresses]


def scan_nmap(addresses: Sequence[str], ports: Sequence[int], *, host_timeout: int = 300,
              timing: str = DEFAULT_TIMING) -> dict[str, list[int]]:
    """Run nmap once per address family; returns {address: sorted open ports}; raises NmapFailed."""
    result: dict[str, list[int]] = {a: [] for a in addresses}
    for family in (4, 6):
        group = [a for a in addresses if ipaddress.ip_address(a).version == family]
        if not group:
            continue
        try:
            done = subprocess.run(  # noqa: S603 - fixed argv, addresses are validated IP literals
                nmap_command(group, ports, host_timeout=host_timeout, timing=timing), capture_output=True,
                text=True, timeout=host_timeout + 30, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise NmapFailed(f"nmap did not run: {exc}") from None
        if done.returncode != 0:
            raise NmapFailed(f"nmap exited {done.returncode}: {done.stderr.strip()[:300]}")
        for address, open_ports in parse_nmap_xml(done.stdout).items():
            if address in result:
                result[address] = open_ports
    return result


# --------------------------------------------------------------------------------------- check


def scan_open_ports(addresses: Sequence[IPAddress], ports: Sequence[int],
               ctx: ScanContext) -> tuple[dict[str, list[int]], str]:
    """Scan with nmap when enabled and present, else the built-in scanner; returns (results, scanner)."""
    names = [str(a) for a in addresses]
    if ctx.use_nmap and shutil.which("nmap"):
        try:
            return scan_nmap(names, ports, timing=ctx.timing or DEFAULT_TIMING), "nmap"
        except NmapFailed as exc:
            log.warning("nmap failed, using the built-in scanner: %s", exc)
    concurrency, timeout = builtin_pace(ctx)
    return scan_builtin(names, ports, timeout=timeout, concurrency=concurrency), "builtin"


def scan_guarded(addresses: Sequence[IPAddress], ports: Sequence[int],
                 ctx: ScanContext) -> tuple[dict[str, list[int]], str]:
    """scan_open_ports without ever touching the system's own sockets (ctx.self_endpoints).

    Addresses are grouped by the ports the guard lets through on them; a reserved (address, port)
    is neither connected to nor reported.
    """
    reserved = {endpoint.port for endpoint in ctx.self_endpoints}
    groups: dict[tuple[int, ...], list[IPAddress]] = {}
    for address in addresses:
        kept = tuple(p for p in ports if p not in reserved or address_allowed(address, ctx, p))
        groups.setdefault(kept, []).append(address)
    found: dict[str, list[int]] = {}
    scanner = "nmap" if ctx.use_nmap and shutil.which("nmap") else "builtin"
    for kept, group in groups.items():
        if kept:
            result, scanner = scan_open_ports(group, kept, ctx)
            found.update(result)
    return {name: [p for p in open_ports if _reportable(name, p, reserved, ctx)]
            for name, open_ports in found.items()}, scanner


def _reportable(name: str, port: int, reserved: set[int], ctx: ScanContext) -> bool:
    """False for a reserved port on an address the guard refuses it on (or one it cannot parse)."""
    if port not in reserved:
        return True
    address = parse_ip(name)
    return address is not None and address_allowed(address, ctx, port)


def _evidence_of(service: Service | None) -> dict[str, object]:
    if service is None:
        return {}
    evidence: dict[str, object] = {"identified_by": service.method}
    if service.banner:
        evidence["banner"] = service.banner
    if service.name != "unknown":
        evidence["service"] = service.name
    return evidence


def findings_for(found: dict[str, list[int]], services: Sequence[Service], scanner: str) -> list[Finding]:
    """One finding per open port (addresses merged), risky ports under their own code.

    The port's identification (the first address's that named a product, else the first one's)
    adds `product`, `version`, `cpe` and the evidence `banner`, `identified_by` and `service`.
    """
    by_port: dict[int, list[str]] = {}
    for address, ports in found.items():
        for port in ports:
            by_port.setdefault(port, []).append(address)
    identified: dict[int, list[Service]] = {}
    for one in services:
        identified.setdefault(one.port, []).append(one)
    findings = []
    for port in sorted(by_port):
        addresses = sorted(by_port[port])
        candidates = identified.get(port, [])
        service: Service | None = next((s for s in candidates if s.product), candidates[0] if candidates else None)
        code = RISKY_PORTS.get(port, "open-port")
        evidence: dict[str, object] = {"port": port, "protocol": "tcp", "service": SERVICES.get(port, "unknown"),
                                       "addresses": addresses, "scanner": scanner, **_evidence_of(service)}
        named = f" ({service.product}{' ' + service.version if service.version else ''})" \
            if service is not None and service.product else ""
        findings.append(CATALOG.make(
            code, key=str(port), evidence=evidence,
            detail=f"TCP {port} ({evidence['service']}) is open on {', '.join(addresses)}{named}.",
            product=service.product if service else None, version=service.version if service else None,
            cpe=service.cpe if service else None))
    return findings


def identify_found(found: dict[str, list[int]], target: str, ctx: ScanContext) -> list[Service]:
    """Identify the open ports of every address (addresses concurrently, each under ctx.identify_budget)."""
    host = None if parse_ip(target) is not None else target
    work = [(address, ports) for address, ports in found.items() if ports]
    if not work:
        return []
    with ThreadPoolExecutor(max_workers=len(work)) as pool:
        batches = pool.map(lambda item: identify_services(item[0], item[1], ctx, host=host), work)
        return [service for batch in batches for service in batch]


def _check(target: str, ctx: ScanContext) -> list[Finding]:
    try:
        ports = parse_port_spec(ctx.ports)
    except ValueError as exc:
        raise CheckFailed(f"invalid port set: {exc}") from None
    addresses = allowed_addresses(target, ctx)
    found, scanner = scan_guarded(addresses, ports, ctx)
    services = identify_found(found, target, ctx)
    return (findings_for(found, services, scanner) + service_findings(services, ctx)
            + dangling_cname_findings(target, ctx))


_run = safe_check(SignalKey.SCAN)(_check)


def run(target: str, ctx: ScanContext) -> SignalResult:
    """Signal `scan`: open TCP ports of `target`, each identified (product, version, CPE), risky exposures,
    the per-service exposure checks and dangling CNAMEs, with the intel version matched against; never raises."""
    result = _run(target, ctx)
    if result.status is not SignalStatus.COMPLETE:
        return result
    return result.model_copy(update={"intel_version": intel_version(ctx)})
