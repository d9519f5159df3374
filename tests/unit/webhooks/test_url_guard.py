"""Webhook URL rules at registration, and the same refusals at send time (before any connection)."""

from __future__ import annotations

import ipaddress

import pytest

from chalicelib.core.addresses import IPNetwork
from chalicelib.core.errors import ServiceUnavailable, Unprocessable
from chalicelib.net import http as guarded_http
from chalicelib.webhooks.sender import ErrorKind, deliver
from chalicelib.webhooks.url_guard import INVALID, NOT_ALLOWED, check_webhook_url
from tests.support.fakes import FakeResolver

LOOPBACK: tuple[IPNetwork, ...] = (ipaddress.ip_network("127.0.0.0/8"),)
PUBLIC_V4, PUBLIC_V6 = "93.184.216.34", "2606:4700:4700::1111"

# ../shared/notes/webhooks-security.md, SSRF block list: one or more addresses from every range.
BLOCKED_ADDRESSES = [
    "0.0.0.0", "0.255.255.255", "10.0.0.1", "10.255.255.255", "100.64.0.1", "100.127.255.254",
    "127.0.0.1", "127.255.255.254", "169.254.169.254", "169.254.170.2", "169.254.0.1", "172.16.0.1",
    "172.31.255.255", "192.0.0.1", "192.0.0.255", "192.168.0.1", "192.168.255.255", "198.18.0.1",
    "198.19.255.255", "224.0.0.1", "239.255.255.255", "240.0.0.1", "255.255.255.255",
    "::1", "fc00::1", "fdff:ffff::1", "fe80::1", "febf::1", "ff00::1", "ff02::1", "64:ff9b::a9fe:a9fe",
    "64:ff9b::808:808", "2002:7f00:1::1", "2002:808:808::1", "2001::1", "2001:0:ffff::1", "fd00:ec2::254",
    "::ffff:127.0.0.1", "::ffff:169.254.169.254", "::ffff:10.0.0.1", "::ffff:8.8.8.8",
]
# The same addresses written as URL hosts in other spellings.
BLOCKED_SPELLINGS = [
    "2852039166", "0251.0376.0251.0376", "0xA9FEA9FE", "0XA9FEA9FE", "0xa9.0xfe.0xa9.0xfe", "169.254.43518",
    "127.1", "127.0.1", "0177.0.0.1", "017700000001", "0x7f000001", "2130706433", "0", "0x0", "10.1",
    "[::1]", "[0:0:0:0:0:0:0:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::ffff:a9fe:a9fe]",
    "[fd00:ec2::254]", "[64:ff9b::7f00:1]", "127.0.0.1.", "[FE80::1]",
]


def public(host: str = "hooks.example.com") -> FakeResolver:
    return FakeResolver({host: [PUBLIC_V4, PUBLIC_V6]})


def refused(url: str, resolver: FakeResolver, allowed: tuple[IPNetwork, ...] = ()) -> Unprocessable:
    with pytest.raises(Unprocessable) as info:
        check_webhook_url(url, allowed, resolver)
    assert info.value.status == 422
    return info.value


@pytest.mark.parametrize("address", BLOCKED_ADDRESSES)
def test_a_name_resolving_to_a_blocked_address_is_refused_at_registration(address: str) -> None:
    resolver = FakeResolver({"hooks.example.com": [address]})
    error = refused("https://hooks.example.com/perimeter", resolver)
    assert error.code == NOT_ALLOWED
    assert "non-public" in error.detail and str(ipaddress.ip_address(address)) in error.detail


@pytest.mark.parametrize("address", BLOCKED_ADDRESSES)
def test_a_blocked_literal_is_refused_at_registration(address: str) -> None:
    host = f"[{address}]" if ":" in address else address
    resolver = FakeResolver({})
    assert refused(f"https://{host}/hook", resolver).code == NOT_ALLOWED
    assert resolver.calls == []  # literals are never looked up


@pytest.mark.parametrize("spelling", BLOCKED_SPELLINGS)
def test_every_spelling_of_a_blocked_literal_is_refused(spelling: str) -> None:
    assert refused(f"https://{spelling}:8443/hook", FakeResolver({})).code == NOT_ALLOWED


def test_one_bad_address_among_good_ones_is_enough_to_refuse() -> None:
    resolver = FakeResolver({"mixed.example.com": [PUBLIC_V4, "169.254.169.254", PUBLIC_V6]})
    error = refused("https://mixed.example.com/", resolver)
    assert error.code == NOT_ALLOWED and error.extra["addresses"] == ["169.254.169.254"]


def test_a_public_https_url_is_accepted_and_normalised() -> None:
    resolver = public("xn--bcher-kva.example")
    checked = check_webhook_url("HTTPS://Bücher.Example:443/a/b?x=1&y=%2F", (), resolver)
    assert checked.url == "https://xn--bcher-kva.example/a/b?x=1&y=%2F"
    assert (checked.scheme, checked.host, checked.port, checked.target) == ("https", "xn--bcher-kva.example", 443,
                                                                            "/a/b?x=1&y=%2F")
    assert checked.addresses == (ipaddress.ip_address(PUBLIC_V4), ipaddress.ip_address(PUBLIC_V6))
    assert checked.host_header == "xn--bcher-kva.example" and not checked.is_ip_literal
    assert resolver.calls == ["xn--bcher-kva.example"]


def test_path_gets_percent_encoded_and_default_path_is_slash() -> None:
    assert check_webhook_url("https://hooks.example.com/é?q=ü", (), public()).target == "/%C3%A9?q=%C3%BC"
    assert check_webhook_url("https://hooks.example.com", (), public()).target == "/"
    assert check_webhook_url("https://hooks.example.com.:8443", (), public()).url == "https://hooks.example.com:8443/"


