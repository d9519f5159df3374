"""Identification without the network: the probe-file parser, regex translation, substitutions, matching real
product banners (nmap's file when the system has it, and the built-in table), web rules, nmap -sV XML."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from chalicelib.scanners.identify import engine, fingerprints, nmap_sv
from chalicelib.scanners.identify.http import generator_of, server_header, title_of, web_software
from chalicelib.scanners.identify.model import HttpFacts
from chalicelib.scanners.identify.probes import (
    Identity,
    MatchRule,
    ProbeFileError,
    ProbeSet,
    literal_prefix,
    parse_match,
    parse_probe_file,
    translate_regex,
    unescape,
)
from chalicelib.scanners.identify.services import _version, clean_banner
from tests.support.banners import MYSQL_GREETING, PRODUCTS

NMAP_FILE = Path(fingerprints.NMAP_PROBES)
needs_probe_file = pytest.mark.skipif(not NMAP_FILE.is_file(), reason="nmap-service-probes is not installed")

# Real lines of nmap-service-probes (7.93), shortened to what the tests need.
EXCERPT = r"""
# comment
Exclude T:9100-9107
Probe TCP NULL q||
totalwaitms 6000
tcpwrappedms 3000
match ftp m|^220 ProFTPD (\d\S+) Server| p/ProFTPD/ v/$1/ o/Unix/ cpe:/a:proftpd:proftpd:$1/a
match ssh m|^SSH-([\d.]+)-OpenSSH_([\w._-]+)[ -]{1,2}Debian[ -_]([^\r\n]+)\r?\n| p/OpenSSH/ v/$2 Debian $3/ i/protocol $1/ o/Linux/ cpe:/a:openbsd:openssh:$2/ cpe:/o:debian:debian_linux/ cpe:/o:linux:linux_kernel/a
softmatch ftp m|^220[- ].*FTP|i
Probe UDP DNSStatusRequest q|\0\0\x10\0\0\0\0\0\0\0\0\0|
match domain m|^\0\0\x90\x04| p/some udp/
Probe TCP GetRequest q|GET / HTTP/1.0\r\n\r\n|
rarity 1
ports 1,70,79,80-85,88
sslports 443,8443
match http m|^HTTP/1\.[01] \d\d\d .*\r\nServer: nginx/([\d.]+)|s p/nginx/ v/$1/ cpe:/a:igor_sysoev:nginx:$1/
Probe TCP redis-server q|*1\r\n$4\r\ninfo\r\n|
rarity 8
ports 6379
fallback GetRequest
match redis m|^\$\d+\r\n(?:#[^\r\n]*\r\n)*redis_version:([.\d]+)\r\n|s p/Redis key-value store/ v/$1/ cpe:/a:redislabs:redis:$1/
"""  # noqa: E501 - real probe-file lines are long


def excerpt() -> ProbeSet:
    return ProbeSet(parse_probe_file(EXCERPT), "test")


def test_probe_file_sections_directives_and_match_templates_are_parsed() -> None:
    probes = excerpt()
    assert [p.name for p in probes.probes] == ["NULL", "GetRequest", "redis-server"]  # the UDP probe is skipped
    get = probes.by_name["GetRequest"]
    assert get.payload == b"GET / HTTP/1.0\r\n\r\n" and get.rarity == 1
    assert get.listed(82, tls=False) and not get.listed(86, tls=False) and get.listed(8443, tls=True)
    assert probes.by_name["redis-server"].fallback == ("GetRequest",)
    ssh = probes.null.matches[1] if probes.null else None
    assert ssh is not None and ssh.templates == {"p": "OpenSSH", "v": "$2 Debian $3", "i": "protocol $1", "o": "Linux"}
    assert ssh.cpes == ("cpe:/a:openbsd:openssh:$2", "cpe:/o:debian:debian_linux", "cpe:/o:linux:linux_kernel")
    soft = probes.null.matches[2] if probes.null else None
    assert soft is not None and soft.soft and soft.flags == re.IGNORECASE


def test_a_malformed_probe_line_names_its_line_number() -> None:
    with pytest.raises(ProbeFileError, match="line 2"):
        parse_probe_file("# x\nProbe TCP Broken nothing\n")


def test_payload_escapes_follow_nmap() -> None:
    assert unescape(r"\0\x1E\r\n\t\\\|a") == b"\x00\x1e\r\n\t\\|a"


def test_perl_only_regex_syntax_is_translated() -> None:
    assert re.search(translate_regex(r"^abc\z").encode(), b"abc") is not None
    assert re.search(translate_regex(r"^abc\z").encode(), b"abc\n") is None
    assert re.search(translate_regex(r"^abc\Z").encode(), b"abc\n") is not None
    assert re.fullmatch(translate_regex(r"[[:alpha:]]+[[:digit:]]").encode(), b"abC1") is not None


def test_literal_prefixes_are_exact_and_refuse_unanchored_or_alternated_patterns() -> None:
    assert literal_prefix(r"^SSH-([\d.]+)") == b"SSH-"
    assert literal_prefix(r"^\0\0\x90\x04") == b"\x00\x00\x90\x04"
    assert literal_prefix(r"^220 \(vsFTPd") == b"220 (vsFTPd"
    assert literal_prefix(r"^ab?c") == b"a"  # the quantified b is not fixed
    assert literal_prefix(r"^abc|def") == b""  # only the first branch is anchored
    assert literal_prefix(r"abc") == b""


def test_substitutions_fill_groups_printable_subst_and_integers() -> None:
    rule = parse_match(r'x m|^V(.)(..)(..)(.*)$|s p/$P(4)/ v/$I(2,">").$I(3,"<")/ i/$SUBST(1,"_",".")/', soft=False)
    found = rule.match(b"V_\x07\xd0\x01\x00ab\x01c")
    assert found == Identity("x", product="abc", version="2000.1", info=".")


@pytest.mark.parametrize("name", ["openssh-9.2", "openssh-7.4", "vsftpd", "proftpd", "exim", "postfix", "ms-esmtp",
                                  "mysql", "vnc", "telnet"])
@needs_probe_file
def test_real_greetings_are_named_by_nmaps_null_probe(name: str) -> None:
    reply, expected = PRODUCTS[name]
    probes = fingerprints.load_probes(str(NMAP_FILE))
    assert probes.null is not None
    found = probes.identify(probes.null, reply.greeting)
    assert found is not None and not found.soft
    assert (found.service, found.product, _version(found), found.app_cpe if found.app_cpe and
            found.app_cpe.startswith("cpe:/a:") else None) == (expected.service, expected.product,
                                                               expected.version, expected.cpe)


@pytest.mark.parametrize(("name", "probe", "request_bytes"), [
    ("apache", "GetRequest", b"GET / HTTP/1.0\r\n\r\n"), ("nginx", "GetRequest", b"GET / HTTP/1.0\r\n\r\n"),
    ("iis", "GetRequest", b"GET / HTTP/1.0\r\n\r\n"), ("elasticsearch", "GetRequest", b"GET / HTTP/1.0\r\n\r\n"),
    ("redis", "redis-server", b"*1\r\n$4\r\ninfo\r\n"), ("memcached", "Memcache", b"stats\r\n"),
    ("rdp", "TerminalServerCookie", b"\x03\x00\x00*"), ("mssql", "ms-sql-s", b"\x12\x01\x00\x34"),
])
@needs_probe_file
def test_real_answers_to_nmaps_probes_are_named(name: str, probe: str, request_bytes: bytes) -> None:
    reply, expected = PRODUCTS[name]
    assert reply.answer is not None
    answer = reply.answer(request_bytes)
    assert answer is not None
    probes = fingerprints.load_probes(str(NMAP_FILE))
    found = probes.identify(probes.by_name[probe], answer)
    assert found is not None and (found.service, found.product, _version(found)) == (
        expected.service, expected.product, expected.version)


@needs_probe_file
def test_the_literal_prefix_shortcut_never_changes_a_result() -> None:
    """Matching with the prefix filter gives what a plain regex search over every rule gives."""
    probes = fingerprints.load_probes(str(NMAP_FILE))
    assert probes.null is not None
    for reply, _ in PRODUCTS.values():
        if not reply.greeting:
            continue
        fast = next((m.service for m in probes.null.matches if m.match(reply.greeting)), None)
        slow = next((m.service for m in probes.null.matches
                     if (rx := m.compiled()) is not None and rx.search(reply.greeting)), None)
        assert fast == slow


@needs_probe_file
def test_almost_every_rule_of_the_system_probe_file_compiles_in_python() -> None:
    probes = parse_probe_file(NMAP_FILE.read_text(encoding="latin-1"))
    rules = [m for p in probes for m in p.matches]
    assert len(rules) > 10_000
    assert sum(m.compiled() is None for m in rules) / len(rules) < 0.01


def test_the_builtin_table_is_valid_and_every_pattern_compiles() -> None:
    probes, web = fingerprints.builtin_table()
    assert probes.source.startswith("builtin:") and probes.null is not None
    for probe in probes.probes:
        assert probe.matches, probe.name
        for rule in probe.matches:
            assert rule.compiled() is not None, (probe.name, rule.pattern)
            assert all(c.startswith("cpe:/") for c in rule.cpes)
    assert all(w.rule.compiled() is not None for w in web)


@pytest.mark.parametrize(("name", "product", "version"), [
    ("openssh-9.2", "OpenSSH", "9.2p1"), ("openssh-7.4", "OpenSSH", "7.4"), ("vsftpd", "vsftpd", "2.3.4"),
    ("proftpd", "ProFTPD", "1.3.5"), ("exim", "Exim smtpd", "4.89"), ("postfix", "Postfix smtpd", None),
    ("ms-esmtp", "Microsoft ESMTP", "8.5.9600.16384"), ("mysql", "MySQL", "5.5.62"), ("vnc", "VNC", None),
])
def test_the_builtin_table_names_real_greetings(name: str, product: str, version: str | None) -> None:
    probes, _ = fingerprints.builtin_table()
    assert probes.null is not None
    found = probes.identify(probes.null, PRODUCTS[name][0].greeting)
    assert found is not None and (found.product, found.version) == (product, version)


def test_a_missing_probe_file_falls_back_to_the_builtin_table(tmp_path: Path) -> None:
    assert fingerprints.load_probes(str(tmp_path / "absent")).source.startswith("builtin:")
    assert fingerprints.load_probes(None).source.startswith("builtin:")
    broken = tmp_path / "broken"
    broken.write_text("Probe TCP X nonsense\n")
    assert fingerprints.load_probes(str(broken)).source.startswith("builtin:")


def test_a_softmatch_gives_way_to_a_later_hard_match() -> None:
    text = "Probe TCP NULL q||\nsoftmatch ftp m|^220|\nmatch ftp m|^220 (\\S+) ok| p/$1/\n"
    probes = ProbeSet(parse_probe_file(text), "t")
    assert probes.null is not None
    assert probes.identify(probes.null, b"220 Wonder ok") == Identity("ftp", product="Wonder")
    assert probes.identify(probes.null, b"220 other") == Identity("ftp", soft=True)


def test_probes_listed_for_the_port_come_first_then_by_rarity() -> None:
    probes = excerpt()
    assert [p.name for p in probes.candidates(6379, tls=False, max_rarity=9, limit=5)] == ["redis-server", "GetRequest"]
    assert [p.name for p in probes.candidates(6379, tls=False, max_rarity=4, limit=5)] == ["redis-server", "GetRequest"]
    assert [p.name for p in probes.candidates(9999, tls=False, max_rarity=4, limit=5)] == ["GetRequest"]
    assert probes.candidates(6379, tls=False, max_rarity=9, limit=1)[0].name == "redis-server"


def test_versions_are_shortened_to_the_cpe_version_only_when_it_is_their_start() -> None:
    assert _version(Identity("ssh", "OpenSSH", "9.2p1 Debian 2+deb12u1", cpes=("cpe:/a:openbsd:openssh:9.2p1",))) \
        == "9.2p1"
    assert _version(Identity("ms-sql-s", "SQL", "15.00.2000", cpes=("cpe:/a:microsoft:sql_server:2019",))) \
        == "15.00.2000"


def test_banners_keep_printable_text_only() -> None:
    assert clean_banner(MYSQL_GREETING).startswith("J...\n5.5.62.....abcdefgh..")
    assert clean_banner(b"  SSH-2.0-x\r\n") == "SSH-2.0-x"
    assert len(clean_banner(b"A" * 1000)) == 200


def test_web_rules_name_the_server_framework_and_cms() -> None:
    body = '<html><head><title> Blog &amp; news </title><meta content="WordPress 5.8.1" name="generator"></head>'
    facts = HttpFacts("http://h/", 200, {"server": "Apache/2.4.49 (Unix)", "x-powered-by": "PHP/7.4.3"}, body=body)
    named = {s.product: (s.version, s.cpe) for s in web_software(facts)}
    assert named == {"Apache httpd": ("2.4.49", "cpe:/a:apache:http_server:2.4.49"),
                     "PHP": ("7.4.3", "cpe:/a:php:php:7.4.3"),
                     "WordPress": ("5.8.1", "cpe:/a:wordpress:wordpress:5.8.1")}
    assert title_of(body) == "Blog & news" and generator_of(body) == "WordPress 5.8.1"
    assert title_of("<p>no title</p>") is None and generator_of("<meta name=x>") is None


def test_an_unversioned_server_header_names_only_the_product() -> None:
    facts = HttpFacts("http://h/", 200, {"server": "nginx"})
    assert [(s.product, s.version, s.cpe) for s in web_software(facts)] == [("nginx", None, None)]


NMAP_XML = """<?xml version="1.0"?><nmaprun><host><address addr="127.0.0.9" addrtype="ipv4"/><ports>
<port protocol="tcp" portid="3389"><state state="open"/><service name="ms-wbt-server"
 product="Microsoft Terminal Services" ostype="Windows"><cpe>cpe:/o:microsoft:windows</cpe></service></port>
<port protocol="tcp" portid="8443"><state state="open"/><service name="http" product="nginx" version="1.18.0"
 tunnel="ssl"><cpe>cpe:/a:igor_sysoev:nginx:1.18.0</cpe></service></port>
<port protocol="tcp" portid="9999"><state state="open"/><service name="unknown"/></port>
</ports></host></nmaprun>"""


def test_nmap_version_scan_xml_becomes_services() -> None:
    found = nmap_sv.parse(NMAP_XML, host="example.test")
    assert set(found) == {3389, 8443}  # 9999 named no product
    assert (found[8443].name, found[8443].cpe, found[8443].method) == ("https", "cpe:/a:igor_sysoev:nginx:1.18.0",
                                                                       "nmap")
    assert found[3389].cpe is None and found[3389].extra["ostype"] == "Windows"
    assert nmap_sv.parse("<not xml") == {}


def test_nmap_version_scan_command_is_a_connect_scan_with_a_host_timeout() -> None:
    argv = nmap_sv.command("127.0.0.9", [443, 22, 22], 30)
    assert argv[:3] == ["nmap", "-sT", "-sV"] and "--host-timeout" in argv
    assert argv[argv.index("-p") + 1] == "22,443" and argv[-1] == "127.0.0.9"


def test_an_unknown_rule_field_is_ignored_and_a_rule_that_cannot_compile_never_matches() -> None:
    broken = MatchRule("x", "^(unclosed", 0)
    assert broken.match(b"(unclosed") is None and broken.compiled() is None


def _read_paused(idle: float | None) -> tuple[bytes, Identity | None]:
    """engine._read of an nginx answer whose Server line arrives 0.3 s after its status line."""
    probes = excerpt()

    async def scenario() -> tuple[bytes, Identity | None]:
        reader = asyncio.StreamReader()
        reader.feed_data(b"HTTP/1.0 200 OK\r\n")
        asyncio.get_running_loop().call_later(0.3, reader.feed_data, b"Server: nginx/1.18.0\r\n\r\n")
        return await engine._read(reader, probes.by_name["GetRequest"], probes, time.monotonic() + 2.0, idle)

    return asyncio.run(scenario())


def test_an_answer_ends_at_a_pause_longer_than_idle_and_is_read_whole_without_idle() -> None:
    assert _read_paused(0.1) == (b"HTTP/1.0 200 OK\r\n", None)
    data, found = _read_paused(None)
    assert data.endswith(b"nginx/1.18.0\r\n\r\n") and found is not None and (found.product, found.version) == (
        "nginx", "1.18.0")


def test_the_server_header_names_what_no_rule_knows_trimmed_and_bounded() -> None:
    assert server_header(HttpFacts("http://h/", 301, {"server": "  cloudflare \t"})) == "cloudflare"
    assert server_header(HttpFacts("http://h/", 200, {"server": "x" * 300})) == "x" * 80
    assert server_header(HttpFacts("http://h/", 200, {"server": " "})) is None
    assert server_header(HttpFacts("http://h/", 200, {})) is None
