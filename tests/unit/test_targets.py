"""Target normalisation and the non-public address guard."""

from __future__ import annotations

import ipaddress

import pytest

from chalicelib.core.errors import InvalidDomain, TargetNotAllowed
from chalicelib.net.guard import guard_addresses, is_blocked, normalise_domain, normalise_target, parse_ip

# ../shared/notes/webhooks-security.md: every one of these must be refused.
MUST_BLOCK = [
    "0.0.0.0", "0.1.2.3", "10.0.0.1", "100.64.0.1", "100.127.255.254", "127.0.0.1", "127.255.255.254",
    "169.254.169.254", "169.254.170.2", "172.16.0.1", "172.31.255.255", "192.0.0.8", "192.168.1.1",
    "198.18.0.1", "198.19.255.255", "224.0.0.1", "239.255.255.250", "240.0.0.1", "255.255.255.255",
    "::1", "::", "fc00::1", "fd00:ec2::254", "fe80::1", "ff02::1", "64:ff9b::a9fe:a9fe", "2002:7f00:1::1",
    "2001::1", "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1",
    "2852039166", "0251.0376.0251.0376", "0xA9FEA9FE", "0xa9.0xfe.0xa9.0xfe", "127.1", "0177.0.0.1",
    "017700000001", "0x7f000001", "[::1]", "[::ffff:127.0.0.1]",
    # issue 9: IPv4-compatible and IPv4-translated addresses carry IPv4 too.
    "::127.0.0.1", "::7f00:1", "[::169.254.169.254]", "::ffff:0:7f00:1", "::ffff:0:a9fe:a9fe", "[::127.0.0.1%lo]",
]
MUST_ALLOW = ["93.184.216.34", "8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001:80b::200e"]


@pytest.mark.parametrize("spelling", MUST_BLOCK)
def test_guard_refuses_every_non_public_spelling(spelling: str) -> None:
    address = parse_ip(spelling)
    assert address is not None, spelling
    assert is_blocked(address)


@pytest.mark.parametrize("spelling", MUST_ALLOW)
def test_guard_lets_public_addresses_through(spelling: str) -> None:
    address = parse_ip(spelling)
    assert address is not None and not is_blocked(address)


def test_legacy_ipv4_spellings_resolve_to_the_same_address() -> None:
    expected = ipaddress.ip_address("169.254.169.254")
    assert {parse_ip(s) for s in ("2852039166", "0251.0376.0251.0376", "0xA9FEA9FE", "169.254.43518")} == {expected}


def test_allow_list_exempts_its_range_only() -> None:
    allowed = (ipaddress.ip_network("127.0.0.0/8"),)
    assert not is_blocked(ipaddress.ip_address("127.0.0.1"), allowed)
    assert not is_blocked(ipaddress.ip_address("::ffff:127.0.0.1"), allowed)
    assert is_blocked(ipaddress.ip_address("10.0.0.1"), allowed)


@pytest.mark.parametrize(("raw", "expected"), [
    ("example.com", "example.com"),
    ("EXAMPLE.COM.", "example.com"),
    ("https://example.com/path?q=1#frag", "example.com"),
    ("http://user:pw@example.com:8443/", "example.com"),
    ("  example.com  ", "example.com"),
    ("Bücher.example", "xn--bcher-kva.example"),
    ("xn--bcher-kva.example", "xn--bcher-kva.example"),
    ("sub.domain.example.co.uk", "sub.domain.example.co.uk"),
])
def test_normalise_domain_strips_scheme_path_port_and_applies_idna(raw: str, expected: str) -> None:
    assert normalise_domain(raw) == expected


@pytest.mark.parametrize("raw", [
    "", "localhost", "a..b", "-bad.example", "bad-.example", "exa mple.com", "example.123", "x" * 64 + ".com",
    ("a" * 60 + ".") * 5 + "com", "127.0.0.1", "http://[::1]/", "exa_mple.com", "☃",
    "\uff10\uff58\uff17\uff46.\uff10\uff58\uff11", "0x7f.0x1", "10.0x1", "\uff11\uff12\uff17.\uff10.\uff10.\uff11",
])
def test_normalise_domain_rejects_invalid_names(raw: str) -> None:
    with pytest.raises(InvalidDomain):
        normalise_domain(raw)


def test_targeted_scans_accept_ip_literals_and_posture_scans_do_not() -> None:
    assert normalise_target("93.184.216.34", allow_ip=True) == ("93.184.216.34", ipaddress.ip_address("93.184.216.34"))
    with pytest.raises(InvalidDomain):
        normalise_target("93.184.216.34", allow_ip=False)


def test_guard_names_every_bad_address() -> None:
    with pytest.raises(TargetNotAllowed) as info:
        guard_addresses("mixed.example", [ipaddress.ip_address("93.184.216.36"), ipaddress.ip_address("10.1.2.3")])
    assert info.value.extra["addresses"] == ["10.1.2.3"]
    assert info.value.code == "target-not-allowed" and info.value.status == 422


def test_ids_made_in_one_millisecond_keep_their_order() -> None:
    from chalicelib.core.ids import ulid

    made = [ulid(now_ms=1_700_000_000_000) for _ in range(50)]
    assert made == sorted(made) and len(set(made)) == 50
