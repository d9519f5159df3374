"""Port sets, nmap XML parsing and the findings built from open ports (no network)."""

from __future__ import annotations

import pytest

from chalicelib.scanners.identify import Service
from chalicelib.scanners.open_ports import NmapFailed, compress_ports, findings_for, nmap_command, parse_nmap_xml
from chalicelib.scans.models import Severity
from chalicelib.scans.options import TOP_PORTS, parse_port_spec

NMAP_XML = """<?xml version="1.0" encoding="UTF-8"?>
<nmaprun scanner="nmap" args="nmap -sT" version="7.93">
<host><status state="up"/><address addr="127.9.9.9" addrtype="ipv4"/>
<ports>
<port protocol="tcp" portid="22"><state state="open" reason="syn-ack"/><service name="ssh"/></port>
<port protocol="tcp" portid="6379"><state state="open" reason="syn-ack"/><service name="redis"/></port>
<port protocol="tcp" portid="8080"><state state="closed" reason="conn-refused"/></port>
<port protocol="tcp" portid="3306"><state state="filtered" reason="no-response"/></port>
</ports></host>
<host><status state="up"/><address addr="::1" addrtype="ipv6"/><ports/></host>
</nmaprun>"""


def test_top_ports_list_has_100_distinct_ports() -> None:
    assert len(TOP_PORTS) == 100 == len(set(TOP_PORTS))


def test_top_n_takes_the_first_n_of_the_list() -> None:
    assert parse_port_spec("top-3") == sorted(TOP_PORTS[:3])


def test_top_n_beyond_100_adds_the_lowest_remaining_ports() -> None:
    ports = parse_port_spec("top-1000")
    assert len(ports) == 1000 == len(set(ports))
    assert set(TOP_PORTS) <= set(ports)


def test_nmap_syntax_expands_lists_and_ranges() -> None:
    assert parse_port_spec("22, 80,443,8000-8003,80") == [22, 80, 443, 8000, 8001, 8002, 8003]


@pytest.mark.parametrize("spec", ["", "0", "65536", "80-20", "http", "22;80", "top-0", "top-70000", "1-2-3"])
def test_invalid_port_sets_are_refused(spec: str) -> None:
    with pytest.raises(ValueError):
        parse_port_spec(spec)


def test_compress_ports_gives_the_shortest_nmap_spelling() -> None:
    assert compress_ports([443, 22, 80, 81, 82, 8080]) == "22,80-82,443,8080"
    ports = parse_port_spec("top-1000")
    assert parse_port_spec(compress_ports(ports)) == ports


def test_nmap_command_is_an_unprivileged_connect_scan_without_dns() -> None:
    cmd = nmap_command(["127.1.2.3"], [22, 80, 81])
    assert cmd[:5] == ["nmap", "-sT", "-n", "-Pn", "-T4"]
    assert "-oX" in cmd and cmd[cmd.index("-p") + 1] == "22,80-81"
    assert cmd[-1] == "127.1.2.3" and "-6" not in cmd
    assert "-6" in nmap_command(["::1"], [22])


def test_nmap_xml_keeps_only_open_tcp_ports_per_address() -> None:
    assert parse_nmap_xml(NMAP_XML) == {"127.9.9.9": [22, 6379], "::1": []}


def test_nmap_xml_with_an_entity_bomb_is_refused() -> None:
    bomb = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><nmaprun>&b;</nmaprun>'
    with pytest.raises(NmapFailed):
        parse_nmap_xml(bomb)


def test_redis_port_is_a_high_database_exposure_with_evidence() -> None:
    redis = Service("127.1.1.1", 6379, "redis", "Redis key-value store", "6.0.9", "cpe:/a:redislabs:redis:6.0.9",
                    banner="$2931 # Server redis_version:6.0.9", method="probe")
    [item] = findings_for({"127.1.1.1": [6379]}, [redis], "builtin")
    assert (item.code, item.severity, item.cwe) == ("database-exposed", Severity.HIGH, "CWE-668")
    assert item.evidence == {"port": 6379, "protocol": "tcp", "service": "redis", "addresses": ["127.1.1.1"],
                             "scanner": "builtin", "banner": "$2931 # Server redis_version:6.0.9",
                             "identified_by": "probe"}
    assert (item.product, item.version, item.cpe) == ("Redis key-value store", "6.0.9", "cpe:/a:redislabs:redis:6.0.9")
    assert "Redis key-value store 6.0.9" in item.detail
    assert item.remediation


def test_an_unidentified_port_has_no_product_fields() -> None:
    [item] = findings_for({"127.1.1.1": [8081]}, [Service("127.1.1.1", 8081, "http-alt")], "builtin")
    assert (item.product, item.version, item.cpe) == (None, None, None)
    assert item.evidence["identified_by"] == "port" and "banner" not in item.evidence


def test_the_address_that_named_a_product_gives_the_port_its_identity() -> None:
    services = [Service("127.1.1.1", 22, "ssh"), Service("127.1.1.2", 22, "ssh", "OpenSSH", "7.4",
                                                         "cpe:/a:openbsd:openssh:7.4", method="banner")]
    [item] = findings_for({"127.1.1.1": [22], "127.1.1.2": [22]}, services, "nmap")
    assert (item.product, item.version) == ("OpenSSH", "7.4")


def test_docker_api_is_critical_and_telnet_is_cleartext() -> None:
    found = findings_for({"127.1.1.1": [23, 2375]}, [], "nmap")
    by_port = {f.evidence["port"]: f for f in found}
    assert by_port[2375].severity is Severity.CRITICAL and by_port[2375].cwe == "CWE-306"
    assert by_port[23].code == "telnet-exposed" and by_port[23].cwe == "CWE-319"


def test_ordinary_web_ports_are_info_only() -> None:
    found = findings_for({"127.1.1.1": [80, 443]}, [], "nmap")
    assert {(f.code, f.severity) for f in found} == {("open-port", Severity.INFO)}


def test_the_same_port_on_two_addresses_is_one_finding() -> None:
    [item] = findings_for({"127.1.1.1": [3389], "127.1.1.2": [3389]}, [], "nmap")
    assert item.code == "rdp-exposed"
    assert item.evidence["addresses"] == ["127.1.1.1", "127.1.1.2"]


def test_finding_ids_are_deterministic() -> None:
    first = findings_for({"127.1.1.1": [21, 445]}, [], "nmap")
    second = findings_for({"127.1.1.1": [445, 21]}, [], "nmap")
    assert [f.id for f in first] == [f.id for f in second]
