"""Helpers shared by the benchmarks: percentiles and writing JSON results."""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

RESULTS = Path(__file__).resolve().parent / "results"
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def percentile(values: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank) of values."""
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(pct / 100 * len(ordered) + 0.5) - 1))
    return ordered[index]


def summary_ms(samples: list[float]) -> dict[str, float]:
    """p50/p95/p99/mean of seconds, in milliseconds."""
    ms = [s * 1000 for s in samples]
    return {"p50_ms": round(statistics.median(ms), 2), "p95_ms": round(percentile(ms, 95), 2),
            "p99_ms": round(percentile(ms, 99), 2), "mean_ms": round(statistics.fmean(ms), 2), "n": len(ms)}


def write(name: str, figures: dict[str, Any]) -> None:
    """Print figures as JSON and store them in bench/results/<name>.json."""
    RESULTS.mkdir(exist_ok=True)
    text = json.dumps(figures, indent=2, sort_keys=True)
    (RESULTS / f"{name}.json").write_text(text + "\n")
    print(text)
