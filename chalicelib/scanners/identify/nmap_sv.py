"""A budgeted `nmap -sT -sV` for ports the built-in probing left unnamed (opt-in, `service_detection`).

nmap's version scan waits seconds per silent probe (15 s with --version-light, 91 s without, for 21
services on one loopback host), so it runs only with `service_detection`, only on ports still
unknown, under `--host-timeout`. It uses nmap's default intensity (7): --version-light stops at
rarity 2 and would miss what our own light pass missed (RDP on an odd port, for instance).
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from collections.abc import Sequence

import defusedxml.ElementTree as DefusedET

from chalicelib.net.guard import parse_ip
from chalicelib.scanners.base import ScanContext, address_allowed
from chalicelib.scanners.identify.model import Service

log = logging.getLogger(__name__)


def command(address: str, ports: Sequence[int], host_timeout: int) -> list[str]:
    """The argv: connect scan, version detection, no DNS, no host discovery, XML on stdout."""
    argv = ["nmap", "-sT", "-sV", "-n", "-Pn", "--host-timeout", f"{host_timeout}s",
            "-oX", "-", "-p", ",".join(str(p) for p in sorted(set(ports)))]
    return [*argv, *(["-6"] if ":" in address else []), address]


def parse(xml: str, host: str | None = None) -> dict[int, Service]:
    """{port: Service} for each open port nmap named a product for; {} for unreadable XML."""
    try:
        root = DefusedET.fromstring(xml)
    except Exception:  # defusedxml raises ParseError or its own DefusedXmlException subclasses
        return {}
    found: dict[int, Service] = {}
    for host_node in root.iter("host"):
        address_node = next((a for a in host_node.iter("address") if a.get("addrtype") in ("ipv4", "ipv6")), None)
        if address_node is None:
            continue
        for port_node in host_node.iter("port"):
            state, service = port_node.find("state"), port_node.find("service")
            if state is None or state.get("state") != "open" or service is None or not service.get("product"):
                continue
            cpe = next((c.text for c in service.iter("cpe") if c.text and c.text.startswith("cpe:/a:")), None)
            extra = {k: str(service.get(k)) for k in ("extrainfo", "ostype", "tunnel") if service.get(k)}
            port = int(str(port_node.get("portid")))
            name = str(service.get("name") or "unknown")
            if service.get("tunnel") == "ssl":
                name = "https" if name.startswith("http") else f"ssl/{name}"
            found[port] = Service(str(address_node.get("addr")), port, name, service.get("product"),
                                  service.get("version"), cpe, method="nmap", extra=extra, host=host)
    return found


def identify(address: str, ports: Sequence[int], ctx: ScanContext, host: str | None = None) -> dict[int, Service]:
    """What `nmap -sV` names among `ports` (those the guard allows), within ctx.nmap_version_timeout.

    Returns {} when nmap is absent, fails or times out; never raises for those.
    """
    ip = parse_ip(address)
    allowed = [p for p in ports if ip is not None and address_allowed(ip, ctx, p)]
    if not allowed or shutil.which("nmap") is None:
        return {}
    timeout = max(1, int(ctx.nmap_version_timeout))
    try:
        done = subprocess.run(command(address, allowed, timeout), capture_output=True, text=True,  # noqa: S603
                              timeout=timeout + 10, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        log.warning("nmap -sV did not run: %s", exc)
        return {}
    if done.returncode != 0:
        log.warning("nmap -sV exited %s: %s", done.returncode, done.stderr.strip()[:300])
        return {}
    return {p: s for p, s in parse(done.stdout, host).items() if p in allowed}
