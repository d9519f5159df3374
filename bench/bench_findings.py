"""Benchmark: findings beyond the table item. For 40 (posture-sized), 1,500 and 10,000 findings: the Score
step's split (ms), the item's findings JSON bytes, the object's gzipped bytes, and reading one page of 50
back through FindingsStore (cold: gunzip + parse; warm: the per-process cache). Prints JSON and writes
bench/results/findings.json.

Run from the repository root: `.venv/bin/python bench/bench_findings.py`.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "findings.json"
SIZES = (40, 1500, 10000)
RUNS = 5


def run() -> dict[str, Any]:
    """Time split, write and read for each size; return the figures."""
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    from chalicelib.scans.findings import FindingsStore, page_findings, split_findings
    from chalicelib.scans.models import Finding, Scan, ScanType, Severity, SignalKey, SignalResult, SignalStatus
    from tests.support.memory import MemoryObjectStore

    severities = list(Severity)
    out: dict[str, Any] = {"benchmark": "findings", "runs": RUNS, "sizes": {}}
    for size in SIZES:
        findings = [Finding(id=f"f-{i:06d}", signal=SignalKey.CONTAINER, severity=severities[i % 5],
                            code="container-vulnerability", title=f"CVE-2026-{i:05d} in libexample",
                            detail="A vulnerable package version is installed.", remediation="Upgrade libexample.",
                            cwe="CWE-79" if i % 3 == 0 else None,
                            evidence={"package": "libexample", "installed": f"1.{i}", "fixed": f"1.{i + 1}"})
                    for i in range(size)]
        signals = {"container": SignalResult(status=SignalStatus.COMPLETE, max_score=0, findings=findings)}
        split_ms: list[float] = []
        for _ in range(RUNS):
            started = time.perf_counter()
            split = split_findings("t", "scn_bench", signals)
            split_ms.append((time.perf_counter() - started) * 1000)
        objects = MemoryObjectStore()
        store = FindingsStore(lambda objects=objects: objects)  # type: ignore[misc]
        store.write(split)
        scan = Scan(scan_id="scn_bench", tenant_id="t", target="example.com/app:1", scan_type=ScanType.CONTAINER,
                    timeout_seconds=600, created_at="2026-12-07T00:00:00Z", updated_at="2026-12-07T00:00:00Z",
                    signals=split.signals, ready_threshold=65, findings_key=split.object_key,
                    findings_sha256=split.object_sha256)
        started = time.perf_counter()
        page_findings(store.all(scan), "scn_bench", limit=50)
        cold_ms = (time.perf_counter() - started) * 1000
        started = time.perf_counter()
        page_findings(store.all(scan), "scn_bench", severity=Severity.HIGH, limit=50)
        warm_ms = (time.perf_counter() - started) * 1000
        item_bytes = len(json.dumps({k: v.model_dump(mode="json") for k, v in split.signals.items()}))
        out["sizes"][str(size)] = {
            "in_object": split.object_key is not None,
            "split_ms_median": round(statistics.median(split_ms), 1),
            "item_signals_json_bytes": item_bytes,
            "object_gzip_bytes": len(split.object_body or b""),
            "first_page_cold_ms": round(cold_ms, 1),
            "page_warm_ms": round(warm_ms, 1),
            "object_puts": len(objects.objects),
        }
    return out


if __name__ == "__main__":
    figures = run()
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures, indent=2))
