"""Benchmark: a full posture scan of one loopback lab host against `nmap -sT -sV` on the same listeners.

Usage: .venv/bin/python -m bench.bench_posture [--runs 5] [--nmap-runs 1] [--target 3.0]

Starts bench/posture_lab.py (every fake service of tests/support on one random 127.X.Y.Z, its DNS
zone, an HTTPS site from a test CA, a breach API), then runs every posture signal through
`run_signals` as the scanner task does (intel loaded once beforehand, nmap on PATH for the port
scan, identification on every open port, nmap's probe file parsed afresh each run as in a fresh
task), and, alternating with it, `nmap -sT -sV --version-light` and `nmap -sT -sV` on the listeners.
Prints JSON (also bench/results/posture.json): p50/p90 wall time, per-signal and per-stage times,
ports identified, what each tool named per port, agreement, and the wall-time ratios.

Exits 1 when the p50 is above --target seconds, a signal did not complete, or a port nmap names is
left unnamed by the scan.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from threading import Lock
from typing import Any

from bench.bench_identify import nmap, same
from bench.common import percentile, write
from bench.posture_lab import DOMAIN, PostureLab
from chalicelib.scanners import dns_hygiene, exposure, mail, open_ports, tls, web
from chalicelib.scanners.base import Check, ScanContext
from chalicelib.scanners.checks import CHECKS, run_signals
from chalicelib.scanners.identify import fingerprints
from chalicelib.scanners.intel.store import load_intel
from chalicelib.scans.models import SignalKey, SignalResult, SignalStatus

POSTURE = [k.value for k in SignalKey]
Named = tuple[str | None, str | None]

# (module, function, label): the stages timed inside the signals (wall time of each call, summed per run).
STAGES: tuple[tuple[Any, str, str], ...] = (
    (open_ports, "scan_guarded", "scan.port_scan"),
    (open_ports, "identify_found", "scan.identify"),
    (open_ports, "service_findings", "scan.exposure_checks"),
    (open_ports, "dangling_cname_findings", "scan.dangling_cnames"),
    (tls, "inspect_endpoint", "layer.tls_endpoint"),
    (dns_hygiene, "layer_issues", "layer.dns_hygiene"),
    (web, "sensitive_file_findings", "web.sensitive_files"),
    (mail, "smtp_findings", "mail.smtp"),
)


class Timings:
    """Seconds per label, summed over the calls of one run (thread-safe)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._lock = Lock()

    def timed(self, label: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        """`fn`, adding the wall time of each call to `label`."""

        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.seconds[label] = self.seconds.get(label, 0.0) + time.perf_counter() - started

        wrapper.__name__ = getattr(fn, "__name__", label)
        return wrapper


@contextmanager
def instrumented(timings: Timings) -> Iterator[dict[SignalKey, Check]]:
    """Time the STAGES and each exposure check (busy time summed over services) while inside; yields the
    signal checks, each timed as `signal.<name>`. Everything is restored on exit."""
    saved = [(module, name, getattr(module, name)) for module, name, _ in STAGES]
    saved.append((exposure, "SERVICE_CHECKS", exposure.SERVICE_CHECKS))
    try:
        for module, name, label in STAGES:
            setattr(module, name, timings.timed(label, getattr(module, name)))
        exposure.SERVICE_CHECKS = tuple(timings.timed(f"exposure.{c.__name__} (busy)", c)
                                        for c in exposure.SERVICE_CHECKS)
        yield {key: timings.timed(f"signal.{key.value}", check) for key, check in CHECKS.items()}
    finally:
        for module, name, original in saved:
            setattr(module, name, original)


def posture_scan(ctx: ScanContext) -> tuple[float, dict[str, SignalResult], dict[str, float]]:
    """One posture scan of the lab, cold probe file: (wall seconds, results, stage seconds)."""
    fingerprints._nmap_probes.cache_clear()
    timings = Timings()
    with instrumented(timings) as checks:
        started = time.perf_counter()
        results = run_signals(DOMAIN, POSTURE, ctx, checks)
        elapsed = time.perf_counter() - started
    return elapsed, results, timings.seconds


def scan_named(result: SignalResult) -> dict[int, Named]:
    """{port: (product, version)} from the scan signal's per-port findings."""
    return {int(f.evidence["port"]): (f.product, f.version) for f in result.findings
            if "scanner" in f.evidence and "port" in f.evidence}


def _stats(values: list[float]) -> dict[str, float]:
    return {"p50_s": round(statistics.median(values), 3), "p90_s": round(percentile(values, 90), 3),
            "min_s": round(min(values), 3), "max_s": round(max(values), 3)}


def _label(named: Named) -> str | None:
    return " ".join(filter(None, named)) or None


def compare(lab: PostureLab, tools: dict[str, dict[int, Named]]) -> list[dict[str, Any]]:
    """Per listener: what each tool named and whether it agrees with `nmap_sV` (product and version)."""
    rows = []
    for label, port in sorted(lab.listeners.items(), key=lambda item: item[1]):
        row: dict[str, Any] = {"listener": label, "port": port,
                               **{tool: _label(found.get(port, (None, None))) for tool, found in tools.items()}}
        if "nmap_sV" in tools:
            reference = tools["nmap_sV"].get(port, (None, None))
            row["agree"] = {tool: same(found.get(port, (None, None)), reference)
                            for tool, found in tools.items() if tool != "nmap_sV"}
        rows.append(row)
    return rows


def failures(p50: float, target: float, statuses: dict[str, str], ours: list[dict[int, Named]],
             nmap_named: dict[str, dict[int, Named]]) -> list[str]:
    """Why the benchmark fails: p50 over target, a signal not complete, a port an nmap run named that a scan
    (any run) left unnamed."""
    reasons = [f"p50 {p50:.2f} s > {target} s"] if p50 > target else []
    reasons += [f"signal {k} ended {v}" for k, v in statuses.items() if v != SignalStatus.COMPLETE.value]
    for tool, found in nmap_named.items():
        for port, named in sorted(found.items()):
            missed = sum(1 for run in ours if not run.get(port, (None, None))[0])
            if named[0] and missed:
                reasons.append(f"{tool} names port {port} ({_label(named)}), {missed} scan(s) did not")
    return reasons


@dataclass
class Measured:
    """Everything one benchmark run collected."""

    walls: list[float] = field(default_factory=list)
    signals: dict[str, list[float]] = field(default_factory=dict)
    stages: dict[str, list[float]] = field(default_factory=dict)
    statuses: dict[str, str] = field(default_factory=dict)
    ours: list[dict[int, Named]] = field(default_factory=list)  # per run
    codes: dict[str, list[str]] = field(default_factory=dict)  # the first run's finding codes per signal
    nmap_times: dict[str, list[float]] = field(default_factory=dict)
    nmap_named: dict[str, dict[int, Named]] = field(default_factory=dict)

    def add_scan(self, elapsed: float, results: dict[str, SignalResult], seconds: dict[str, float]) -> None:
        """Record one posture scan; a signal that did not complete in any run keeps that status."""
        self.walls.append(elapsed)
        for label, value in seconds.items():
            (self.signals if label.startswith("signal.") else self.stages).setdefault(label, []).append(value)
        for key, result in results.items():
            if self.statuses.get(key, SignalStatus.COMPLETE.value) == SignalStatus.COMPLETE.value:
                self.statuses[key] = result.status.value
        self.ours.append(scan_named(results[SignalKey.SCAN.value]))
        self.codes = self.codes or {k: sorted({f.code for f in r.findings}) for k, r in results.items()}


def measure(lab: PostureLab, ctx: ScanContext, runs: int, nmap_runs: int) -> Measured:
    """`runs` posture scans alternating with `nmap_runs` of each nmap -sV variant (none without nmap)."""
    tools = {"nmap_sV_light": True, "nmap_sV": False} if shutil.which("nmap") and nmap_runs > 0 else {}
    measured = Measured(nmap_times={t: [] for t in tools})
    for run in range(max(runs, nmap_runs if tools else 0)):
        if run < runs:
            measured.add_scan(*posture_scan(ctx))
        for tool, light in tools.items():
            if run < nmap_runs:
                took, found = nmap(lab.host, lab.ports, light)
                measured.nmap_times[tool].append(took)
                measured.nmap_named.setdefault(tool, {p: (" ".join(n[0].split()), n[1])  # nmap keeps "lab "
                                                      for p, n in found.items() if n[0] and n[0].strip()})
    return measured


def _medians(series: dict[str, list[float]], prefix: str = "") -> dict[str, float]:
    return {k.removeprefix(prefix): round(statistics.median(v), 3) for k, v in sorted(series.items())}


def build_report(lab: PostureLab, ctx: ScanContext, measured: Measured, target: float) -> dict[str, Any]:
    """The JSON figures, with `failures` listing why the benchmark fails (empty when it holds)."""
    ours = measured.ours[0]
    unstable = sorted({p for run in measured.ours[1:] for p in lab.ports if run.get(p) != ours.get(p)})
    tools = {"ours": ours, **measured.nmap_named}
    rows = compare(lab, tools)
    p50 = statistics.median(measured.walls)
    report: dict[str, Any] = {
        "benchmark": "posture scan (every signal) of one loopback lab host vs nmap -sT -sV",
        "address": lab.host, "listeners": len(lab.listeners), "ports_scanned": ctx.ports,
        "runs": len(measured.walls), "posture_s": [round(w, 3) for w in measured.walls],
        "posture": _stats(measured.walls), "target_p50_s": target,
        "signals_median_s": _medians(measured.signals, "signal."), "stages_median_s": _medians(measured.stages),
        "statuses": measured.statuses, "finding_codes": measured.codes,
        "ports_identified": sum(1 for p in lab.ports if ours.get(p, (None, None))[0]),
        "ports_open_reported": sorted(ours), "ports_named_differently_across_runs": unstable, "per_port": rows,
        "host": {"python": platform.python_version(), "cpus": os.cpu_count(), "platform": platform.platform()},
    }
    if measured.nmap_times:
        version = subprocess.run(["nmap", "--version"], capture_output=True, text=True, check=False).stdout
        report["nmap"] = {"version": version.splitlines()[0] if version else None,
                          "times_s": {t: [round(x, 3) for x in v] for t, v in measured.nmap_times.items()},
                          "median_s": _medians(measured.nmap_times),
                          "named": {t: len(n) for t, n in measured.nmap_named.items()}}
        for tool, times in measured.nmap_times.items():
            report[f"ratio_posture_over_{tool}"] = round(p50 / statistics.median(times), 3)
        report["agreement_with_nmap_sV"] = {t: sum(r["agree"][t] for r in rows) for t in tools if t != "nmap_sV"}
    else:
        report["nmap"] = {"note": "nmap not on PATH or --nmap-runs 0: only the posture scan was measured."}
    report["failures"] = failures(p50, target, measured.statuses, measured.ours, measured.nmap_named)
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--nmap-runs", type=int, default=1, help="runs of each nmap -sV variant (0: none)")
    parser.add_argument("--target", type=float, default=3.0, help="p50 ceiling in seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-posture-") as tmp:
        lab = PostureLab(Path(tmp)).start()
        try:
            os.environ["SSL_CERT_FILE"] = os.environ["REQUESTS_CA_BUNDLE"] = str(lab.ca.ca_file)
            loaded = time.perf_counter()
            ctx = lab.context(intel=load_intel())  # the scanner task loads the intel once, before its checks
            intel_s = time.perf_counter() - loaded
            measured = measure(lab, ctx, max(1, args.runs), args.nmap_runs)
        finally:
            lab.stop()
    report = build_report(lab, ctx, measured, args.target)
    report["intel_load_s"] = round(intel_s, 3)
    write("posture", report)
    return 1 if report["failures"] else 0


if __name__ == "__main__":
    raise SystemExit(main())
