"""Bad input gets a clear problem+json answer, in the Chalice app (Lambda) and in the embedded server.

The embedded server is started for real on 127.0.0.1 and spoken to over raw sockets: bodies it must
refuse are counted as they leave the client, so a server that buffers them fails the test.
"""

from __future__ import annotations

import http.client
import json
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from chalice.test import Client

from app import app
from chalicelib.api.http import MAX_JSON_DEPTH, check_json_depth
from chalicelib.bootstrap import Services
from chalicelib.core.errors import JsonTooDeep
from chalicelib.local.apiserver import serve_api

DEEP = b"[" * 20_000 + b"]" * 20_000  # within the 64 KiB body bound
DEEP_IN_OBJECT = b'{"target": "example.com", "options": ' + b'{"a": ' * 5_000 + b"1" + b"}" * 5_001
# Every route that decodes a JSON body.
BODY_ROUTES = [("POST", "/v1/scans"), ("POST", "/v1/scan-templates"), ("POST", "/v1/scan-templates/t1/launch"),
               ("PUT", "/v1/branding"), ("POST", "/v1/webhooks")]
PROBLEM = "application/problem+json"


@pytest.fixture
def key(services: Services) -> str:
    services.auth.create_tenant("acme", "Acme")
    return services.auth.issue_key("acme")[1]


def _problem(status: int, headers: Any, body: bytes) -> dict[str, Any]:
    assert headers["Content-Type"] == PROBLEM, (status, headers, body[:200])
    data: dict[str, Any] = json.loads(body)
    assert data["status"] == status and data["type"] == f"urn:perimeter:problem:{data['code']}"
    return data


# -- the depth bound itself ---------------------------------------------------------------------

@pytest.mark.parametrize("raw", [
    b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1),
    b'{"a": "\\\\"' + b"[" * 40,  # an escaped backslash ends the string: the brackets count
    DEEP, DEEP_IN_OBJECT,
])
def test_nesting_beyond_the_bound_is_refused(raw: bytes) -> None:
    with pytest.raises(JsonTooDeep):
        check_json_depth(raw)


@pytest.mark.parametrize("raw", [
    b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH,
    json.dumps({"name": "[" * 1000, "tags": ["{" * 50]}).encode(),  # brackets inside strings do not count
    b'["\\"' + b"[" * 40 + b'"]',  # nor after an escaped quote
])
def test_nesting_within_the_bound_or_inside_strings_passes(raw: bytes) -> None:
    check_json_depth(raw)


# -- the Chalice app (what runs in Lambda) --------------------------------------------------------

@pytest.mark.parametrize(("method", "path"), BODY_ROUTES)
@pytest.mark.parametrize("raw", [DEEP, DEEP_IN_OBJECT], ids=["array", "object"])
def test_deep_json_is_a_400_problem_on_every_body_route(key: str, method: str, path: str, raw: bytes) -> None:
    with Client(app) as client:
        response = getattr(client.http, method.lower())(
            path, headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"}, body=raw)
    assert _problem(response.status_code, response.headers, response.body)["code"] == "json-too-deep"
    assert response.status_code == 400


def test_chalice_405_is_a_problem_with_allow(key: str) -> None:
    with Client(app) as client:
        response = client.http.put("/v1/scans", headers={"Authorization": f"Bearer {key}"}, body=b"{}")
    assert _problem(405, response.headers, response.body)["code"] == "method-not-allowed"
    assert set(response.headers["Allow"].split(", ")) == {"GET", "POST"}


def test_chalice_415_is_a_problem(key: str) -> None:
    with Client(app) as client:
        response = client.http.post("/v1/scans", body=b"target=example.com",
                                    headers={"Authorization": f"Bearer {key}", "Content-Type": "text/plain"})
    assert _problem(415, response.headers, response.body)["code"] == "unsupported-media-type"


# -- the embedded server, over sockets ------------------------------------------------------------

@pytest.fixture
def port(services: Services) -> Iterator[int]:
    server = serve_api("127.0.0.1", 0, read_timeout=1.0)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield int(server.server.server_address[1])
    server.shutdown()
    thread.join(5)


def _head(method: str, path: str, headers: dict[str, str]) -> bytes:
    lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", *(f"{k}: {v}" for k, v in headers.items())]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _exchange(port: int, head: bytes, body: bytes = b"", timeout: float = 10) -> tuple[int, Any, bytes]:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(head + body)
        response = http.client.HTTPResponse(sock, method=head.split(b" ", 1)[0].decode())
        response.begin()
        return response.status, response.headers, response.read()


def _json_headers(key: str | None, length: int) -> dict[str, str]:
    auth = {"Authorization": f"Bearer {key}"} if key else {}
    return {**auth, "Content-Type": "application/json", "Content-Length": str(length)}


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    ("GET", "/nope", 404, "not-found"),
    ("POST", "/v1/nope/deeper", 404, "not-found"),
    ("GET", "/", 404, "not-found"),
    ("PUT", "/v1/scans", 405, "method-not-allowed"),
    ("PROPFIND", "/v1/health", 405, "method-not-allowed"),
])
def test_unknown_routes_and_methods_are_problems(port: int, method: str, path: str, status: int, code: str) -> None:
    got, headers, body = _exchange(port, _head(method, path, _json_headers(None, 2)), b"{}")
    assert (got, _problem(got, headers, body)["code"]) == (status, code)


