"""The guard's vector table (issue 9) through every guard: scan targets, AAAA answers, webhook URLs.

Each vector goes through the real entry point: ScanService.check_target (what POST /v1/scans calls),
the scanners' `allowed_addresses` over a DNS answer, `check_webhook_url` (registration) and
`sender.deliver` (send time; refusals happen before any connection, see
tests/integration/test_guard_canaries.py for the connection count).
"""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace
from typing import Any, cast

import dns.rdatatype
import dns.resolver
import pytest

from chalicelib.bootstrap import Services
from chalicelib.core.addresses import IPNetwork, SelfEndpoint, parse_self_endpoints
from chalicelib.core.errors import InvalidDomain, PerimeterError, TargetNotAllowed, Unprocessable
from chalicelib.core.settings import Settings
from chalicelib.net.guard import is_blocked, is_self_endpoint
from chalicelib.scanners.base import CheckSkipped, ScanContext, address_allowed, allowed_addresses
from chalicelib.scans.models import ScanType
from chalicelib.scans.service import ScanService
from chalicelib.webhooks.sender import ErrorKind, deliver
from chalicelib.webhooks.url_guard import NOT_ALLOWED, SELF_ENDPOINT, check_webhook_url
from tests.conftest import PEPPER
from tests.support.fakes import FakeResolver
from tests.support.guard_vectors import (
    ADDRESS_VECTORS,
    ALWAYS_REFUSED_TARGETS,
    ALWAYS_REFUSED_URL_HOSTS,
    LOOPBACK_SPELLINGS,
    LOOPBACK_TARGET_TRICKS,
    MIXED_ANSWERS,
    PUBLIC_ANSWER,
    AddressVector,
)
from tests.support.memory import MemoryObjectStore, MemoryStore, RecordingWorkflow

EXEMPT: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"),)
NAME = "vector.test"
API, AWS = 8000, 4566
SELF = parse_self_endpoints(f"127.0.0.1:{API},127.0.0.1:{AWS},0.0.0.0:9999")


def scans(allowed: tuple[IPNetwork, ...] = (), answers: dict[str, list[str]] | None = None) -> ScanService:
    settings = Settings.from_env({}, key_pepper=PEPPER, allow_private_targets=[str(n) for n in allowed])
    services = Services(settings, store=MemoryStore(), workflow=RecordingWorkflow(),
                        resolver=FakeResolver(answers or {}), objects=MemoryObjectStore())
    return services.scans


