"""Benchmark: the built-in asyncio connect scanner against `nmap -sT` on the same loopback listeners.

Usage: .venv/bin/python bench/bench_ports.py [--runs 5] [--ports 1000] [--listeners 25]

Starts listeners on random ports of a random 127.X.Y.Z address, scans a 1,000-port range with both
scanners (alternating, several runs), checks they report the same open ports, and prints JSON that is
also written to bench/results/ports.json. Without nmap on PATH only the built-in figures are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.scanners.open_ports import scan_builtin, scan_nmap  # noqa: E402

FIRST_PORT = 10000  # 10000-10999: below the ephemeral range, clear of well-known services


class Listeners:
    """TCP listeners on `ports` of `address`, accepting and closing in one thread."""

    def __init__(self, address: str, ports: list[int]) -> None:
        self.sockets: list[socket.socket] = []
        for port in ports:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((address, port))
            sock.listen(256)
            sock.setblocking(False)
            self.sockets.append(sock)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            for sock in self.sockets:
                try:
                    conn, _ = sock.accept()
                    conn.close()
                except (BlockingIOError, OSError):
                    pass
            time.sleep(0.001)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for sock in self.sockets:
            sock.close()


def nmap_version() -> str | None:
    """nmap's version line, or None when nmap is not on PATH."""
    if shutil.which("nmap") is None:
        return None
    done = subprocess.run(["nmap", "--version"], capture_output=True, text=True, check=False)
    return done.stdout.splitlines()[0].strip() if done.stdout else "unknown"


def timed(fn: Any, *args: Any, **kwargs: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args, **kwargs)
    return time.perf_counter() - start, result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--ports", type=int, default=1000)
    parser.add_argument("--listeners", type=int, default=25)
    parser.add_argument("--concurrency", type=int, default=200)
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "ports.json")
    args = parser.parse_args()

    address = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
    port_range = list(range(FIRST_PORT, FIRST_PORT + args.ports))
    open_ports = sorted(random.sample(port_range, args.listeners))
    listeners = Listeners(address, open_ports)
    version = nmap_version()
    builtin_times: list[float] = []
    nmap_times: list[float] = []
    mismatches: list[dict[str, Any]] = []
    try:
        for run in range(args.runs):
            order = ["builtin", "nmap"] if run % 2 == 0 else ["nmap", "builtin"]
            for scanner in order:
                if scanner == "nmap" and version is None:
                    continue
                if scanner == "nmap":
                    elapsed, found = timed(scan_nmap, [address], port_range)
                    nmap_times.append(elapsed)
                else:
                    elapsed, found = timed(scan_builtin, [address], port_range, timeout=1.0,
                                           concurrency=args.concurrency)
                    builtin_times.append(elapsed)
                if found.get(address, []) != open_ports:
                    mismatches.append({"run": run, "scanner": scanner, "found": found.get(address, [])})
    finally:
        listeners.close()

    report: dict[str, Any] = {
        "benchmark": "tcp connect scan, loopback",
        "address": address,
        "ports_scanned": args.ports,
        "port_range": f"{port_range[0]}-{port_range[-1]}",
        "listeners": open_ports,
        "runs": args.runs,
        "builtin": {"concurrency": args.concurrency, "times_s": [round(t, 4) for t in builtin_times],
                    "median_s": round(statistics.median(builtin_times), 4),
                    "ports_per_s": round(args.ports / statistics.median(builtin_times))},
        "nmap": {"available": version is not None, "version": version,
                 "command": "nmap -sT -n -Pn -T4 --max-retries 1 -oX - -p <range> <address>"},
        "same_open_ports": not mismatches,
        "mismatches": mismatches,
        "host": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if version is not None:
        nmap_median = statistics.median(nmap_times)
        report["nmap"].update(times_s=[round(t, 4) for t in nmap_times], median_s=round(nmap_median, 4),
                              ports_per_s=round(args.ports / nmap_median))
        report["ratio_builtin_over_nmap"] = round(statistics.median(builtin_times) / nmap_median, 3)
    else:
        report["note"] = "nmap is not on PATH: only the built-in scanner was measured."
    text = json.dumps(report, indent=2)
    print(text)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text + "\n")
    return 0 if not mismatches else 1


if __name__ == "__main__":
    raise SystemExit(main())
