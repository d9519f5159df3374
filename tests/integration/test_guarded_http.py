"""Contract of the guarded HTTP client against servers this test starts on 127.0.0.0/8.

Resolve once, check every address, connect to a checked address only, never follow a redirect,
keep the wall-clock deadline, read at most the body bound, verify TLS against the host name while
connecting to the pinned address.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.core.addresses import IPAddress, IPNetwork, parse_self_endpoints
from chalicelib.net import http as guarded_http
from chalicelib.net.http import (
    AddressRefused,
    AddressRule,
    Destination,
    FailureKind,
    Guard,
    HttpFailure,
    HttpResponse,
)
from chalicelib.net.ports import DomainNotFound
from tests.support.fakes import FakeResolver
from tests.support.httpserver import LocalHTTPServer, Response
from tests.support.tlsserver import TestCA, server_context

LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"),)
EXEMPT = Guard(allowed=LOOPBACK)
NAME = "site.perimeter.test"  # not resolvable by the system: success proves the pinned address is used
OTHER = "other.perimeter.test"


def get(url: str, resolver: FakeResolver, guard: Guard = EXEMPT, *, timeout: float = 3.0, max_body: int = 4096,
        headers: dict[str, str] | None = None, rule: AddressRule | None = None) -> HttpResponse:
    return guarded_http.send(Destination.from_url(url), resolver=resolver, guard=guard, timeout=timeout,
                             max_body=max_body, user_agent="contract-test", headers=headers, rule=rule)


@pytest.fixture
def server() -> Iterator[LocalHTTPServer]:
    started = LocalHTTPServer(routes={
        "/ok": Response(200, [("Content-Type", "text/plain")], b"hello"),
        "/big": Response(200, [], b"x" * 100_000),
        "/exact": Response(200, [], b"y" * 4096),
    }).start()
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def second() -> Iterator[LocalHTTPServer]:
    started = LocalHTTPServer(default=Response(200, [], b"redirect target")).start()
    try:
        yield started
    finally:
        started.stop()


class _Holder:
    """Accepts connections on 127.0.0.1 and never answers (or drips a status line) until the test ends."""

    def __init__(self, drip: bool) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.sock.getsockname()[1])
        self.drip = drip
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.sock.settimeout(0.05)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            payload = b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 10_000 if self.drip else b""
            for byte in payload:
                if self.stop.wait(0.02):
                    return
                try:
                    conn.sendall(bytes([byte]))
                except OSError:
                    return
            self.stop.wait(30)


@pytest.fixture(params=[False, True], ids=["silent", "dripping"])
def slow(request: pytest.FixtureRequest) -> Iterator[_Holder]:
    holder = _Holder(drip=request.param)
    try:
        yield holder
    finally:
        holder.stop.set()
        holder.sock.close()
        holder.thread.join(2)


# --- resolve, check, pin --------------------------------------------------------------------------

def test_a_name_is_resolved_once_and_the_checked_address_is_connected_to(server: LocalHTTPServer) -> None:
    resolver = FakeResolver({NAME: ["127.0.0.1"]})
    response = get(f"http://{NAME}:{server.port}/ok?q=1", resolver, headers={"Host": "evil.example",
                                                                             "X-Extra": "kept"})
    assert (response.status, response.body, response.address) == (200, b"hello", ipaddress.ip_address("127.0.0.1"))
    assert resolver.calls == [NAME]
    [seen] = server.requests
    assert seen.path == "/ok?q=1"
    assert seen.headers["host"] == f"{NAME}:{server.port}"  # the caller cannot route the request elsewhere
    assert (seen.headers["user-agent"], seen.headers["x-extra"]) == ("contract-test", "kept")


@pytest.mark.parametrize(("answers", "guard"), [
    (["127.0.0.1"], Guard()),  # loopback without the exemption
    (["127.0.0.1", "10.0.0.1"], EXEMPT),  # one refused address refuses the host
    (["::ffff:10.0.0.1"], EXEMPT),  # judged by the IPv4 address it carries
    (["169.254.169.254"], EXEMPT),
], ids=["loopback", "mixed", "mapped-private", "metadata"])
def test_a_name_resolving_to_a_refused_address_is_refused_before_connecting(
        server: LocalHTTPServer, answers: list[str], guard: Guard) -> None:
    resolver = FakeResolver({NAME: answers})
    with pytest.raises(AddressRefused):
        get(f"http://{NAME}:{server.port}/ok", resolver, guard)
    assert resolver.calls == [NAME]
    assert server.connections == 0 and server.requests == []


def test_the_systems_own_sockets_are_refused_whatever_the_exemption(server: LocalHTTPServer) -> None:
    guard = Guard(allowed=LOOPBACK, reserved=parse_self_endpoints(f"127.0.0.1:{server.port}"))
    with pytest.raises(AddressRefused):
        get(f"http://[::ffff:127.0.0.1]:{server.port}/ok", FakeResolver({}), guard)
    assert server.connections == 0


def test_a_rule_can_narrow_the_guard_but_never_widen_it(server: LocalHTTPServer) -> None:
    resolver = FakeResolver({NAME: ["10.0.0.1", "127.0.0.1"]})

    def private_pick(answers: tuple[IPAddress, ...]) -> list[IPAddress]:
        return [a for a in answers if not a.is_loopback]  # picks 10.0.0.1, outside the exemption

    with pytest.raises(AddressRefused) as refused:
        get(f"http://{NAME}:{server.port}/ok", resolver, rule=private_pick)
    assert [str(a) for a in refused.value.addresses] == ["10.0.0.1"]
    assert server.connections == 0

    def loopback_only(answers: tuple[IPAddress, ...]) -> list[IPAddress]:
        return [a for a in answers if a.is_loopback]

    assert get(f"http://{NAME}:{server.port}/ok", resolver, rule=loopback_only).status == 200


def test_an_ip_literal_in_any_spelling_is_not_resolved(server: LocalHTTPServer) -> None:
    resolver = FakeResolver({})
    response = get(f"http://2130706433:{server.port}/ok", resolver)
    assert response.status == 200 and resolver.calls == []
    assert server.requests[0].headers["host"] == f"127.0.0.1:{server.port}"


def test_resolver_errors_reach_the_caller_unchanged(server: LocalHTTPServer) -> None:
    with pytest.raises(DomainNotFound):
        get(f"http://{NAME}:{server.port}/ok", FakeResolver({}))
    assert server.connections == 0


def test_a_refused_connection_moves_on_to_the_next_checked_address(server: LocalHTTPServer) -> None:
    resolver = FakeResolver({NAME: ["127.0.0.2", "127.0.0.1"]})  # nothing listens on 127.0.0.2
    assert get(f"http://{NAME}:{server.port}/ok", resolver).address == ipaddress.ip_address("127.0.0.1")


def test_no_listener_is_a_connect_failure() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    with pytest.raises(HttpFailure) as failure:
        get(f"http://127.0.0.1:{port}/", FakeResolver({}))
    assert failure.value.kind == FailureKind.CONNECT and failure.value.address is None


# --- no redirects, the deadline, the body bound --------------------------------------------------

def test_a_redirect_is_returned_and_never_followed(server: LocalHTTPServer, second: LocalHTTPServer) -> None:
    target = f"http://{OTHER}:{second.port}/landing"
    server.routes["/moved"] = Response(302, [("Location", target)])
    resolver = FakeResolver({NAME: ["127.0.0.1"], OTHER: ["127.0.0.1"]})
    response = get(f"http://{NAME}:{server.port}/moved", resolver)
    assert (response.status, response.header("location")) == (302, target)
    assert resolver.calls == [NAME]
    assert second.connections == 0 and second.requests == []


def test_the_deadline_holds_on_a_slow_server(slow: _Holder) -> None:
    """A silent server and one dripping its status line byte by byte both end at the deadline."""
    started = time.monotonic()
    with pytest.raises(HttpFailure) as failure:
        get(f"http://{NAME}:{slow.port}/", FakeResolver({NAME: ["127.0.0.1"]}), timeout=0.5)
    elapsed = time.monotonic() - started
    # Without the deadline the silent server never answers and the drip takes 200 s: ending within 10 s proves
    # the deadline holds (a loaded 2-core CI run measured 2.75 s; how close to 0.5 s is a benchmark's business).
    assert 0.45 <= elapsed < 10.0, elapsed
    assert failure.value.kind == FailureKind.TIMEOUT and str(failure.value) == "no complete response within 0.5 s"
    assert slow.accepted == 1


def test_a_body_over_the_bound_is_cut_at_the_bound(server: LocalHTTPServer) -> None:
    response = get(f"http://127.0.0.1:{server.port}/big", FakeResolver({}), max_body=1000)
    assert (response.status, response.body, response.truncated, response.body_error) == (200, b"x" * 1000, True,
                                                                                          None)
    exact = get(f"http://127.0.0.1:{server.port}/exact", FakeResolver({}), max_body=4096)
    assert (len(exact.body), exact.truncated, exact.body_error) == (4096, False, None)


# --- TLS: the name is verified, the pinned address is connected to -------------------------------

@pytest.fixture(scope="module")
def test_ca(tmp_path_factory: pytest.TempPathFactory) -> TestCA:
    return TestCA(Path(tmp_path_factory.mktemp("guarded-http-ca")))


@pytest.fixture
def tls_server(test_ca: TestCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[LocalHTTPServer, list[str]]]:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(test_ca.ca_file))
    context = server_context(test_ca.issue(NAME, [NAME, "127.0.0.1"]))
    server_names: list[str] = []
    context.sni_callback = lambda _sock, name, _ctx: server_names.append(name)  # type: ignore[assignment]
    started = LocalHTTPServer(routes={"/ok": Response(200, [], b"secure")}, ssl_context=context).start()
    try:
        yield started, server_names
    finally:
        started.stop()


def test_tls_verifies_the_host_name_while_connecting_to_the_pinned_address(
        tls_server: tuple[LocalHTTPServer, list[str]]) -> None:
    server, server_names = tls_server
    resolver = FakeResolver({NAME: ["127.0.0.1"]})
    response = get(f"https://{NAME}:{server.port}/ok", resolver)
    assert (response.status, response.body, str(response.address)) == (200, b"secure", "127.0.0.1")
    assert server_names == [NAME]  # SNI carried the name, the TCP connection went to the checked address
    assert server.requests[0].headers["host"] == f"{NAME}:{server.port}"


def test_tls_refuses_a_certificate_for_another_name_at_the_same_address(
        tls_server: tuple[LocalHTTPServer, list[str]]) -> None:
    server, _ = tls_server
    with pytest.raises(HttpFailure) as failure:
        get(f"https://{OTHER}:{server.port}/ok", FakeResolver({OTHER: ["127.0.0.1"]}))
    assert failure.value.kind == FailureKind.TLS and "Hostname mismatch" in str(failure.value)
    assert server.requests == []


def test_tls_refuses_an_unknown_ca(tls_server: tuple[LocalHTTPServer, list[str]], tmp_path: Path,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    server, _ = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TestCA(tmp_path).ca_file))
    with pytest.raises(HttpFailure) as failure:
        get(f"https://{NAME}:{server.port}/ok", FakeResolver({NAME: ["127.0.0.1"]}))
    assert failure.value.kind == FailureKind.TLS and "certificate verification failed" in str(failure.value)
    assert server.requests == []


def test_certificate_checks_are_on_unless_verify_false_is_passed(
        tls_server: tuple[LocalHTTPServer, list[str]], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A self-signed appliance certificate is refused by default; `verify=False` reads it, still guarded and SNI'd."""
    server, server_names = tls_server
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(TestCA(tmp_path).ca_file))  # an unknown CA, as for an appliance
    resolver = FakeResolver({NAME: ["127.0.0.1"]})
    with pytest.raises(HttpFailure) as failure:
        get(f"https://{NAME}:{server.port}/ok", resolver)
    assert failure.value.kind == FailureKind.TLS and server.requests == []
    response = guarded_http.send(Destination.from_url(f"https://{NAME}:{server.port}/ok"), resolver=resolver,
                                 guard=EXEMPT, timeout=3.0, max_body=4096, user_agent="contract-test", verify=False)
    assert (response.status, response.body) == (200, b"secure")
    assert server_names[-1] == NAME
    assert response.peer_certificate is not None and NAME.encode() in response.peer_certificate


