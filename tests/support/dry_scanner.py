"""A scanner task for stacks whose targets must never be touched (the schemathesis run).

It keeps the whole task contract (env validation, evidence in S3, heartbeats, task token) but its
checks report every signal `not_tested` without opening a socket: schemathesis submits arbitrary
public targets, and tests may not send traffic beyond loopback.
"""

from __future__ import annotations

import sys
from typing import Any

from chalicelib.scanners.task import main
from chalicelib.scans.models import SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES


def dry_checks(target: str, signals: list[str], options: Any) -> dict[str, SignalResult]:
    """Every signal `not_tested`, with the reason."""
    return {s: SignalResult(status=SignalStatus.NOT_TESTED, max_score=MAX_SCORES[SignalKey(s)],
                            error="dry run: this stack never contacts targets") for s in signals}


if __name__ == "__main__":
    sys.exit(main(run_checks=dry_checks))
