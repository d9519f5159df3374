"""End-to-end scans on the embedded stack against a loopback test domain: latency, step times, throughput.

- latency: 20 posture scans of good.test one after another (submit -> complete; the five signals plus
  web, 1,000 ports), p50/p95; target p50 <= 3 s.
- steps: median time per ASL state from the executions' histories (bench/cost.py reads these).
- throughput: 4 concurrent submitters post 48 scans as fast as the API answers; scans completed per
  hour until the last one finishes; target >= 3,600 scans/h on 2 cores.
- reference, same run: the same checks called in-process (no API, no workflow, no subprocess).

Needs root for the lab's ports 80/443 on loopback (as the e2e tests do).
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from bench.common import summary_ms, write
from tests.support.lab import Lab
from tests.support.stack import RunningStack, start_stack

PORTS = "1-1000"
LATENCY_SCANS = 20
THROUGHPUT_SCANS = 48
SUBMITTERS = 4
STEPS = ("MarkScanning", "RunNetworkScanner", "RunIntelScanner", "Score", "RenderReport", "Finalize")


def scan_once(session: Any, stack: RunningStack, domain: str) -> tuple[float, str]:
    """Submit and poll until terminal; returns (seconds, scan id)."""
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    started = time.perf_counter()
    created = session.post(f"{stack.base_url}/v1/scans", json={"domain": domain}, headers=headers, timeout=30)
    created.raise_for_status()
    token = created.json()["scan_token"]
    while True:
        scan = session.get(f"{stack.base_url}/v1/scans/{token}", headers=headers, timeout=30).json()
        if scan["status"] in ("complete", "failed", "cancelled"):
            if scan["status"] != "complete":
                raise RuntimeError(f"scan {token} ended {scan['status']}: {scan.get('error')}")
            return time.perf_counter() - started, token
        time.sleep(0.02)


def step_seconds(stack: RunningStack, tokens: list[str]) -> dict[str, float]:
    """Median seconds per state over the executions of `tokens` (from Step Functions histories)."""
    import boto3

    sfn = boto3.client("stepfunctions", endpoint_url=stack.aws_endpoint, region_name="us-east-1",
                       aws_access_key_id="testing", aws_secret_access_key="testing")
    machine = sfn.list_state_machines()["stateMachines"][0]["stateMachineArn"]
    prefix = machine.replace(":stateMachine:", ":execution:")
    samples: dict[str, list[float]] = defaultdict(list)
    for token in tokens:
        entered: dict[str, Any] = {}
        for event in sfn.get_execution_history(executionArn=f"{prefix}:{token}", maxResults=1000)["events"]:
            details = event.get("stateEnteredEventDetails") or event.get("stateExitedEventDetails")
            if not details or details["name"] not in STEPS:
                continue
            if "stateEnteredEventDetails" in event:
                entered[details["name"]] = event["timestamp"]
            elif details["name"] in entered:
                samples[details["name"]].append((event["timestamp"] - entered[details["name"]]).total_seconds())
    return {name: round(statistics.median(values), 3) for name, values in samples.items()}


def cpu_seconds(pid: int) -> dict[str, float]:
    """CPU seconds used so far by the stack process itself and by the whole machine (Linux /proc)."""
    ticks = os.sysconf("SC_CLK_TCK")
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    own = (int(fields[11]) + int(fields[12])) / ticks
    cpu = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    busy = (sum(int(v) for v in cpu) - int(cpu[3]) - int(cpu[4])) / ticks  # minus idle and iowait
    return {"stack_process": own, "machine": busy}


def reference(lab: Lab) -> dict[str, float]:
    """The same checks in-process, both groups at once: what a scan costs without the pipeline."""
    from chalicelib.core.contract import SIGNAL_GROUPS
    from chalicelib.scanners.checks import run_signals

    ctx = lab.context("good.test", ports=PORTS, https_port=443, http_port=80, tls_ports=(443,))
    signals = [s for group in SIGNAL_GROUPS.values() for s in group]
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        run_signals("good.test", signals, ctx)
        samples.append(time.perf_counter() - started)
    return summary_ms(samples)


def main() -> int:
    import requests

    with tempfile.TemporaryDirectory() as directory:
        lab = Lab(Path(directory), standard_ports=True)
        try:
            lab.start()
        except PermissionError as exc:
            print(f"bench_pipeline: needs root for ports 80/443 on loopback: {exc}", file=sys.stderr)
            return 0
        stack = start_stack(lab.stack_env(PERIMETER_SCAN_PORTS=PORTS, PERIMETER_RATE_LIMIT="1000000"))
        try:
            session = requests.Session()
            scan_once(session, stack, "good.test")  # warm-up: imports in the dispatcher, first clients
            latencies, tokens = [], []
            for _ in range(LATENCY_SCANS):
                seconds, token = scan_once(session, stack, "good.test")
                latencies.append(seconds)
                tokens.append(token)

            # Throughput: 4 submitters each post their share as fast as the API answers, then we wait
            # for every scan to finish, watching the list (one poll every 0.5 s, not one per scan).
            run_tag = f"bench-{int(time.time())}"

            def submitter(count: int) -> list[str]:
                own = requests.Session()
                headers = {"Authorization": f"Bearer {stack.api_key}"}
                return [own.post(f"{stack.base_url}/v1/scans", headers=headers, timeout=30,
                                 json={"domain": "good.test", "tags": [run_tag]}).json()["scan_token"]
                        for _ in range(count)]

            cpu_before = cpu_seconds(stack.process.pid)
            started = time.perf_counter()
            with ThreadPoolExecutor(SUBMITTERS) as pool:
                submitted = [t for tokens_ in pool.map(submitter, [THROUGHPUT_SCANS // SUBMITTERS] * SUBMITTERS)
                             for t in tokens_]
            submit_seconds = time.perf_counter() - started
            finished: dict[str, str] = {}
            while len(finished) < len(submitted) and time.perf_counter() - started < 600:
                time.sleep(0.5)
                cursor: str | None = None
                while True:
                    page = session.get(f"{stack.base_url}/v1/scans", timeout=30,
                                       headers={"Authorization": f"Bearer {stack.api_key}"},
                                       params={"tag": run_tag, "limit": 100, **({"cursor": cursor} if cursor else {})}
                                       ).json()
                    finished.update({s["scan_token"]: s["status"] for s in page["items"]
                                     if s["status"] in ("complete", "failed", "cancelled")})
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
            elapsed = time.perf_counter() - started
            cpu_after = cpu_seconds(stack.process.pid)
            completed = sum(1 for status in finished.values() if status == "complete")
            figures = {
                "latency": {**summary_ms(latencies), "target_p50_ms": 3000},
                "step_seconds": step_seconds(stack, tokens),
                "throughput": {"submitted": len(submitted), "completed": completed, "submitters": SUBMITTERS,
                               "submit_seconds": round(submit_seconds, 2), "seconds": round(elapsed, 1),
                               "scans_per_hour": round(completed / elapsed * 3600), "target_scans_per_hour": 3600,
                               "cpu_seconds_per_scan": {
                                   key: round((cpu_after[key] - cpu_before[key]) / max(1, completed), 3)
                                   for key in cpu_after}},
                "reference_in_process_checks": reference(lab),
                "ports": PORTS,
            }
        finally:
            stack.stop()
            lab.stop()
    write("bench_pipeline", figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
