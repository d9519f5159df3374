"""Loopback canaries (issue 9): every guard vector is tried through the real code paths, and the
canary listeners the vectors point at must see zero connections.

Canaries listen on 127.0.0.1, 127.0.0.2 and 127.0.0.3. Two runs:
- `plain`: no exemption; every spelling of every canary address is refused everywhere.
- `exempt`: PERIMETER_ALLOW_PRIVATE_TARGETS=127.0.0.0/8 (the README's local-testing advice) and the
  canaries declared as the stack's own sockets (PERIMETER_SELF_ENDPOINTS: one by address, one by
  loopback, one bound to 0.0.0.0): they stay unreachable, while a control listener on another
  loopback port is reached by the same paths (so the zero counts are not an artefact).

Paths: the webhook sender, the webhook service and consumer (registration, then a name that
rebinds to the canary at send time), and the scanner checks `scan` (ports), `layer` (TLS) and
`web` with a ScanContext built from Settings and a real DNS server answering A and AAAA records.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from chalicelib.core.addresses import IPNetwork
from chalicelib.core.errors import Unprocessable
from chalicelib.core.settings import Settings
from chalicelib.net.guard import parse_ip
from chalicelib.scanners import open_ports as ports
from chalicelib.scanners import tls, web
from chalicelib.scanners.base import ScanContext
from chalicelib.scans.models import SignalStatus
from chalicelib.webhooks.sender import ErrorKind, deliver
from tests.conftest import PEPPER
from tests.support.dnsserver import LocalDNSServer, Zone
from tests.support.fakes import FakeResolver
from tests.support.guard_vectors import PUBLIC_ANSWER
from tests.unit.webhooks.harness import build

EXEMPT: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"),)
REBIND = "rebind.canary.test"


@dataclass
class Canary:
    """A TCP listener counting the connections it accepts."""

    host: str
    port: int = 0
    connections: int = 0
    _sock: socket.socket | None = None
    _stop: threading.Event = field(default_factory=threading.Event)

    def start(self) -> Canary:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        sock.listen(64)
        sock.settimeout(0.05)
        self._sock, self.port = sock, sock.getsockname()[1]
        threading.Thread(target=self._run, daemon=True).start()
        return self

    def _run(self) -> None:
        assert self._sock is not None
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections += 1
            conn.close()

    def stop(self) -> None:
        self._stop.set()
        if self._sock is not None:
            self._sock.close()


def spellings(v4: str) -> list[str]:
    """Every way to write an IPv4 address as a URL host: legacy IPv4 forms and each IPv6 family carrying it."""
    a = ipaddress.IPv4Address(v4)
    n, (o1, o2, o3, o4) = int(a), a.packed
    hi, lo = n >> 16, n & 0xFFFF
    return [
        v4, str(n), hex(n), f"0{o1:o}.{o2}.{o3}.{o4}", f"{o1}.{(o2 << 16) | (o3 << 8) | o4}",
        f"0x{o1:x}.{o2}.{o3}.{o4}", f"{v4}.",
        f"[::{v4}]", f"[::{hi:x}:{lo:x}]", f"[::ffff:{v4}]", f"[::ffff:0:{v4}]", f"[64:ff9b::{v4}]",
        f"[2002:{hi:x}:{lo:x}::1]", f"[2001:0:{hi:x}:{lo:x}:0:0:{hi ^ 0xFFFF:x}:{lo ^ 0xFFFF:x}]",
        f"[0:0:0:0:0:FFFF:{hi:X}:{lo:X}]",
    ]


def embedded_answers(v4: str) -> list[tuple[str, str]]:
    """DNS records (A and AAAA) that all denote `v4`."""
    sixes = [str(parse_ip(s)) for s in spellings(v4) if s.startswith("[")]
    return [("A", v4), *(("AAAA", s) for s in sixes)]


@dataclass
class World:
    canaries: list[Canary]
    control: Canary
    dns: LocalDNSServer
    names: dict[str, str]  # DNS name -> the canary address it denotes (A and every AAAA family)

    def targets(self, canary: Canary) -> list[str]:
        """Scanner targets for a canary: canonical literals of every spelling, and its DNS names."""
        literal = sorted({str(parse_ip(s)) for s in spellings(canary.host)} | {canary.host, str(int(
            ipaddress.IPv4Address(canary.host)))})
        return literal + [name for name, host in self.names.items() if host == canary.host]

    @property
    def counts(self) -> dict[str, int]:
        return {f"{c.host}:{c.port}": c.connections for c in self.canaries}


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    canaries = [Canary("127.0.0.1").start(), Canary("127.0.0.2").start(), Canary("127.0.0.3").start()]
    control = Canary("127.0.0.1").start()
    zone: Zone = {}
    names: dict[str, str] = {}
    for canary in canaries:
        for i, record in enumerate(embedded_answers(canary.host)):
            name = f"f{i}.{canary.host.replace('.', '-')}.canary.test"
            zone[name] = [record]
            names[name] = canary.host
        every = f"all.{canary.host.replace('.', '-')}.canary.test"
        zone[every] = embedded_answers(canary.host)
        names[every] = canary.host
    dns = LocalDNSServer(zone).start()
    try:
        yield World(canaries, control, dns, names)
    finally:
        dns.stop()
        for c in [*canaries, control]:
            c.stop()


def self_endpoints(world: World) -> str:
    c1, c2, c3 = world.canaries
    return f"{c1.host}:{c1.port},127.0.0.9:{c2.port},0.0.0.0:{c3.port}"


def scan_context(world: World, *, exempt: bool, **fields: Any) -> ScanContext:
    guard: dict[str, object] = {"allow_private_targets": ["127.0.0.0/8"],
                                "self_endpoints": self_endpoints(world).split(",")} if exempt else {}
    settings = Settings.from_env({}, key_pepper=PEPPER, dns_servers=[world.dns.address], dns_timeout=2.0, **guard)
    base: dict[str, Any] = {"connect_timeout": 0.5, "http_timeout": 1.0, "use_nmap": False}
    base.update(fields)
    return ScanContext.from_settings(settings, **base)


def settle(world: World) -> dict[str, int]:
    time.sleep(0.3)  # let the accept loops count anything in flight
    return world.counts


def try_webhooks(world: World, allowed: tuple[IPNetwork, ...]) -> None:
    """Send (and register) every spelling and DNS name of every canary; all must be refused."""
    resolver = FakeResolver({n: [value for _, value in embedded_answers(h)] for n, h in world.names.items()})
    for canary in world.canaries:
        hosts = [*spellings(canary.host), *(n for n, h in world.names.items() if h == canary.host)]
        for host in hosts:
            for scheme in ("http", "https"):
                url = f"{scheme}://{host}:{canary.port}/moto-api/reset"
                outcome = deliver(url, b"{}", {}, allowed=allowed, resolver=resolver, timeout=1.0)
                assert outcome.status_code is None and outcome.address is None, url
                assert outcome.error_kind in (ErrorKind.ADDRESS_NOT_ALLOWED, ErrorKind.INVALID_URL), url
                with pytest.raises(Unprocessable):
                    build(resolver=resolver, allowed=allowed).register(url)


def try_rebinding_consumer(world: World, allowed: tuple[IPNetwork, ...]) -> None:
    """Registered while the name was public, delivered after it rebinds to a canary: refused at send."""
    for canary in world.canaries:
        for _, address in embedded_answers(canary.host):
            resolver = FakeResolver({REBIND: [[PUBLIC_ANSWER], [address]]})
            harness = build(resolver=resolver, allowed=allowed)
            endpoint, _ = harness.register(f"https://{REBIND}:{canary.port}/hook")
            harness.service.publish("acme", "scan.started", {"scan_token": "scn_canary"})
            harness.drain()
            [(delivery, _)] = harness.repo.list_deliveries("acme", endpoint.webhook_id, limit=10)
            assert delivery.attempts, address
            assert all(a.status_code is None and a.error_kind == ErrorKind.ADDRESS_NOT_ALLOWED
                       for a in delivery.attempts), (address, delivery.attempts)


def try_scanners(world: World, *, exempt: bool) -> None:
    """The scan, layer and web checks against every target of every canary, on the canaries' ports."""
    port_set = ",".join(str(c.port) for c in world.canaries)
    scan_ctx = scan_context(world, exempt=exempt, ports=port_set)
    tls_ctx = scan_context(world, exempt=exempt, tls_ports=tuple(c.port for c in world.canaries))
    web_ctxs = [scan_context(world, exempt=exempt, http_port=c.port, https_port=c.port) for c in world.canaries]
    for canary in world.canaries:
        for target in world.targets(canary):
            found = ports.run(target, scan_ctx)
            assert not found.findings, (target, found)
            assert tls.run(target, tls_ctx).status is not SignalStatus.COMPLETE, target
            for ctx in web_ctxs:
                assert web.run(target, ctx).status is not SignalStatus.COMPLETE, target