def test_plain_http_needs_every_address_inside_the_allowed_networks() -> None:
    resolver = public()
    assert "https" in refused("http://hooks.example.com/", resolver).detail
    assert resolver.calls == []  # refused before any lookup when nothing is allowed
    assert "https" in refused("http://hooks.example.com/", resolver, LOOPBACK).detail
    both = FakeResolver({"dev.test": ["127.0.0.1", PUBLIC_V4]})
    assert "https" in refused("http://dev.test/", both, LOOPBACK).detail
    local = check_webhook_url("http://127.1:8080/hook", LOOPBACK, FakeResolver({}))
    assert (local.url, local.host, local.is_ip_literal) == ("http://127.0.0.1:8080/hook", "127.0.0.1", True)
    named = check_webhook_url("http://dev.test:9000/", LOOPBACK, FakeResolver({"dev.test": ["127.0.0.2"]}))
    assert named.host_header == "dev.test:9000"


def test_allowing_loopback_opens_nothing_else() -> None:
    for address in ("10.0.0.1", "169.254.169.254", "::1", "192.168.1.1"):
        host = f"[{address}]" if ":" in address else address
        assert refused(f"https://{host}/", FakeResolver({}), LOOPBACK).code == NOT_ALLOWED
    mapped = check_webhook_url("http://[::ffff:127.0.0.1]:81/", LOOPBACK, FakeResolver({}))
    assert mapped.host_header == "[::ffff:7f00:1]:81"


@pytest.mark.parametrize(("url", "code"), [
    ("ftp://hooks.example.com/", NOT_ALLOWED),
    ("javascript:alert(1)", NOT_ALLOWED),
    ("file:///etc/passwd", NOT_ALLOWED),
    ("hooks.example.com/path", NOT_ALLOWED),
    ("https://user:pw@hooks.example.com/", NOT_ALLOWED),
    ("https://@hooks.example.com/", NOT_ALLOWED),
    ("https://hooks.example.com@169.254.169.254/", NOT_ALLOWED),
    ("https://hooks.example.com/#frag", NOT_ALLOWED),
    ("https://hooks.example.com/#", NOT_ALLOWED),
    ("https://hooks.example.com:0/", INVALID),
    ("https://hooks.example.com:65536/", INVALID),
    ("https://hooks.example.com:abc/", INVALID),
    ("https://hooks.example.com:+443/", INVALID),
    ("https://hooks.example.com:123456/", INVALID),
    ("https:///path", INVALID),
    ("https://:443/", INVALID),
    ("https://::1/", INVALID),
    ("https://[fe80::1%25eth0]/", INVALID),
    ("https://[127.0.0.1]/", INVALID),
    ("https://[::1]x/", INVALID),
    ("https://hooks example.com/", INVALID),
    ("https://hooks.example.com/a b", INVALID),
    ("https://hooks.example.com\\@evil.example/", INVALID),
    ("https://hooks.example.com/\r\nHost: evil", INVALID),
    ("https://hooks.example.com/\x00", INVALID),
    ("https://1.2.3.4.5/", INVALID),
    ("https://-bad-.example.com/", INVALID),
    ("https://localhost/", INVALID),
    ("https://8.8.8.8%2f.example/", INVALID),
    ("https://hooks.example.com/" + "a" * 2100, INVALID),
    ("https://nx.example.com/", INVALID),
])
def test_malformed_or_forbidden_urls(url: str, code: str) -> None:
    assert refused(url, public()).code == code


def test_dns_answers_without_addresses_and_resolver_outages() -> None:
    assert "no A or AAAA" in refused("https://empty.example.com/", FakeResolver({"empty.example.com": []})).detail

    with pytest.raises(ServiceUnavailable) as info:
        check_webhook_url("https://hooks.example.com/", (), FakeResolver(unavailable="timed out"))
    assert info.value.code == "dns-unavailable" and info.value.status == 503


# --- the same guard at send time: refused before a socket is opened ---------------------------------

@pytest.fixture
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> None:
        raise AssertionError("a connection was attempted")

    monkeypatch.setattr(guarded_http, "_open_socket", forbidden)


@pytest.mark.usefixtures("no_sockets")
@pytest.mark.parametrize("address", BLOCKED_ADDRESSES)
def test_send_time_refuses_a_name_now_resolving_to_a_blocked_address(address: str) -> None:
    resolver = FakeResolver({"hooks.example.com": [address]})
    outcome = deliver("https://hooks.example.com/hook", b"{}", {}, allowed=(), resolver=resolver)
    assert (outcome.status_code, outcome.error_kind) == (None, ErrorKind.ADDRESS_NOT_ALLOWED)
    assert outcome.error is not None and "non-public" in outcome.error
    assert resolver.calls == ["hooks.example.com"]


@pytest.mark.usefixtures("no_sockets")
@pytest.mark.parametrize("spelling", BLOCKED_SPELLINGS)
def test_send_time_refuses_every_blocked_spelling(spelling: str) -> None:
    outcome = deliver(f"https://{spelling}/hook", b"{}", {}, allowed=(), resolver=FakeResolver({}))
    assert outcome.error_kind == ErrorKind.ADDRESS_NOT_ALLOWED and outcome.status_code is None


@pytest.mark.usefixtures("no_sockets")
def test_send_time_reports_dns_and_url_problems_without_raising() -> None:
    gone = deliver("https://nx.example.com/", b"{}", {}, allowed=(), resolver=FakeResolver({}))
    assert gone.error_kind == ErrorKind.INVALID_URL

    down = deliver("https://hooks.example.com/", b"{}", {}, allowed=(), resolver=FakeResolver(unavailable="SERVFAIL"))
    assert down.error_kind == ErrorKind.DNS and down.error is not None and "SERVFAIL" in down.error
