"""Benchmark: the `webapp` check (built-in engine) vs wapiti alone vs sqlmap alone on the vulnerable app.

Usage: .venv/bin/python bench/bench_webapp.py [--runs 3] [--rate 50]

Each run starts a fresh tests/support/vulnapp.py app on a random 127.X.Y.Z (the guestbook starts
empty), scans it, and counts the requests server-side. Our check runs at `--rate` req/s (its default
is 10); wapiti (modules sql, blindsql, xss, permanentxss, file, exec, redirect) and sqlmap (crawl 3,
forms, level 1, risk 1, --smart) run directly against the app, unthrottled, as a user would run them.
Prints JSON (also bench/results/webapp.json): median seconds, median requests, findings by code.
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections import Counter
from pathlib import Path
from typing import Any, cast

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import dns.resolver  # noqa: E402

from chalicelib.scanners.base import ScanContext  # noqa: E402
from chalicelib.scanners.webapp import engines  # noqa: E402
from chalicelib.scanners.webapp.check import run  # noqa: E402
from tests.support.vulnapp import VulnApp  # noqa: E402

INFO = {"webapp-coverage", "robots-disallowed", "forms-skipped", "offsite-redirect"}


def ours(app: VulnApp, rate: float) -> Counter[str]:
    """Findings by code of our check (built-in engine only)."""
    options = types.SimpleNamespace(webapp={"engines": ["builtin"], "rate_limit": rate})
    ctx = ScanContext(resolver=dns.resolver.Resolver(configure=False),
                      allowed_networks=(ipaddress.ip_network("127.0.0.0/8"),), scan_options=cast(Any, options))
    result = run(app.base + "/", ctx)
    return Counter(f.code for f in result.findings if f.code not in INFO)


def _stand_in(app: VulnApp) -> Any:
    """What argv builders and parsers need of a proxy, pointing straight at the app."""
    return types.SimpleNamespace(base=app.base, host=app.host, client=types.SimpleNamespace(
        origin=types.SimpleNamespace(base=app.base)), to_origin=lambda text: text)


def tool(name: str, app: VulnApp) -> Counter[str]:
    """Findings by code of wapiti or sqlmap run alone against the app."""
    proxy = _stand_in(app)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        if name == "wapiti":
            argv = engines.wapiti_argv(proxy, "/", home / "r.json", home, 3, 90)
        else:
            argv = engines.sqlmap_argv(proxy, "/", home / "out", 3, 1000)
        subprocess.run(argv, cwd=home, env={"HOME": tmp, "PATH": "/usr/bin:/bin"}, capture_output=True,
                       timeout=300, check=False)
        if name == "wapiti":
            report = home / "r.json"
            found = engines.parse_wapiti(json.loads(report.read_text()), proxy) if report.exists() else []
        else:
            found = engines.parse_sqlmap(home / "out", proxy)
    return Counter(f.code for f in found)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rate", type=float, default=50.0)
    args = parser.parse_args()
    contenders = ["perimeter-builtin"] + [n for n in ("wapiti", "sqlmap") if engines.available(n)]
    figures: dict[str, Any] = {"runs": args.runs, "rate_limit_ours": args.rate, "results": {}}
    for name in contenders:
        seconds: list[float] = []
        requests: list[int] = []
        found: Counter[str] = Counter()
        for _ in range(args.runs):
            with tempfile.TemporaryDirectory() as docs:
                app = VulnApp(f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}",
                              safe=False, docs=Path(docs)).start()
                try:
                    started = time.perf_counter()
                    found = ours(app, args.rate) if name == "perimeter-builtin" else tool(name, app)
                    seconds.append(time.perf_counter() - started)
                    requests.append(sum(1 for h in app.hits if not h.user_agent.startswith("Python-urllib")))
                finally:
                    app.stop()
        figures["results"][name] = {"seconds_p50": round(statistics.median(seconds), 2),
                                    "requests_p50": int(statistics.median(requests)),
                                    "findings_by_code": dict(sorted(found.items()))}
    from bench.common import write

    write("webapp", figures)


if __name__ == "__main__":
    main()
