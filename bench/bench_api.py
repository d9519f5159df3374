"""API latency through the embedded stack: POST /v1/scans and GET /v1/scans/{t}, 500 requests each.

Targets (issue 2): p50 <= 30 ms for POST, <= 15 ms for GET. The reference in the same run is
GET /v1/health (no auth, no AWS call): the floor of the local HTTP server itself. The pipeline is
switched off (PERIMETER_LOCAL_PIPELINE=off): the figure is the API's, and the 520 scans it creates
are never run (their target is a documentation address, 192.0.2.10, allowed for the run only).
"""

from __future__ import annotations

import time

import requests

from bench.common import summary_ms, write
from tests.support.stack import start_stack

N = 500


def main() -> None:
    """Start the stack, time N requests per operation on one keep-alive connection, write JSON."""
    stack = start_stack({"PERIMETER_RATE_LIMIT": "1000000", "PERIMETER_LOCAL_PIPELINE": "off",
                         "PERIMETER_ALLOW_PRIVATE_TARGETS": "192.0.2.0/24"})
    try:
        session = requests.Session()
        headers = {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}
        body = {"target": "192.0.2.10", "scan_type": "ports"}
        for _ in range(20):  # warm up imports, clients and connections
            token = session.post(f"{stack.base_url}/v1/scans", json=body, headers=headers, timeout=10).json()
            session.get(f"{stack.base_url}/v1/scans/{token['scan_token']}", headers=headers, timeout=10)
        post, get, health, tokens = [], [], [], []
        for _ in range(N):
            started = time.perf_counter()
            response = session.post(f"{stack.base_url}/v1/scans", json=body, headers=headers, timeout=10)
            post.append(time.perf_counter() - started)
            assert response.status_code == 202, response.text
            tokens.append(response.json()["scan_token"])
        for token in tokens:
            started = time.perf_counter()
            response = session.get(f"{stack.base_url}/v1/scans/{token}", headers=headers, timeout=10)
            get.append(time.perf_counter() - started)
            assert response.status_code == 200
        for _ in range(N):
            started = time.perf_counter()
            session.get(f"{stack.base_url}/v1/health", timeout=10)
            health.append(time.perf_counter() - started)
        figures = {
            "startup_seconds": round(stack.startup_seconds, 2),
            "post_scans": summary_ms(post), "get_scan": summary_ms(get), "reference_health": summary_ms(health),
            "targets": {"post_p50_ms": 30, "get_p50_ms": 15},
        }
        figures["met"] = {"post": figures["post_scans"]["p50_ms"] <= 30, "get": figures["get_scan"]["p50_ms"] <= 15}
        write("api_latency", figures)
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
