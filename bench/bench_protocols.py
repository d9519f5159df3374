"""Benchmark: the protocol probes against nmap's NSE scripts on the same loopback doubles.

Usage: .venv/bin/python bench/bench_protocols.py [--runs 5]   (as root: the doubles bind standard ports)

Starts the doubles of tests/support/services.py on their standard ports (21, 22, 25, 6379, 27017, 11211)
of a random 127.X.Y.Z, runs each probe and the matching NSE script (ftp-anon, ssh2-enum-algos,
smtp-commands, redis-info, mongodb-info, memcached-info) alternately, checks they agree on the verdict,
and prints JSON medians (also bench/results/protocols.json). Without nmap only our figures are reported.
"""

from __future__ import annotations

import argparse
import ipaddress
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dns.resolver  # noqa: E402

from chalicelib.scanners.base import ScanContext  # noqa: E402
from chalicelib.scanners.identify.model import Service  # noqa: E402
from chalicelib.scanners.protocols import (  # noqa: E402
    check_ftp,
    check_memcached,
    check_mongodb,
    check_redis,
    check_ssh,
)
from chalicelib.scanners.smtp import probe_mx  # noqa: E402
from tests.support.services import (  # noqa: E402
    FtpServer,
    MemcachedServer,
    MongoServer,
    RedisServer,
    SmtpServer,
    SshServer,
    loopback_address,
)

WEAK_SSH = (["diffie-hellman-group1-sha1", "curve25519-sha256"], ["ssh-rsa"], ["aes128-ctr", "3des-cbc"],
            ["hmac-sha2-256", "hmac-md5"])


def ours_verdict(name: str, address: str, ctx: ScanContext) -> tuple[float, bool]:
    """(seconds, finding made) for our probe of `name` on its standard port."""
    checks: dict[str, tuple[Callable[[Service, ScanContext], list[Any]], int]] = {
        "ftp": (check_ftp, 21), "ssh": (check_ssh, 22), "redis": (check_redis, 6379),
        "mongodb": (check_mongodb, 27017), "memcached": (check_memcached, 11211),
    }
    started = time.perf_counter()
    if name == "smtp":
        session = probe_mx("mx.bench.test", address, ctx)
        return time.perf_counter() - started, not session.starttls
    check, port = checks[name]
    found = check(Service(address, port, name), ctx)
    return time.perf_counter() - started, bool(found)


NSE = {"ftp": ("ftp-anon", 21, "Anonymous FTP login allowed"), "ssh": ("ssh2-enum-algos", 22, "3des-cbc"),
       "smtp": ("smtp-commands", 25, "STARTTLS"), "redis": ("redis-info", 6379, "Version"),
       "mongodb": ("mongodb-info", 27017, "version"), "memcached": ("memcached-info", 11211, "Uptime")}


def nmap_verdict(name: str, address: str) -> tuple[float, bool, str]:
    """(seconds, the NSE output shows the exposure, output) for nmap's script of `name`."""
    script, port, marker = NSE[name]
    started = time.perf_counter()
    done = subprocess.run(["nmap", "-sT", "-Pn", "-n", "-p", str(port), "--script", script, address],
                          capture_output=True, text=True, timeout=60, check=False)
    elapsed = time.perf_counter() - started
    shown = marker in done.stdout
    return elapsed, (not shown if name == "smtp" else shown), done.stdout


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    address = loopback_address()
    servers = [FtpServer(anonymous=True, host=address, port=21).start(),
               SshServer(*WEAK_SSH, host=address, port=22).start(),
               SmtpServer(host=address, port=25).start(),
               RedisServer(host=address, port=6379).start(),
               MongoServer(auth=False, host=address, port=27017).start(),
               MemcachedServer(host=address, port=11211).start()]
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False),
                      allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), connect_timeout=2.0, smtp_port=25)
    have_nmap = shutil.which("nmap") is not None
    figures: dict[str, Any] = {"runs": args.runs, "nmap": have_nmap, "protocols": {}}
    try:
        for name in ("ftp", "ssh", "smtp", "redis", "mongodb", "memcached"):
            ours: list[float] = []
            theirs: list[float] = []
            verdicts: set[tuple[str, bool]] = set()
            for _ in range(args.runs):
                seconds, found = ours_verdict(name, address, ctx)
                ours.append(seconds)
                verdicts.add(("ours", found))
                if have_nmap:
                    seconds, shown, _ = nmap_verdict(name, address)
                    theirs.append(seconds)
                    verdicts.add(("nmap", shown))
            entry: dict[str, Any] = {"ours_p50_ms": round(statistics.median(ours) * 1000, 2),
                                     "ours_finding": sorted(v for k, v in verdicts if k == "ours")}
            if theirs:
                entry.update(nmap_script=NSE[name][0], nmap_p50_ms=round(statistics.median(theirs) * 1000, 2),
                             nmap_shows_exposure=sorted(v for k, v in verdicts if k == "nmap"))
            figures["protocols"][name] = entry
    finally:
        for server in servers:
            server.stop()
    from bench.common import write

    write("protocols", figures)


if __name__ == "__main__":
    main()