def test_verify_false_does_not_loosen_the_guard(server: LocalHTTPServer) -> None:
    with pytest.raises(AddressRefused):
        guarded_http.send(Destination.from_url(f"https://{NAME}:{server.port}/ok"),
                          resolver=FakeResolver({NAME: ["127.0.0.1"]}), guard=Guard(), timeout=3.0, max_body=64,
                          user_agent="contract-test", verify=False)
    assert server.connections == 0


def test_a_plain_http_response_carries_no_certificate(server: LocalHTTPServer) -> None:
    assert get(f"http://127.0.0.1:{server.port}/ok", FakeResolver({})).peer_certificate is None


# --- destinations -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("url", "expected"), [
    ("https://Example.COM/a b?c=d e", Destination("https", "example.com", 443, "/a%20b?c=d%20e")),
    ("http://0x7f.1:8080", Destination("http", "127.0.0.1", 8080, "/")),
    ("http://[::ffff:7f00:1]/x", Destination("http", "::ffff:7f00:1", 80, "/x")),
    ("https://name.test.:8443/%41", Destination("https", "name.test", 8443, "/%41")),
])
def test_destination_from_url(url: str, expected: Destination) -> None:
    assert Destination.from_url(url) == expected


def test_destination_host_header_brackets_ipv6_and_drops_default_ports() -> None:
    assert Destination("http", "::1", 80).host_header == "[::1]"
    assert Destination("https", "a.test", 8443).host_header == "a.test:8443"


@pytest.mark.parametrize("url", ["ftp://a.test/", "http:///path", "http://a.test:99999/"])
def test_destination_refuses_what_is_not_an_http_url(url: str) -> None:
    with pytest.raises(ValueError):
        Destination.from_url(url)

