"""Benchmark: our service identification against `nmap -sT -sV` (and `--version-light`) on the same listeners.

Usage: .venv/bin/python bench/bench_identify.py [--runs 5] [--nmap-runs 5]

Starts fake products (tests/support/banners.py) on their usual ports of one random 127.X.Y.Z address
(random ports when those cannot be bound), identifies every port with our probes (nmap's file, parsed
afresh each run, and the built-in table) and with nmap, alternating, and prints per port what each
named and whether they agree, the medians and the wall-time ratio. JSON also goes to
bench/results/identify.json. Without nmap only our figures are reported.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import os
import platform
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dns.resolver  # noqa: E402

from chalicelib.scanners.base import ScanContext  # noqa: E402
from chalicelib.scanners.identify import fingerprints, identify_services, nmap_sv  # noqa: E402
from tests.support.banners import PRODUCTS, BannerServer  # noqa: E402

LISTENERS = {"openssh-9.2": 22, "vsftpd": 21, "exim": 25, "apache": 80, "nginx": 8080, "iis": 8000, "mysql": 3306,
             "postgresql": 5432, "redis": 6379, "memcached": 11211, "mongodb": 27017, "rdp": 3389, "mssql": 1433}


def start(address: str) -> dict[str, BannerServer]:
    """Each product on its usual port, else on a free one."""
    servers = {}
    for name, port in LISTENERS.items():
        try:
            servers[name] = BannerServer(address, PRODUCTS[name][0], port).start()
        except OSError:
            servers[name] = BannerServer(address, PRODUCTS[name][0]).start()
    return servers


def ours(address: str, ports: list[int], probes: str | None) -> tuple[float, dict[int, tuple[str | None, str | None]]]:
    """One cold identification (the probe file parsed again): seconds and {port: (product, version)}."""
    fingerprints._nmap_probes.cache_clear()
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False),
                      allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), service_probes=probes)
    started = time.perf_counter()
    services = identify_services(address, ports, ctx)
    return time.perf_counter() - started, {s.port: (s.product, s.version) for s in services}


def nmap(address: str, ports: list[int], light: bool) -> tuple[float, dict[int, tuple[str | None, str | None]]]:
    """One `nmap -sT -sV` run (optionally --version-light): seconds and {port: (product, version)}."""
    argv = nmap_sv.command(address, ports, 300)
    if light:
        argv.insert(3, "--version-light")
    started = time.perf_counter()
    done = subprocess.run(argv, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    named = {p: (s.product, s.version) for p, s in nmap_sv.parse(done.stdout).items()}
    return elapsed, {p: named.get(p, (None, None)) for p in ports}


def same(left: tuple[str | None, str | None], right: tuple[str | None, str | None]) -> bool:
    """Same product, and versions equal or one the start of the other (`9.2p1` and `9.2p1 Debian 2+deb12u1`)."""
    (product_a, version_a), (product_b, version_b) = left, right
    if product_a != product_b:
        return False
    if not version_a or not version_b:
        return version_a == version_b
    return version_a.startswith(version_b) or version_b.startswith(version_a)


def _median(times: list[float]) -> float | None:
    return round(statistics.median(times), 3) if times else None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nmap-runs", type=int, default=5)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "identify.json")
    args = parser.parse_args()

    address = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    servers = start(address)
    ports = sorted(s.port for s in servers.values())
    has_nmap = shutil.which("nmap") is not None
    tools: dict[str, Any] = {"ours_nmap_file": lambda: ours(address, ports, fingerprints.NMAP_PROBES),
                             "ours_builtin": lambda: ours(address, ports, None)}
    if has_nmap:
        tools["nmap_sV_light"] = lambda: nmap(address, ports, True)
        tools["nmap_sV"] = lambda: nmap(address, ports, False)
    times: dict[str, list[float]] = {name: [] for name in tools}
    named: dict[str, dict[int, tuple[str | None, str | None]]] = {}
    try:
        for run in range(max(args.runs, args.nmap_runs)):
            order = list(tools) if run % 2 == 0 else list(reversed(tools))
            for name in order:
                if run >= (args.nmap_runs if name.startswith("nmap") else args.runs):
                    continue
                elapsed, result = tools[name]()
                times[name].append(elapsed)
                named.setdefault(name, result)
    finally:
        for server in servers.values():
            server.stop()

    by_port = {name: servers[name].port for name in servers}
    reference = "nmap_sV" if has_nmap else None
    table = []
    for product, port in sorted(by_port.items(), key=lambda item: item[1]):
        row: dict[str, Any] = {"listener": product, "port": port,
                               **{tool: " ".join(filter(None, named[tool][port])) or None for tool in named}}
        if reference:
            row["agree"] = {tool: same(named[tool][port], named[reference][port])
                            for tool in named if tool != reference}
        table.append(row)
    medians = {name: _median(values) for name, values in times.items()}
    report: dict[str, Any] = {
        "benchmark": "service identification, one loopback host", "address": address, "ports": ports,
        "runs": {name: len(values) for name, values in times.items()},
        "times_s": {name: [round(t, 3) for t in values] for name, values in times.items()},
        "median_s": medians, "per_port": table,
        "named": {tool: sum(1 for p in ports if named[tool][p][0]) for tool in named},
        "host": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if has_nmap:
        for tool in ("nmap_sV_light", "nmap_sV"):
            report[f"ratio_ours_over_{tool}"] = round((medians["ours_nmap_file"] or 0) / (medians[tool] or 1), 3)
        report["agreement_with_nmap_sV"] = {tool: sum(r["agree"][tool] for r in table) for tool in named
                                            if tool != "nmap_sV"}
    else:
        report["note"] = "nmap is not on PATH: only our identification was measured."
    text = json.dumps(report, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
