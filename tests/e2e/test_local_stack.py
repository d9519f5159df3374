"""The real embedded stack as a subprocess, over HTTP: start, scan, concurrency, clean stop."""

from __future__ import annotations

import concurrent.futures

import pytest
import requests

from tests.support.lab import Lab
from tests.support.stack import BOOTSTRAP_KEY, RunningStack

pytestmark = pytest.mark.e2e


def auth(key: str = BOOTSTRAP_KEY) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}


def test_stack_prints_the_bootstrap_key_and_answers_health(stack: RunningStack) -> None:
    assert stack.api_key == BOOTSTRAP_KEY
    assert requests.get(f"{stack.base_url}/v1/health", timeout=5).json()["status"] == "ok"


def test_scan_created_over_http_reads_back(stack: RunningStack, lab: Lab) -> None:
    created = requests.post(f"{stack.base_url}/v1/scans", headers=auth(),
                            json={"target": lab.good, "scan_type": "ports", "tags": ["e2e"]}, timeout=10)
    assert created.status_code == 202, created.text
    token = created.json()["scan_token"]
    scan = requests.get(created.json()["status_url"], headers=auth(), timeout=10).json()
    assert scan["scan_token"] == token and scan["status"] in ("pending", "scanning", "scoring", "complete")
    listed = requests.get(f"{stack.base_url}/v1/scans?tag=e2e", headers=auth(), timeout=10).json()
    assert [s["scan_token"] for s in listed["items"]] == [token]


def test_fifty_concurrent_identical_requests_create_one_scan(stack: RunningStack, lab: Lab) -> None:
    headers = {**auth(), "Idempotency-Key": "concurrent-e2e-1"}
    body = {"target": lab.good, "scan_type": "tls", "tags": ["concurrent"]}

    def post() -> requests.Response:
        return requests.post(f"{stack.base_url}/v1/scans", headers=headers, json=body, timeout=30)

    with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
        responses = list(pool.map(lambda _: post(), range(50)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {202, 409}, statuses
    tokens = {r.json()["scan_token"] for r in responses if r.status_code == 202}
    assert len(tokens) == 1
    listed = requests.get(f"{stack.base_url}/v1/scans?tag=concurrent", headers=auth(), timeout=10).json()
    assert [s["scan_token"] for s in listed["items"]] == list(tokens)
    replay = post()
    assert replay.status_code == 202 and replay.json()["scan_token"] in tokens


def test_unknown_key_is_401_problem(stack: RunningStack) -> None:
    response = requests.get(f"{stack.base_url}/v1/scans", headers=auth("pmk_" + "x" * 43), timeout=5)
    assert response.status_code == 401
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "unauthorized"
