"""Benchmark: render the PDF report of a 40-finding scan 30 times; print JSON and write bench/results/pdf.json.

Run from the repository root: `.venv/bin/python bench/bench_pdf.py` (or `python -m bench.bench_pdf`).
Targets: p50 <= 150 ms, file <= 150 KB.
"""

from __future__ import annotations

import json
import os
import platform
import re
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "pdf.json"
RUNS = 30
FINDINGS = 40
TARGET_P50_MS = 150.0
TARGET_BYTES = 150 * 1000


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100)."""
    ordered = sorted(samples)
    rank = max(1, round(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def run(runs: int = RUNS) -> dict[str, Any]:
    """Render `runs` times after one cold render; return the figures."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from chalicelib.reports.model import report_data
    from chalicelib.reports.pdf import find_fonts, fonts_for, render_pdf
    from tests.unit.reports.factories import T0, make_branding, make_findings, make_scan

    data = report_data(make_scan(make_findings(FINDINGS)), make_branding(), T0)
    started = time.perf_counter()
    body = render_pdf(data)  # cold: loads fonts, builds the compact font cache if absent
    cold_ms = (time.perf_counter() - started) * 1000
    samples: list[float] = []
    for _ in range(runs):
        started = time.perf_counter()
        body = render_pdf(data)
        samples.append((time.perf_counter() - started) * 1000)
    p50, p95 = statistics.median(samples), percentile(samples, 95)
    return {
        "benchmark": "pdf_render",
        "findings": FINDINGS,
        "runs": runs,
        "p50_ms": round(p50, 1),
        "p95_ms": round(p95, 1),
        "min_ms": round(min(samples), 1),
        "max_ms": round(max(samples), 1),
        "cold_first_render_ms": round(cold_ms, 1),
        "file_bytes": len(body),
        "pages": len(re.findall(rb"/Type /Page\b", body)),
        "font_set": "compact" if fonts_for(data) != find_fonts() else "full",
        "targets": {"p50_ms": TARGET_P50_MS, "file_bytes": TARGET_BYTES},
        "met": {"p50_ms": p50 <= TARGET_P50_MS, "file_bytes": len(body) <= TARGET_BYTES},
        "environment": {
            "python": platform.python_version(),
            "fpdf2": metadata.version("fpdf2"),
            "fonttools": metadata.version("fonttools"),
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        },
    }


def run_render_and_store(runs: int = RUNS) -> dict[str, Any]:
    """`ReportService.render_and_store` end to end on the in-memory fakes: PDF, JSON, seal, record."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from chalicelib.bootstrap import Services
    from chalicelib.core.settings import Settings
    from tests.support.fakes import FakeResolver
    from tests.support.memory import MemoryObjectStore, MemoryStore, RecordingWorkflow
    from tests.unit.reports.factories import make_findings, make_scan

    services = Services(Settings.from_env({}, key_pepper="bench-pepper-0123456789"), store=MemoryStore(),
                        workflow=RecordingWorkflow(), resolver=FakeResolver(), objects=MemoryObjectStore())
    scan = make_scan(make_findings(FINDINGS)).model_copy(update={"tenant_id": "bench", "completed_at": None})
    services.scans.repo.add(scan)
    services.reports.render_and_store("bench", scan.scan_id)  # warm: imports, font cache
    samples: list[float] = []
    result: dict[str, Any] = {}
    for _ in range(runs):
        started = time.perf_counter()
        result = services.reports.render_and_store("bench", scan.scan_id)
        samples.append((time.perf_counter() - started) * 1000)
    return {
        "benchmark": "render_and_store_memory",
        "runs": runs,
        "p50_ms": round(statistics.median(samples), 1),
        "p95_ms": round(percentile(samples, 95), 1),
        "min_ms": round(min(samples), 1),
        "report_bytes": result["report_bytes"],
    }


def main() -> None:
    """Run the benchmark, print its JSON and store it under bench/results/."""
    figures = run()
    figures["render_and_store"] = run_render_and_store()
    text = json.dumps(figures, indent=2, sort_keys=True)
    print(text)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
