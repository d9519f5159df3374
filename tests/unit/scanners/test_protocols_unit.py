"""Protocol probe parsing without a network: BSON/OP_MSG, KEXINIT and the weak-algorithm rules, FTP, SMTP,
Redis, memcached and Elasticsearch replies, and which services each probe takes."""

from __future__ import annotations

import json
import socket
import struct
import time
from collections.abc import Iterator

import pytest

from chalicelib.scanners.identify.model import HttpFacts, Service
from chalicelib.scanners.protocols import bson, elasticsearch, ftp, memcached, mongodb, redis, ssh
from chalicelib.scanners.protocols.wire import Wire, WireError, handles
from chalicelib.scanners.smtp import ehlo_capabilities, offers_starttls, read_reply

# ------------------------------------------------------------------------------------------ wire


@pytest.fixture
def feed() -> Iterator[tuple[Wire, socket.socket]]:
    """A Wire reading what the test writes into the other end of a socket pair."""
    ours, theirs = socket.socketpair()
    wire = Wire(ours, time.monotonic() + 2)
    yield wire, theirs
    wire.close()
    theirs.close()


def test_a_line_longer_than_the_limit_is_refused(feed: tuple[Wire, socket.socket]) -> None:
    wire, peer = feed
    peer.sendall(b"x" * 300 + b"\r\n")
    with pytest.raises(WireError, match="longer than 100"):
        wire.readline(100)


def test_a_silent_peer_ends_the_read_at_the_deadline(feed: tuple[Wire, socket.socket]) -> None:
    wire, _ = feed
    wire.deadline = time.monotonic() + 0.2
    with pytest.raises(WireError):
        wire.readline()


def test_a_probe_takes_named_services_and_any_but_http_or_ssh_on_its_ports() -> None:
    assert handles(Service("192.0.2.1", 2121, "ftp"), {"ftp"}, {21})
    assert handles(Service("192.0.2.1", 21, "unknown"), {"ftp"}, {21})
    # memcached whose two ERROR lines arrived apart is misread as "AChat": on 11211 it is still tried.
    assert handles(Service("192.0.2.1", 11211, "achat"), {"memcached"}, {11211})
    assert not handles(Service("192.0.2.1", 21, "http"), {"ftp"}, {21})
    assert not handles(Service("192.0.2.1", 2121, "unknown"), {"ftp"}, {21})


# ------------------------------------------------------------------------------------------ BSON


def test_bson_encoding_matches_the_specification_example() -> None:
    # bsonspec.org: {"hello": "world"}
    assert bson.encode({"hello": "world"}) == b"\x16\x00\x00\x00\x02hello\x00\x06\x00\x00\x00world\x00\x00"


def test_bson_round_trips_the_types_a_reply_carries() -> None:
    doc = {"ok": 1.0, "n": 7, "big": 2 ** 40, "flag": True, "none": None, "name": "mongod",
           "nested": {"list": [1, "two", False]}}
    assert bson.decode(bson.encode(doc)) == doc


def test_bson_decodes_object_ids_and_datetimes_as_stand_ins() -> None:
    raw = b"\x07oid\x00" + bytes(range(12)) + b"\x09at\x00" + struct.pack("<q", 1700000000000)
    data = struct.pack("<i", len(raw) + 5) + raw + b"\x00"
    assert bson.decode(data) == {"oid": bytes(range(12)).hex(), "at": 1700000000000}


@pytest.mark.parametrize("data", [b"\x05\x00\x00", b"\x10\x00\x00\x00\x02a\x00\x09\x00\x00\x00ab\x00\x00",
                                  b"\x0c\x00\x00\x00\x99k\x00\x00\x00\x00\x00\x00"])
def test_malformed_bson_is_refused(data: bytes) -> None:
    with pytest.raises(bson.BsonError):
        bson.decode(data)


def test_an_op_msg_carries_the_command_first_and_the_admin_database() -> None:
    message = mongodb.op_msg({"hello": 1}, 42)
    length, request_id, response_to, opcode = struct.unpack("<iiii", message[:16])
    assert (length, request_id, response_to, opcode) == (len(message), 42, 0, 2013)
    assert message[16:21] == b"\x00\x00\x00\x00\x00"  # no flags, section kind 0
    doc = bson.decode(message[21:])
    assert list(doc) == ["hello", "$db"] and doc["$db"] == "admin"


def test_an_op_reply_document_is_read_after_its_header_fields() -> None:
    body = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode({"ok": 1.0, "version": "3.4.24"})
    assert mongodb.parse_reply(mongodb.OP_REPLY, body)["version"] == "3.4.24"


@pytest.mark.parametrize(("reply", "state"), [
    ({"featureCompatibilityVersion": {"version": "6.0"}, "ok": 1.0}, "open"),
    ({"ok": 0.0, "errmsg": "command getParameter requires authentication", "code": 13}, "protected"),
    ({"ok": 0.0, "errmsg": "not authorized on admin to execute command", "code": 999}, "protected"),
    ({"ok": 0.0, "errmsg": "no option found to get", "code": 72}, "unknown"),
])
def test_the_auth_probe_reply_tells_open_from_protected(reply: dict[str, object], state: str) -> None:
    assert mongodb.auth_state(reply) == state


