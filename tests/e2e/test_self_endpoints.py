"""The embedded stack's own sockets are out of every tenant's reach, even with 127.0.0.0/8 exempt (issue 9).

Before: a port scan of 127.0.0.1 listed the AWS endpoint's (moto) port, and a webhook to it was
accepted (its answers landed in the deliveries log; /moto-api/reset wiped every tenant's data).
"""

from __future__ import annotations

import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from tests.support.stack import RunningStack, start_stack


@pytest.fixture(scope="module")
def exempt_stack() -> Iterator[RunningStack]:
    running = start_stack({"PERIMETER_ALLOW_PRIVATE_TARGETS": "127.0.0.0/8", "PERIMETER_RATE_LIMIT": "100000"})
    yield running
    assert running.stop() == 0, "\n".join(running.output[-40:])


@pytest.fixture(scope="module")
def control() -> Iterator[int]:
    """A loopback listener that is not the stack's: the same requests must reach it."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield int(sock.getsockname()[1])
    sock.close()


def auth(stack: RunningStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}", "Content-Type": "application/json"}


def own_ports(stack: RunningStack) -> tuple[int, int]:
    api = urllib.parse.urlsplit(stack.base_url).port
    aws = urllib.parse.urlsplit(stack.aws_endpoint).port
    assert api and aws, (stack.base_url, stack.aws_endpoint)
    return api, aws


def register(stack: RunningStack, url: str) -> requests.Response:
    return requests.post(f"{stack.base_url}/v1/webhooks", headers=auth(stack), timeout=10,
                         json={"url": url, "events": ["*"]})


def test_webhooks_to_the_stacks_own_sockets_are_422(exempt_stack: RunningStack, control: int) -> None:
    api, aws = own_ports(exempt_stack)
    for url in (f"http://127.0.0.1:{aws}/moto-api/reset", f"http://[::ffff:127.0.0.1]:{aws}/",
                f"http://2130706433:{api}/v1/health", f"http://127.0.0.2:{api}/", f"http://0.0.0.0:{aws}/"):
        response = register(exempt_stack, url)
        assert response.status_code == 422, (url, response.text)
        assert response.headers["Content-Type"].startswith("application/problem+json")
        assert response.json()["code"] == "webhook-url-self-endpoint", response.text
    assert register(exempt_stack, f"http://127.0.0.1:{control}/hook").status_code == 201


def test_a_port_scan_never_lists_the_stacks_own_sockets(exempt_stack: RunningStack, control: int) -> None:
    api, aws = own_ports(exempt_stack)
    body = {"target": "127.0.0.1", "scan_type": "ports", "options": {"ports": f"{api},{aws},{control}"}}
    created = requests.post(f"{exempt_stack.base_url}/v1/scans", headers=auth(exempt_stack), json=body, timeout=10)
    assert created.status_code == 202, created.text
    deadline = time.monotonic() + 90
    scan: dict[str, Any] = {}
    while time.monotonic() < deadline:
        scan = requests.get(created.json()["status_url"], headers=auth(exempt_stack), timeout=10).json()
        if scan["status"] in ("complete", "failed", "cancelled"):
            break
        time.sleep(0.2)
    assert scan.get("status") == "complete", scan
    listed = {f["evidence"].get("port") for f in scan["signals"]["scan"]["findings"]}
    assert control in listed and not {api, aws} & listed, listed
