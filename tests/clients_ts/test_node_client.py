"""The compiled TypeScript client under `node --test` against the embedded stack (clients/typescript/test)."""

from __future__ import annotations

import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.clients_ts.conftest import CLIENT, toolchain
from tests.support.stack import RunningStack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    running = start_stack({"PERIMETER_ALLOW_PRIVATE_TARGETS": "127.0.0.0/8", "PERIMETER_RATE_LIMIT": "100000"})
    yield running
    assert running.stop() == 0, "\n".join(running.output[-40:])


@pytest.fixture(scope="module")
def open_port() -> Iterator[int]:
    """A loopback listener for the scan to find."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    yield int(sock.getsockname()[1])
    sock.close()


def test_node_suite_passes_against_the_stack(stack: RunningStack, open_port: int, built_client: Path) -> None:
    node, _ = toolchain()
    env = {"PATH": "/usr/bin:/bin", "PERIMETER_BASE_URL": stack.base_url, "PERIMETER_API_KEY": stack.api_key,
           "PERIMETER_TEST_TARGET": "127.0.0.1", "PERIMETER_TEST_PORT": str(open_port),
           "PERIMETER_CLIENT_DIST": built_client.as_uri()}
    result = subprocess.run([node, "--test", "--test-reporter=spec", str(CLIENT / "test" / "client.test.mjs")],
                            capture_output=True, text=True, timeout=300, env=env, check=False)
    report = result.stdout + result.stderr
    assert result.returncode == 0, report + "\n".join(stack.output[-30:])
    assert "pass 4" in report and "fail 0" in report and "skipped 0" in report, report


def test_the_generator_reads_the_served_document_like_the_offline_one(stack: RunningStack, tmp_path: Path) -> None:
    """The committed client matches GET /v1/openapi.json of a running stack, not only the offline render."""
    from scripts.gen_ts_client import main

    assert main(["--source", f"{stack.base_url}/v1/openapi.json", "--check"]) == 0
    assert main(["--source", f"{stack.base_url}/v1/openapi.json", "--out", str(tmp_path)]) == 0
    for name in ("types.ts", "client.ts"):
        assert (tmp_path / name).read_text() == (CLIENT / "src" / name).read_text()
