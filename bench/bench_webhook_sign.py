"""Webhook signing throughput: `sign()` calls per second for a 2 KB body.

Measures one secret and two (a rotation overlap), best of several rounds. Prints JSON and writes
bench/results/webhook_sign.json. Run: `python bench/bench_webhook_sign.py [--seconds 1.0]`.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from chalicelib.webhooks.signing import new_secret, sign

BODY_BYTES = 2048
RESULT = Path(__file__).resolve().parent / "results" / "webhook_sign.json"


def _rate(secrets: list[str], body: bytes, seconds: float) -> tuple[float, int]:
    """Signs per second over about `seconds`, and the number of signs made."""
    timestamp, count = int(time.time()), 0
    started = time.perf_counter()
    deadline = started + seconds
    while True:
        for _ in range(500):
            sign(secrets, f"msg_{count}", timestamp, body)
            count += 1
        now = time.perf_counter()
        if now >= deadline:
            return count / (now - started), count


def run(seconds: float, rounds: int) -> dict[str, object]:
    """Best-of-`rounds` rates for one and two secrets."""
    body = (b'{"event":"scan.completed","data":"' + os.urandom(BODY_BYTES).hex().encode())[: BODY_BYTES - 2] + b'"}'
    assert len(body) == BODY_BYTES
    one, two = [new_secret()], [new_secret(), new_secret()]
    single = max(_rate(one, body, seconds)[0] for _ in range(rounds))
    rotation = max(_rate(two, body, seconds)[0] for _ in range(rounds))
    return {
        "benchmark": "webhook_sign",
        "body_bytes": BODY_BYTES,
        "signs_per_second": round(single),
        "microseconds_per_sign": round(1e6 / single, 2),
        "signs_per_second_two_secrets": round(rotation),
        "seconds_per_round": seconds,
        "rounds": rounds,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main() -> None:
    """Run, print and save the result."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    result = run(args.seconds, args.rounds)
    text = json.dumps(result, indent=2)
    print(text)
    RESULT.parent.mkdir(parents=True, exist_ok=True)
    RESULT.write_text(text + "\n")


if __name__ == "__main__":
    main()
