"""Posture checks, one module per signal: `run(target, ctx) -> SignalResult`, never raising.

`checks.run_signals` runs the requested signals with a `base.ScanContext` built from Settings;
`task` is the scanner task's entry point (the container and the embedded stack's runner);
`chalicelib.scans.scoring` turns the results into a score.
"""
