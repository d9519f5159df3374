"""The real embedded stack as a subprocess, over HTTP: start, scan, concurrency, clean stop."""

from __future__ import annotations

import concurrent.futures
import socket
import time
from urllib.parse import urlsplit

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


@pytest.mark.parametrize(("method", "path", "headers", "body", "status", "code"), [
    ("GET", "/v1/nope", {}, None, 404, "not-found"),
    ("GET", "/v1/nope", {"Authorization": "Bearer pmk_whatever"}, None, 404, "not-found"),
    ("PUT", "/v1/scans", {"Content-Type": "application/json"}, b"{}", 405, "method-not-allowed"),
    ("POST", "/v1/scans", {"Content-Type": "text/plain"}, b"target=x", 415, "unsupported-media-type"),
    ("POST", "/v1/scans", {"Content-Type": "application/json"}, b"[" * 5000 + b"]" * 5000, 400, "json-too-deep"),
    ("GET", "/v1/health", {"X-Big": "a" * 70_000}, None, 431, "request-header-fields-too-large"),
])
def test_bad_input_is_a_problem_with_its_code(stack: RunningStack, method: str, path: str, headers: dict[str, str],
                                               body: bytes | None, status: int, code: str) -> None:
    all_headers = {"Authorization": f"Bearer {BOOTSTRAP_KEY}", **headers}
    response = requests.request(method, f"{stack.base_url}{path}", headers=all_headers, data=body, timeout=10)
    assert response.status_code == status, response.text[:300]
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == code


def test_an_unauthenticated_huge_body_is_refused_before_it_is_read(stack: RunningStack) -> None:
    url = urlsplit(stack.base_url)
    declared = 200 << 20
    head = (f"POST /v1/scans HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {declared}\r\n\r\n").encode()
    started = time.monotonic()
    with socket.create_connection((url.hostname, url.port), timeout=10) as sock:
        sock.sendall(head + b" " * 4096)
        answer = b""
        while b"\r\n\r\n" not in answer:
            chunk = sock.recv(65536)
            assert chunk, answer
            answer += chunk
        sent, refused = 0, False
        try:  # the server has closed: the rest of the body cannot go far
            while sent < declared:
                sent += sock.send(b" " * (1 << 20))
        except OSError:
            refused = True
    assert answer.startswith(b"HTTP/1.1 401 "), answer[:200]
    assert b"application/problem+json" in answer
    assert refused and sent < 32 << 20 and time.monotonic() - started < 10
