"""Run a scan's signal checks concurrently and collect their results."""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from chalicelib.scanners import breach, mail, reputation, tls, web, webapp
from chalicelib.scanners import open_ports as ports
from chalicelib.scanners.base import Check, ScanContext
from chalicelib.scanners.container import check as container
from chalicelib.scans.models import SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES

CHECKS: dict[SignalKey, Check] = {
    SignalKey.SCAN: ports.run,
    SignalKey.BREACH: breach.run,
    SignalKey.REPUTATION: reputation.run,
    SignalKey.MAIL: mail.run,
    SignalKey.LAYER: tls.run,
    SignalKey.WEB: web.run,
    SignalKey.WEBAPP: webapp.run,
    SignalKey.CONTAINER: container.run,
}


def run_signals(target: str, signals: Sequence[str], ctx: ScanContext,
                checks: dict[SignalKey, Check] | None = None) -> dict[str, SignalResult]:
    """Run each named signal's check on `target`, one thread per check; results keyed by signal.

    Checks never raise; a crash that escapes one anyway becomes that signal's `error`.
    Raises ValueError for an unknown signal name (before anything runs).
    """
    table = checks or CHECKS
    keys = [SignalKey(s) for s in dict.fromkeys(signals)]
    missing = [k.value for k in keys if k not in table]
    if missing:
        raise ValueError(f"no check for signal(s) {', '.join(missing)}")
    if not keys:
        return {}
    with ThreadPoolExecutor(max_workers=len(keys), thread_name_prefix="check") as pool:
        futures = {key: pool.submit(table[key], target, ctx) for key in keys}
        results: dict[str, SignalResult] = {}
        for key, future in futures.items():
            try:
                results[key.value] = future.result()
            except Exception as exc:  # defensive: checks are wrapped by safe_check already
                results[key.value] = SignalResult(status=SignalStatus.ERROR, max_score=MAX_SCORES[key],
                                                  error=f"{type(exc).__name__}: {exc}")
    return results
