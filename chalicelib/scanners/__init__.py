"""Posture checks, one module per signal: `run(target, ctx) -> SignalResult`, never raising.

The pipeline builds a ScanContext from Settings and calls `run_signals`; `chalicelib.scans.scoring`
turns the results into a score.
"""

from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.checks import run_signals

__all__ = ["ScanContext", "run_signals"]