class _Answers:
    """A dnspython-resolver stand-in answering A and AAAA from a table (what the scanners' DnsResolver reads)."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    def resolve(self, name: str, rdtype: Any, search: bool = False, **_: Any) -> list[Any]:
        if name not in self.table:
            raise dns.resolver.NXDOMAIN
        version = 4 if rdtype == dns.rdatatype.A else 6
        found = [a for a in self.table[name] if ipaddress.ip_address(a).version == version]
        if not found:
            raise dns.resolver.NoAnswer
        return [SimpleNamespace(to_text=lambda a=a: a) for a in found]


def context(table: dict[str, list[str]], allowed: tuple[IPNetwork, ...] = (),
            endpoints: tuple[SelfEndpoint, ...] = ()) -> ScanContext:
    return ScanContext(resolver=cast(dns.resolver.Resolver, _Answers(table)), allowed_networks=allowed,
                       self_endpoints=endpoints)


def ids(vector: AddressVector) -> str:
    return f"{vector.family}:{vector.address}"


# ------------------------------------------------------------------------- the classification


@pytest.mark.parametrize("vector", ADDRESS_VECTORS, ids=ids)
def test_every_address_vector_has_its_verdict_with_and_without_the_loopback_exemption(vector: AddressVector) -> None:
    address = ipaddress.ip_address(vector.address)
    assert is_blocked(address), "refused without exemption"
    assert is_blocked(address, EXEMPT) is vector.refused_with_127_exempt


@pytest.mark.parametrize("raw", ["127.0.0.1:8000", "[::1]:8000", "localhost:8000", "0.0.0.0:8000"])
def test_self_endpoints_parse(raw: str) -> None:
    (endpoint,) = parse_self_endpoints(raw)
    assert endpoint.port == 8000


@pytest.mark.parametrize("raw", ["127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536", "::1:8000", "name.example:80", ":80"])
def test_malformed_self_endpoints_are_refused(raw: str) -> None:
    with pytest.raises(ValueError):
        parse_self_endpoints(raw)


def test_the_setting_reads_its_environment_variable() -> None:
    settings = Settings.from_env({"PERIMETER_KEY_PEPPER": PEPPER,
                                  "PERIMETER_SELF_ENDPOINTS": "127.0.0.1:8000, 127.0.0.1:4566"})
    assert settings.self_endpoints == parse_self_endpoints("127.0.0.1:8000,127.0.0.1:4566")


@pytest.mark.parametrize(("address", "port", "reserved"), [
    ("127.0.0.1", API, True), ("127.0.0.2", API, True), ("127.255.255.254", AWS, True), ("::1", API, True),
    ("0.0.0.0", API, True), ("0.1.2.3", API, True), ("::", AWS, True), ("::ffff:127.0.0.1", API, True),
    ("::7f00:1", API, True), ("::ffff:0:7f00:1", AWS, True), ("64:ff9b::7f00:1", API, True),
    ("2002:7f00:1::", API, True), ("2001:0:7f00:1:0:0:80ff:fffe", API, True), ("::ffff:0.0.0.0", API, True),
    ("127.0.0.1", API + 1, False), ("10.0.0.1", API, False), ("93.184.216.34", API, False),
    # host 0.0.0.0: the port is reserved on every non-public address, not on public ones.
    ("10.0.0.1", 9999, True), ("192.168.1.1", 9999, True), ("::ffff:10.0.0.1", 9999, True),
    ("93.184.216.34", 9999, False),
])
def test_self_endpoints_cover_loopback_unspecified_and_embedded_spellings(address: str, port: int,
                                                                           reserved: bool) -> None:
    assert is_self_endpoint(ipaddress.ip_address(address), port, SELF) is reserved


# --------------------------------------------------------------------------------- scan targets


@pytest.mark.parametrize("vector", ADDRESS_VECTORS, ids=ids)
@pytest.mark.parametrize("exempt", [False, True], ids=["plain", "exempt-127"])
def test_scan_targets_get_the_vector_verdict_as_literals_and_as_dns_answers(vector: AddressVector,
                                                                            exempt: bool) -> None:
    allowed = EXEMPT if exempt else ()
    refused = vector.refused_with_127_exempt if exempt else True
    service = scans(allowed, {NAME: [vector.address]})
    for raw, scan_type in ((vector.literal, ScanType.PORTS), (NAME, ScanType.POSTURE)):
        if refused:
            with pytest.raises(TargetNotAllowed):
                service.check_target(raw, scan_type)
        else:
            service.check_target(raw, scan_type)


@pytest.mark.parametrize("raw", (*LOOPBACK_SPELLINGS, *LOOPBACK_TARGET_TRICKS))
def test_every_loopback_spelling_and_trick_is_refused_as_a_scan_target(raw: str) -> None:
    with pytest.raises((TargetNotAllowed, InvalidDomain)):
        scans().check_target(raw, ScanType.PORTS)


@pytest.mark.parametrize("raw", ALWAYS_REFUSED_TARGETS)
def test_scan_targets_refused_even_with_the_loopback_exemption(raw: str) -> None:
    with pytest.raises((TargetNotAllowed, InvalidDomain)):
        scans(EXEMPT).check_target(raw, ScanType.PORTS)


@pytest.mark.parametrize("name", sorted(MIXED_ANSWERS))
def test_a_name_with_one_non_public_answer_among_public_ones_is_refused(name: str) -> None:
    with pytest.raises(TargetNotAllowed) as info:
        scans(EXEMPT, MIXED_ANSWERS).check_target(name, ScanType.PORTS)
    assert PUBLIC_ANSWER not in info.value.extra["addresses"]


# ------------------------------------------------------------------------ AAAA answers, scanners


@pytest.mark.parametrize("vector", ADDRESS_VECTORS, ids=ids)
@pytest.mark.parametrize("exempt", [False, True], ids=["plain", "exempt-127"])
def test_the_scanners_guard_gives_answers_the_vector_verdict(vector: AddressVector, exempt: bool) -> None:
    ctx = context({NAME: [vector.address]}, EXEMPT if exempt else ())
    if vector.refused_with_127_exempt or not exempt:
        with pytest.raises(CheckSkipped):
            allowed_addresses(NAME, ctx)
        with pytest.raises(CheckSkipped):
            allowed_addresses(vector.address, ctx)
    else:
        assert allowed_addresses(NAME, ctx) == [ipaddress.ip_address(vector.address)]


@pytest.mark.parametrize("name", sorted(MIXED_ANSWERS))
def test_the_scanners_keep_only_the_public_answer_of_a_mixed_name(name: str) -> None:
    kept = allowed_addresses(name, context(MIXED_ANSWERS, EXEMPT))
    assert kept == [ipaddress.ip_address(MIXED_ANSWERS[name][0])]


@pytest.mark.parametrize("answer", ["127.0.0.1", "::ffff:127.0.0.1", "::7f00:1", "64:ff9b::7f00:1", "127.0.0.9"])
def test_the_scanners_never_get_a_self_endpoint_even_with_the_exemption(answer: str) -> None:
    ctx = context({NAME: [answer]}, EXEMPT, SELF)
    assert allowed_addresses(NAME, ctx) == [ipaddress.ip_address(answer)]  # the address, on other ports
    with pytest.raises(CheckSkipped):
        allowed_addresses(NAME, ctx, API)
    assert not address_allowed(ipaddress.ip_address(answer), ctx, AWS)
    assert address_allowed(ipaddress.ip_address(answer), ctx, AWS + 1)


def test_scan_contexts_built_from_settings_carry_the_self_endpoints() -> None:
    settings = Settings.from_env({}, key_pepper=PEPPER, self_endpoints=[f"127.0.0.1:{API}"])
    assert ScanContext.from_settings(settings).self_endpoints == (SelfEndpoint(ipaddress.ip_address("127.0.0.1"), API),)


# -------------------------------------------------------------------------------- webhook URLs


def _refused(url: str, allowed: tuple[IPNetwork, ...], resolver: FakeResolver,
             reserved: tuple[SelfEndpoint, ...] = ()) -> Unprocessable:
    with pytest.raises(Unprocessable) as info:
        check_webhook_url(url, allowed, resolver, reserved)
    return info.value


@pytest.mark.parametrize("vector", ADDRESS_VECTORS, ids=ids)
@pytest.mark.parametrize("exempt", [False, True], ids=["plain", "exempt-127"])
def test_webhook_urls_get_the_vector_verdict_as_literals_and_as_dns_answers(vector: AddressVector,
                                                                            exempt: bool) -> None:
    allowed = EXEMPT if exempt else ()
    refused = vector.refused_with_127_exempt if exempt else True
    resolver = FakeResolver({NAME: [vector.address]})
    for url in (f"http://{vector.literal}:8080/hook", f"https://{NAME}/hook"):
        if refused:
            assert _refused(url, allowed, resolver).code == NOT_ALLOWED
        else:
            assert check_webhook_url(url, allowed, resolver, ()).port in (8080, 443)


@pytest.mark.parametrize("host", LOOPBACK_SPELLINGS)
def test_every_loopback_spelling_is_refused_as_a_webhook_host(host: str) -> None:
    assert _refused(f"https://{host}:8443/hook", (), FakeResolver({})).code == NOT_ALLOWED


@pytest.mark.parametrize("host", ALWAYS_REFUSED_URL_HOSTS)
def test_webhook_hosts_refused_even_with_the_loopback_exemption(host: str) -> None:
    _refused(f"http://{host}:8080/hook", EXEMPT, FakeResolver({}))


@pytest.mark.parametrize("name", sorted(MIXED_ANSWERS))
def test_a_webhook_name_with_one_non_public_answer_is_refused(name: str) -> None:
    assert _refused(f"https://{name}/hook", EXEMPT, FakeResolver(dict(MIXED_ANSWERS))).code == NOT_ALLOWED


@pytest.mark.parametrize("host", (*LOOPBACK_SPELLINGS, "127.0.0.2", "localhost.test", "[::1]", "0.0.0.0", "[::]"))
@pytest.mark.parametrize("port", [API, AWS])
def test_webhooks_to_the_stacks_own_sockets_are_refused_with_the_exemption_on(host: str, port: int) -> None:
    resolver = FakeResolver({"localhost.test": ["127.0.0.1", "::ffff:127.0.0.1"]})
    url = f"http://{host}:{port}/moto-api/reset"
    assert _refused(url, EXEMPT, resolver, SELF).code == SELF_ENDPOINT
    if host not in ("0.0.0.0", "[::]", "[::1]"):  # outside the exemption on any port
        assert check_webhook_url(f"http://{host}:{port + 1}/x", EXEMPT, resolver, SELF).port == port + 1


def test_registration_reads_the_processes_self_endpoints_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERIMETER_SELF_ENDPOINTS", f"127.0.0.1:{API}")
    error = _refused_default(f"http://127.0.0.1:{API}/", EXEMPT)
    assert error.code == SELF_ENDPOINT and error.status == 422 and "own endpoints" in error.detail
    monkeypatch.delenv("PERIMETER_SELF_ENDPOINTS")
    assert check_webhook_url(f"http://127.0.0.1:{API}/", EXEMPT, FakeResolver({})).port == API


def _refused_default(url: str, allowed: tuple[IPNetwork, ...]) -> PerimeterError:
    with pytest.raises(Unprocessable) as info:
        check_webhook_url(url, allowed, FakeResolver({}))
    return info.value


@pytest.mark.parametrize("vector", [v for v in ADDRESS_VECTORS if v.refused_with_127_exempt], ids=ids)
def test_sending_refuses_every_vector_before_connecting(vector: AddressVector) -> None:
    resolver = FakeResolver({NAME: [vector.address]})
    outcome = deliver(f"https://{NAME}/hook", b"{}", {}, allowed=EXEMPT, resolver=resolver, timeout=1.0)
    assert outcome.status_code is None and outcome.address is None
    assert outcome.error_kind == ErrorKind.ADDRESS_NOT_ALLOWED


def test_sending_to_a_self_endpoint_is_refused_before_connecting(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PERIMETER_SELF_ENDPOINTS", f"127.0.0.1:{API}")
    outcome = deliver(f"http://[::ffff:127.0.0.1]:{API}/", b"{}", {}, allowed=EXEMPT, resolver=FakeResolver({}),
                      timeout=1.0)
    assert outcome.error_kind == ErrorKind.ADDRESS_NOT_ALLOWED and "own endpoints" in (outcome.error or "")