# ------------------------------------------------------------------------------------------- SSH


def kexinit(kex: list[str], hostkey: list[str], ciphers: list[str], macs: list[str]) -> bytes:
    payload = bytes([20]) + b"\x00" * 16
    for names in [kex, hostkey, ciphers, ciphers, macs, macs, ["none"], ["none"], [], []]:
        text = ",".join(names).encode()
        payload += struct.pack(">I", len(text)) + text
    return payload + b"\x00\x00\x00\x00\x00"


MODERN = kexinit(["curve25519-sha256", "ext-info-s", "kex-strict-s-v00@openssh.com"],
                 ["rsa-sha2-512", "rsa-sha2-256", "ssh-ed25519"],
                 ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com", "aes128-ctr"],
                 ["hmac-sha2-256-etm@openssh.com", "umac-128-etm@openssh.com"])


def test_kexinit_name_lists_are_parsed_in_order() -> None:
    parsed = ssh.parse_kexinit(MODERN)
    assert parsed.kex[0] == "curve25519-sha256"
    assert parsed.hostkey == ("rsa-sha2-512", "rsa-sha2-256", "ssh-ed25519")
    assert "aes128-ctr" in parsed.cipher and parsed.mac[-1] == "umac-128-etm@openssh.com"


def test_a_truncated_kexinit_is_refused() -> None:
    with pytest.raises(ValueError, match="ends inside"):
        ssh.parse_kexinit(MODERN[:40])


def test_a_modern_algorithm_set_has_nothing_weak() -> None:
    assert ssh.weak_algorithms(ssh.parse_kexinit(MODERN)) == {}


def test_legacy_algorithms_are_named_with_their_reason() -> None:
    legacy = ssh.parse_kexinit(kexinit(
        ["curve25519-sha256", "diffie-hellman-group1-sha1", "diffie-hellman-group-exchange-sha1"],
        ["ssh-rsa", "ssh-dss"], ["aes128-ctr", "3des-cbc", "aes256-cbc", "arcfour256"],
        ["hmac-sha2-256", "hmac-md5", "hmac-sha1-96", "umac-64@openssh.com"]))
    weak = ssh.weak_algorithms(legacy)
    assert set(weak["kex"]) == {"diffie-hellman-group1-sha1", "diffie-hellman-group-exchange-sha1"}
    assert set(weak["hostkey"]) == {"ssh-rsa", "ssh-dss"}
    assert set(weak["cipher"]) == {"3des-cbc", "aes256-cbc", "arcfour256"}
    assert "Sweet32" in weak["cipher"]["3des-cbc"]
    assert set(weak["mac"]) == {"hmac-md5", "hmac-sha1-96", "umac-64@openssh.com"}


def test_ssh_rsa_beside_rsa_sha2_is_not_weak() -> None:
    offered = ssh.parse_kexinit(kexinit(["curve25519-sha256"], ["rsa-sha2-512", "ssh-rsa"], ["aes128-ctr"],
                                        ["hmac-sha2-256"]))
    assert ssh.weak_algorithms(offered) == {}


def test_the_software_and_version_come_from_the_identification_line() -> None:
    ident = ssh.parse_ident(b"SSH-2.0-OpenSSH_7.4p1 Debian-10+deb9u7")
    assert ident == ("2.0", "OpenSSH_7.4p1", "Debian-10+deb9u7")
    assert ssh.software_version(ident[1]) == ("OpenSSH", "7.4p1")
    assert ssh.software_version("dropbear_2022.83") == ("dropbear", "2022.83")
    assert ssh.parse_ident(b"HTTP/1.1 400 Bad Request") is None


def test_the_weak_algorithm_rules_file_is_well_formed() -> None:
    data = json.loads(ssh.RULES_FILE.read_text())
    assert data["version"] and data["sources"]
    for category in (*ssh.CATEGORIES, "hostkey_weak_when_alone"):
        table = data[category]
        assert table and all(isinstance(k, str) and k and isinstance(v, str) and v for k, v in table.items())
    assert all(isinstance(p, str) and p for p in data["hostkey_strong"])
    # a weak-when-alone host key is never also in the strong list
    assert not any(ssh._match(n, dict.fromkeys(data["hostkey_strong"], "x")) for n in data["hostkey_weak_when_alone"])


# ------------------------------------------------------------------------------------------- FTP


def test_a_multi_line_ftp_reply_keeps_its_code_and_lines() -> None:
    reply = ftp.parse_reply([b"220-Welcome to the archive", b"   mirror of things", b"220 (vsFTPd 3.0.3)"])
    assert reply.code == 220 and reply.lines == ["Welcome to the archive", "mirror of things", "(vsFTPd 3.0.3)"]