def test_unknown_route_with_an_authorization_header_is_404_not_a_sigv4_message(port: int, key: str) -> None:
    got, headers, body = _exchange(port, _head("GET", "/v1/nope", {"Authorization": f"Bearer {key}"}))
    assert (got, _problem(got, headers, body)["code"]) == (404, "not-found")
    assert b"Credential" not in body and b"Authentication Token" not in body


def test_wrong_content_type_is_415(port: int, key: str) -> None:
    head = _head("POST", "/v1/scans", {**_json_headers(key, 2), "Content-Type": "text/plain"})
    got, headers, body = _exchange(port, head, b"{}")
    assert (got, _problem(got, headers, body)["code"]) == (415, "unsupported-media-type")


def test_a_70_kb_header_line_is_431(port: int) -> None:
    got, headers, body = _exchange(port, _head("GET", "/v1/health", {"X-Big": "a" * 70_000}))
    assert (got, _problem(got, headers, body)["code"]) == (431, "request-header-fields-too-large")


def test_deep_json_over_http_is_400(port: int, key: str) -> None:
    got, headers, body = _exchange(port, _head("POST", "/v1/scans", _json_headers(key, len(DEEP))), DEEP)
    assert (got, _problem(got, headers, body)["code"]) == (400, "json-too-deep")


def test_chunked_body_is_411(port: int, key: str) -> None:
    head = _head("POST", "/v1/scans", {"Authorization": f"Bearer {key}", "Content-Type": "application/json",
                                       "Transfer-Encoding": "chunked"})
    got, headers, body = _exchange(port, head, b"2\r\n{}\r\n0\r\n\r\n")
    assert (got, _problem(got, headers, body)["code"]) == (411, "length-required")


@pytest.mark.parametrize("length", ["-1", "12abc", "1e3", "\u00b2", "9" * 5000])
def test_unreadable_content_length_is_400(port: int, key: str, length: str) -> None:
    head = _head("POST", "/v1/scans", {**_json_headers(key, 0), "Content-Length": length})
    got, headers, body = _exchange(port, head)
    assert (got, _problem(got, headers, body)["code"]) == (400, "bad-content-length")


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def _send_declared_body(port: int, head: bytes, declared: int) -> tuple[int, Any, bytes, int, float]:
    """Send `head` then up to `declared` bytes of body while reading the answer; returns what was sent."""
    sent = 0
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.sendall(head)

    def pump() -> None:
        nonlocal sent
        chunk = b" " * (1 << 20)
        try:
            while sent < declared:
                sent += sock.send(chunk[: declared - sent])
        except OSError:  # the server closed the connection: what we wanted
            return

    sender = threading.Thread(target=pump, daemon=True)
    started = time.monotonic()
    sender.start()
    response = http.client.HTTPResponse(sock, method="POST")
    response.begin()
    status, headers, body = response.status, response.headers, response.read()
    elapsed = time.monotonic() - started
    sender.join(30)
    sock.close()
    return status, headers, body, sent, elapsed


def test_an_unauthenticated_200_mib_body_is_refused_before_it_is_read(port: int) -> None:
    declared = 200 << 20
    before = _rss_bytes()
    status, headers, body, sent, elapsed = _send_declared_body(
        port, _head("POST", "/v1/scans", _json_headers("pmk_" + "x" * 43, declared)), declared)
    assert (status, _problem(status, headers, body)["code"]) == (401, "unauthorized")
    assert elapsed < 5
    # What loopback socket buffers absorb is a few MiB; a server that buffers the body takes all 200.
    assert sent < 32 << 20, f"the client could send {sent >> 20} MiB"
    assert _rss_bytes() - before < 64 << 20


def test_a_declared_body_over_the_largest_bound_is_413_before_it_is_read(port: int, key: str) -> None:
    declared = 200 << 20
    status, headers, body, sent, _ = _send_declared_body(
        port, _head("POST", "/v1/scans", _json_headers(key, declared)), declared)
    assert (status, _problem(status, headers, body)["code"]) == (413, "payload-too-large")
    assert sent < 32 << 20


def test_a_half_sent_body_is_dropped_after_the_read_timeout(port: int, key: str) -> None:
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(_head("POST", "/v1/scans", _json_headers(key, 100)) + b'{"target": ')
        response = http.client.HTTPResponse(sock, method="POST")
        response.begin()
        status, headers, body = response.status, response.headers, response.read()
        assert sock.recv(1) == b"", "the connection is closed after the timeout"
    assert (status, _problem(status, headers, body)["code"]) == (408, "request-timeout")
    assert 0.9 <= time.monotonic() - started < 5


def test_a_good_request_still_goes_through_on_a_kept_alive_connection(port: int, key: str) -> None:
    payload = json.dumps({"target": "example.com", "scan_type": "tls"}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        for _ in range(2):
            connection.request("POST", "/v1/scans", body=payload,
                               headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            response = connection.getresponse()
            assert response.status == 202, response.read()
            assert json.loads(response.read())["scan_token"]
        connection.request("GET", "/v1/health")
        assert connection.getresponse().status == 200
    finally:
        connection.close()