@pytest.fixture
def plain(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.delenv("PERIMETER_SELF_ENDPOINTS", raising=False)
    return world


@pytest.fixture
def exempt(world: World, monkeypatch: pytest.MonkeyPatch) -> World:
    monkeypatch.setenv("PERIMETER_SELF_ENDPOINTS", self_endpoints(world))
    return world


def test_without_the_exemption_no_vector_reaches_a_canary(plain: World) -> None:
    try_webhooks(plain, ())
    try_rebinding_consumer(plain, ())
    try_scanners(plain, exempt=False)
    assert settle(plain) == {k: 0 for k in plain.counts}
    assert plain.control.connections == 0


def test_with_the_loopback_exemption_the_stacks_own_sockets_stay_unreachable(exempt: World) -> None:
    try_webhooks(exempt, EXEMPT)
    try_rebinding_consumer(exempt, EXEMPT)
    try_scanners(exempt, exempt=True)
    assert settle(exempt) == {k: 0 for k in exempt.counts}


def test_the_same_paths_do_reach_an_exempt_port_that_is_not_the_stacks(exempt: World) -> None:
    control = exempt.control
    before = control.connections
    outcome = deliver(f"http://[::ffff:127.0.0.1]:{control.port}/", b"{}", {}, allowed=EXEMPT,
                      resolver=FakeResolver({}), timeout=1.0)
    assert outcome.address is not None and outcome.error_kind is not None  # connected (the canary speaks no HTTP)
    c1 = exempt.canaries[0]
    result = ports.run("127.0.0.1", scan_context(exempt, exempt=True, ports=f"{c1.port},{control.port}"))
    assert [f.evidence["port"] for f in result.findings] == [control.port]  # the canary port is not listed
    assert settle(exempt)[f"{c1.host}:{c1.port}"] == 0
    assert control.connections >= before + 2