def test_an_unclosed_ftp_reply_is_refused() -> None:
    with pytest.raises(ValueError, match="not closed"):
        ftp.parse_reply([b"220-Welcome", b"221 other"])


def test_pwd_reads_the_quoted_directory() -> None:
    assert ftp.pwd_path(ftp.FtpReply(257, ['"/pub/""odd""" is the current directory'])) == '/pub/"odd"'
    assert ftp.pwd_path(ftp.FtpReply(550, ["Permission denied"])) is None


def test_ftp_replies_are_read_line_by_line_from_the_wire(feed: tuple[Wire, socket.socket]) -> None:
    wire, peer = feed
    peer.sendall(b"230-Hello\r\n230 Login successful.\r\n257 \"/\"\r\n")
    assert ftp.read_reply(wire).code == 230
    assert ftp.read_reply(wire).code == 257


# ------------------------------------------------------------------------------------------ SMTP


def test_ehlo_extensions_are_listed_and_starttls_seen(feed: tuple[Wire, socket.socket]) -> None:
    wire, peer = feed
    peer.sendall(b"250-mx.example.org\r\n250-PIPELINING\r\n250-starttls\r\n250 SIZE 1000\r\n")
    capabilities = ehlo_capabilities(read_reply(wire))
    assert capabilities == ["PIPELINING", "STARTTLS", "SIZE 1000"]
    assert offers_starttls(capabilities)
    assert not offers_starttls(["PIPELINING", "X-STARTTLS-LATER"])


def test_an_smtp_reply_that_changes_code_midway_is_refused(feed: tuple[Wire, socket.socket]) -> None:
    wire, peer = feed
    peer.sendall(b"250-mx\r\n220 hello\r\n")
    with pytest.raises(ValueError):
        read_reply(wire)


# ------------------------------------------------------------------------------- Redis, memcached


def test_info_server_fields_are_parsed_and_headers_skipped() -> None:
    fields = redis.parse_info(b"# Server\r\nredis_version:7.2.4\r\nredis_mode:standalone\r\n\r\n")
    assert fields == {"redis_version": "7.2.4", "redis_mode": "standalone"}


@pytest.mark.parametrize(("error", "protected"), [
    (b"NOAUTH Authentication required.", True), (b"NOPERM this user has no permissions", True),
    (b"DENIED Redis is running in protected mode", True), (b"ERR unknown command 'INFO'", False),
])
def test_redis_errors_asking_for_a_password_mean_protected(error: bytes, protected: bool) -> None:
    assert redis.is_protected(error) is protected


def test_a_redis_bulk_reply_is_read_to_its_length(feed: tuple[Wire, socket.socket]) -> None:
    wire, peer = feed
    peer.sendall(b"$11\r\nab\r\ncd\r\nefg\r\n-NOAUTH x\r\n")
    assert redis.read_reply(wire) == ("$", b"ab\r\ncd\r\nefg")
    assert redis.read_reply(wire) == ("-", b"NOAUTH x")


def test_an_oversize_redis_reply_is_refused(feed: tuple[Wire, socket.socket]) -> None:
    wire, peer = feed
    peer.sendall(b"$999999999\r\n")
    with pytest.raises(ValueError, match="more than INFO"):
        redis.read_reply(wire)


@pytest.mark.parametrize(("line", "version"), [
    (b"VERSION 1.6.21", "1.6.21"), (b"CLIENT_ERROR unauthenticated", None), (b"ERROR", None),
])
def test_memcached_version_replies(line: bytes, version: str | None) -> None:
    assert memcached.parse_version(line) == version


# --------------------------------------------------------------------------------- Elasticsearch


def es_body(**version: str) -> str:
    return json.dumps({"name": "n1", "cluster_name": "logs", "version": {"number": "7.10.2", **version},
                       "tagline": "You Know, for Search"})


def test_an_elasticsearch_banner_names_product_version_and_cluster() -> None:
    assert elasticsearch.cluster_banner(es_body()) == {
        "product": "Elasticsearch", "version": "7.10.2", "cluster_name": "logs", "node_name": "n1",
        "tagline": "You Know, for Search"}
    banner = elasticsearch.cluster_banner(es_body(distribution="opensearch"))
    assert banner is not None and banner["product"] == "OpenSearch"


@pytest.mark.parametrize("body", ["<html>login</html>", '{"version": "1.0"}', '{"version": {"number": "1"}}', "[]"])
def test_other_bodies_are_not_elasticsearch(body: str) -> None:
    assert elasticsearch.cluster_banner(body) is None


def test_http_with_an_elasticsearch_root_page_is_taken_on_any_port() -> None:
    facts = HttpFacts(url="http://192.0.2.1:8080/", status=200, headers={}, body=es_body())
    assert elasticsearch.handles_elasticsearch(Service("192.0.2.1", 8080, "http", http=facts))
    assert elasticsearch.handles_elasticsearch(Service("192.0.2.1", 9200, "wap-wsp"))
    assert not elasticsearch.handles_elasticsearch(Service("192.0.2.1", 8080, "http"))
