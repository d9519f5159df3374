"""DNSBL query names and answer classification; breach findings from API data (no network)."""

from __future__ import annotations

import ipaddress

from chalicelib.scanners import breach, reputation
from chalicelib.scans.models import Severity


def test_ipv4_addresses_are_queried_with_reversed_octets() -> None:
    assert reputation.reverse_name(ipaddress.ip_address("192.0.2.99")) == "99.2.0.192"


def test_ipv6_addresses_are_queried_as_reversed_nibbles() -> None:
    name = reputation.reverse_name(ipaddress.ip_address("2001:db8::1"))
    assert name.startswith("1.0.0.0.") and name.endswith(".8.b.d.0.1.0.0.2") and len(name.split(".")) == 32


def test_domain_and_ip_zones_produce_their_own_query_names() -> None:
    queries = reputation.plan("site.test", [ipaddress.ip_address("192.0.2.1")], ("domain:dbl.test", "ip:zen.test"))
    assert queries == [("dbl.test", "site.test.dbl.test", "site.test", "domain"),
                       ("zen.test", "1.2.0.192.zen.test", "192.0.2.1", "ip")]


def test_a_loopback_answer_is_a_listing() -> None:
    assert reputation.classify(["127.0.0.2", "127.0.0.4"]) == (("127.0.0.2", "127.0.0.4"), None)


def test_error_answers_are_errors_not_listings() -> None:
    for answer in ("127.255.255.252", "127.255.255.254", "127.255.255.255"):
        codes, error = reputation.classify([answer])
        assert codes == () and error and answer in error


def test_answers_outside_127_slash_8_are_not_listings() -> None:
    assert reputation.classify(["192.0.2.1"]) == ((), None)


def test_listings_and_zone_errors_become_findings() -> None:
    found = reputation.findings_for([
        reputation.Lookup("dbl.test", "site.test.dbl.test", "site.test", "domain", codes=("127.0.1.2",), reason="spam"),
        reputation.Lookup("zen.test", "1.2.0.192.zen.test", "192.0.2.1", "ip", error="refused"),
        reputation.Lookup("zen.test", "2.2.0.192.zen.test", "192.0.2.2", "ip"),
    ])
    assert [(f.code, f.severity) for f in found] == [("domain-listed", Severity.HIGH), ("zone-error", Severity.INFO)]
    assert found[0].evidence["reason"] == "spam"


def test_a_password_breach_is_high_and_others_medium() -> None:
    found = breach.findings_for("site.test", {"alice": ["Adobe", "Canva"], "bob": ["Adobe"]}, {
        "Adobe": {"DataClasses": ["Email addresses", "Passwords"], "BreachDate": "2013-10-04"},
        "Canva": {"DataClasses": ["Email addresses", "Names"]},
    })
    by_breach = {f.evidence["breach"]: f for f in found}
    assert (by_breach["Adobe"].code, by_breach["Adobe"].severity) == ("credentials-exposed", Severity.HIGH)
    assert by_breach["Adobe"].evidence["accounts"] == ["alice@site.test", "bob@site.test"]
    assert (by_breach["Canva"].code, by_breach["Canva"].severity) == ("accounts-exposed", Severity.MEDIUM)


def test_a_breach_without_details_is_not_assumed_to_hold_passwords() -> None:
    [item] = breach.findings_for("site.test", {"carol": ["Unknown"]}, {"Unknown": None})
    assert item.code == "accounts-exposed"
