"""Fixtures for the scanner integration tests: the loopback lab, and a guard that fails any test whose
code touches a non-loopback address or asks the system resolver for a name."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.lab import Lab

LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


@pytest.fixture(scope="package")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Every test server, started once for the package."""
    built = Lab(tmp_path_factory.mktemp("lab"))
    try:
        yield built.start()
    finally:
        built.stop()


@pytest.fixture(autouse=True)
def trust_test_ca(lab: Lab, monkeypatch: pytest.MonkeyPatch) -> None:
    """The test CA is the trust store, through SSL_CERT_FILE as in production."""
    monkeypatch.setenv("SSL_CERT_FILE", str(lab.ca.ca_file))
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Refuse (and report) any connection or datagram to a non-loopback address and any name lookup."""
    violations: list[str] = []

    def allowed(address: Any) -> bool:
        if not isinstance(address, tuple):
            return True  # AF_UNIX
        try:
            ip = ipaddress.ip_address(str(address[0]).split("%")[0])
        except ValueError:
            violations.append(f"connection by name: {address[0]}")
            return False
        if ip.version != 4 or ip not in LOOPBACK:
            violations.append(f"connection to {ip}")
            return False
        return True

    real_connect, real_connect_ex = socket.socket.connect, socket.socket.connect_ex
    real_sendto, real_getaddrinfo = socket.socket.sendto, socket.getaddrinfo

    def connect(self: socket.socket, address: Any) -> None:
        if not allowed(address):
            raise ConnectionRefusedError("test guard: non-loopback address")
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        if not allowed(address):
            return 111
        return real_connect_ex(self, address)

    def sendto(self: socket.socket, data: bytes, *args: Any) -> int:
        if not allowed(args[-1]):
            raise ConnectionRefusedError("test guard: non-loopback address")
        return real_sendto(self, data, *args)

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host is not None:
            try:
                ipaddress.ip_address(str(host.decode() if isinstance(host, bytes) else host).split("%")[0])
            except ValueError:
                violations.append(f"system resolver asked for {host}")
                raise socket.gaierror(socket.EAI_NONAME, "test guard: no system DNS") from None
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    monkeypatch.setattr(socket.socket, "sendto", sendto)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield violations
    assert not violations, f"traffic outside 127.0.0.0/8 or system DNS use: {violations}"
