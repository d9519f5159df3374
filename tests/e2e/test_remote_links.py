"""A stack serving every interface (PERIMETER_HOST=0.0.0.0): links use the public base URL and work from
another address, and the API's port stays out of every tenant's reach on every local address."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import pytest
import requests

from chalicelib.local.stack import free_port
from tests.support.stack import RunningStack, start_stack
from tests.unit.reports.factories import png_bytes

pytestmark = pytest.mark.e2e
OTHER = "127.0.0.2"  # another address of this machine: where "a client on another machine" connects


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    port = free_port()
    running = start_stack({"PERIMETER_HOST": "0.0.0.0", "PERIMETER_PUBLIC_BASE_URL": f"http://{OTHER}:{port}",
                           "PERIMETER_ALLOW_PRIVATE_TARGETS": "127.0.0.0/8"}, port=port)
    try:
        yield running
    finally:
        running.stop()


def test_a_logo_link_is_built_on_the_public_base_url_and_downloads_from_another_address(
        stack: RunningStack) -> None:
    headers = {"Authorization": f"Bearer {stack.api_key}"}
    logo = png_bytes(60, 20)
    put = requests.put(f"http://{OTHER}:{stack.port}/v1/branding", headers=headers, timeout=10,
                       json={"display_name": "Harbour", "logo": base64.b64encode(logo).decode()})
    assert put.status_code == 200, put.text
    url = requests.get(f"{stack.base_url}/v1/branding", headers=headers, timeout=10).json()["logo"]["url"]
    assert url.startswith(f"http://{OTHER}:{stack.port}/v1/downloads/")
    got = requests.get(url, timeout=10)  # no key: the signed link is the credential
    assert (got.status_code, got.content) == (200, logo)
    forged = requests.get(url[:-3] + ("AAA" if not url.endswith("AAA") else "BBB"), timeout=10)
    assert (forged.status_code, forged.json()["code"]) == (403, "link-invalid")


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.9", "[::ffff:127.0.0.5]"])
def test_the_api_port_is_refused_as_a_webhook_on_every_local_address(stack: RunningStack, host: str) -> None:
    response = requests.post(f"{stack.base_url}/v1/webhooks", timeout=10,
                             headers={"Authorization": f"Bearer {stack.api_key}"},
                             json={"url": f"http://{host}:{stack.port}/v1/health", "events": ["*"]})
    assert (response.status_code, response.json()["code"]) == (422, "webhook-url-self-endpoint")
