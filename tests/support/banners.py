"""Small protocol responders on loopback that answer like real products (greetings, probe replies).

`BannerServer(host, reply)` greets and/or answers the first bytes a client sends, then closes;
`PRODUCTS` holds one Reply per product the identification tests and the benchmark name, with what a
correct identification says about it (`Expected`).
"""

from __future__ import annotations

import json
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass

from tests.support.httpserver import LoopbackListener


@dataclass(frozen=True)
class Reply:
    """What a fake service sends: `greeting` on accept, then `answer(request)` for up to `rounds` requests."""

    greeting: bytes = b""
    answer: Callable[[bytes], bytes | None] | None = None
    rounds: int = 3


@dataclass(frozen=True)
class Expected:
    """What identification should say: product (as nmap names it), version, application CPE."""

    service: str
    product: str | None
    version: str | None
    cpe: str | None


class BannerServer(LoopbackListener):
    """One fake TCP service on (host, port); port 0 picks a free one; counts accepted connections."""

    def __init__(self, host: str, reply: Reply, port: int = 0) -> None:
        super().__init__(host, port)
        self.reply = reply

    def _talk(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(3)
            if self.reply.greeting:
                conn.sendall(self.reply.greeting)
            for _ in range(self.reply.rounds if self.reply.answer else 0):
                data = conn.recv(4096)
                if not data or self.reply.answer is None:
                    break
                answer = self.reply.answer(data)
                if answer is None:
                    break
                conn.sendall(answer)
            if self.reply.greeting and not self.reply.answer:
                conn.recv(1024)  # hold the line until the client hangs up, as a real server does
        except OSError:
            pass
        finally:
            conn.close()


def http_reply(headers: list[tuple[str, str]], body: bytes = b"<html><title>It works</title></html>",
               version: str = "HTTP/1.1", close: bool = True) -> Callable[[bytes], bytes | None]:
    """An answer: the canned response to any HTTP request, 400 to anything else."""

    def answer(request: bytes) -> bytes | None:
        if request.split(b" ", 1)[0] not in (b"GET", b"HEAD", b"OPTIONS", b"POST"):
            return f"{version} 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode()
        lines = [f"{version} 200 OK", *(f"{k}: {v}" for k, v in headers), f"Content-Length: {len(body)}",
                 *(["Connection: close"] if close else [])]
        return ("\r\n".join(lines) + "\r\n\r\n").encode() + (b"" if request.startswith(b"HEAD") else body)

    return answer


def _redis(request: bytes) -> bytes:
    if b"info" in request.lower():
        text = b"# Server\r\nredis_version:6.0.9\r\nredis_mode:standalone\r\nos:Linux 5.10.0 x86_64\r\n"
        return b"$%d\r\n%s\r\n" % (len(text), text)
    return b"-ERR unknown command\r\n"


def _memcached(request: bytes) -> bytes:
    if request.startswith(b"stats"):
        return b"STAT pid 1\r\nSTAT uptime 100\r\nSTAT time 1765100000\r\nSTAT version 1.6.9\r\nEND\r\n"
    if request.startswith(b"version"):
        return b"VERSION 1.6.9\r\n"
    return b"ERROR\r\n"


def _postgres(request: bytes) -> bytes | None:
    if len(request) < 8:
        return None
    length, code = struct.unpack(">II", request[:8])
    if code == 80877103:  # SSLRequest
        return b"N"
    if length > 10000:
        message = b"SFATAL\0C08P01\0Minvalid length of startup packet\0Fpostmaster.c\0L1987\0RProcessStartupPacket\0\0"
    else:
        text = f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: server supports 1.0 to 3.0"
        message = b"SFATAL\0C0A000\0M" + text.encode() + b"\0Fpostmaster.c\0L2005\0RProcessStartupPacket\0\0"
    return b"E" + struct.pack(">I", len(message) + 4) + message


def _bson(fields: dict[str, str | float]) -> bytes:
    body = b""
    for key, value in fields.items():
        if isinstance(value, str):
            raw = value.encode() + b"\0"
            body += b"\x02" + key.encode() + b"\0" + struct.pack("<i", len(raw)) + raw
        else:
            body += b"\x01" + key.encode() + b"\0" + struct.pack("<d", value)
    return struct.pack("<i", len(body) + 5) + body + b"\0"


def _mongodb(request: bytes) -> bytes | None:
    """OP_REPLY to an OP_QUERY (nmap's probe), OP_MSG to an OP_MSG (MongoDB 3.6+ drivers): buildinfo fields."""
    if len(request) < 16:
        return None
    opcode = struct.unpack("<i", request[12:16])[0]
    doc = _bson({"version": "4.4.6", "gitVersion": "72e66213c2c3eab37d9358d5e78ad7f5c1d0d0d7", "ok": 1.0})
    request_id = struct.unpack("<i", request[4:8])[0]
    if opcode == 2004:
        body, reply_op = struct.pack("<iqii", 8, 0, 0, 1) + doc, 1
    elif opcode == 2013:
        body, reply_op = struct.pack("<I", 0) + b"\0" + doc, 2013
    else:
        return None
    return struct.pack("<iiii", 16 + len(body), 1, request_id, reply_op) + body


def _rdp(request: bytes) -> bytes | None:
    return b"\x03\0\0\x13\x0e\xd0\0\0\x124\0\x02\x1f\x08\0\x02\0\0\0" if request.startswith(b"\x03\0") else None


def _smb(request: bytes) -> bytes | None:
    if request[4:8] != b"\xffSMB":
        return None
    return (b"\0\0\0\x55\xffSMBr\0\0\0\0\x88\x01@\0\0\0\0\0\0\0\0\0\0\0\0\0\0@\x06\0\0\x01\0\x11\x07\0\x032\0\x01\0"
            b"\x04A\0\0\0\0\x01\0\0\0\0\0\xfd\xf3\0\0" + b"\0" * 40)


def _mssql(request: bytes) -> bytes | None:
    if not request.startswith(b"\x12\x01"):
        return None
    return (b"\x04\x01\x00\x25\x00\x00\x01\x00" b"\x00\x00\x15\x00\x06\x01\x00\x1b\x00\x01\x02\x00\x1c\x00\x01"
            b"\x03\x00\x1d\x00\x00\xff" b"\x0f\x00\x07\xd0\x00\x00" b"\x02\x00")


_ES_BODY = json.dumps({
    "name": "node-1", "cluster_name": "lab", "cluster_uuid": "x1",
    "version": {"number": "7.10.2", "build_flavor": "default", "build_type": "docker", "lucene_version": "8.7.0"},
    "tagline": "You Know, for Search"}, indent=2).replace('": ', '" : ').encode()

MYSQL_GREETING = (b"\x4a\x00\x00\x00\x0a5.5.62\x00\x01\x00\x00\x00abcdefgh\x00\xff\xf7\x08\x02\x00\x0f\x80\x15"
                  + b"\x00" * 10 + b"ijklmnopqrst\x00mysql_native_password\x00")

PRODUCTS: dict[str, tuple[Reply, Expected]] = {
    "openssh-9.2": (Reply(b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u1\r\n"),
                    Expected("ssh", "OpenSSH", "9.2p1", "cpe:/a:openbsd:openssh:9.2p1")),
    "openssh-7.4": (Reply(b"SSH-2.0-OpenSSH_7.4\r\n"), Expected("ssh", "OpenSSH", "7.4", "cpe:/a:openbsd:openssh:7.4")),
    "vsftpd": (Reply(b"220 (vsFTPd 2.3.4)\r\n"), Expected("ftp", "vsftpd", "2.3.4", "cpe:/a:vsftpd:vsftpd:2.3.4")),
    "proftpd": (Reply(b"220 ProFTPD 1.3.5 Server (ProFTPD Default Installation) [127.0.0.1]\r\n"),
                Expected("ftp", "ProFTPD", "1.3.5", "cpe:/a:proftpd:proftpd:1.3.5")),
    "exim": (Reply(b"220 mail.example.com ESMTP Exim 4.89 #2 Mon, 07 Dec 2026 10:00:00 +0000\r\n"),
             Expected("smtp", "Exim smtpd", "4.89", "cpe:/a:exim:exim:4.89")),
    "postfix": (Reply(b"220 mail.example.com ESMTP Postfix (Debian/GNU)\r\n"),
                Expected("smtp", "Postfix smtpd", None, "cpe:/a:postfix:postfix")),
    "ms-esmtp": (Reply(b"220 mail.example.com Microsoft ESMTP MAIL Service, Version: 8.5.9600.16384 ready at  "
                       b"Mon, 7 Dec 2026 10:00:00 +0000 \r\n"),
                 Expected("smtp", "Microsoft ESMTP", "8.5.9600.16384", None)),
    "apache": (Reply(answer=http_reply([("Server", "Apache/2.4.49 (Unix)"), ("Content-Type", "text/html")])),
               Expected("http", "Apache httpd", "2.4.49", "cpe:/a:apache:http_server:2.4.49")),
    "nginx": (Reply(answer=http_reply([("Server", "nginx/1.18.0"), ("Content-Type", "text/html")])),
              Expected("http", "nginx", "1.18.0", "cpe:/a:igor_sysoev:nginx:1.18.0")),
    "iis": (Reply(answer=http_reply([("Server", "Microsoft-IIS/8.5"), ("X-Powered-By", "ASP.NET"),
                                     ("Content-Type", "text/html")])),
            Expected("http", "Microsoft IIS httpd", "8.5", "cpe:/a:microsoft:internet_information_services:8.5")),
    "mysql": (Reply(MYSQL_GREETING), Expected("mysql", "MySQL", "5.5.62", "cpe:/a:mysql:mysql:5.5.62")),
    "postgresql": (Reply(answer=_postgres), Expected("postgresql", "PostgreSQL DB", "9.5.5",
                                                                 "cpe:/a:postgresql:postgresql:9.5.5")),
    "redis": (Reply(answer=_redis),
              Expected("redis", "Redis key-value store", "6.0.9", "cpe:/a:redislabs:redis:6.0.9")),
    "memcached": (Reply(answer=_memcached),
                  Expected("memcached", "Memcached", "1.6.9", "cpe:/a:memcached:memcached:1.6.9")),
    "elasticsearch": (Reply(answer=http_reply([("content-type", "application/json; charset=UTF-8")], _ES_BODY,
                                              version="HTTP/1.0", close=False)),
                      Expected("http", "Elasticsearch REST API", "7.10.2",
                               "cpe:/a:elasticsearch:elasticsearch:7.10.2")),
    "mongodb": (Reply(answer=_mongodb), Expected("mongodb", "MongoDB", "4.4.6", "cpe:/a:mongodb:mongodb:4.4.6")),
    "rdp": (Reply(answer=_rdp), Expected("ms-wbt-server", "Microsoft Terminal Services", None, None)),
    "vnc": (Reply(b"RFB 003.008\n"), Expected("vnc", "VNC", None, None)),
    "smb": (Reply(answer=_smb), Expected("microsoft-ds", "Microsoft Windows 2000 microsoft-ds", None, None)),
    "telnet": (Reply(b"\xff\xfd\x18\xff\xfd \xff\xfd#\xff\xfd'"), Expected("telnet", "Linux telnetd", None, None)),
    "mssql": (Reply(answer=_mssql), Expected("ms-sql-s", "Microsoft SQL Server 2019", "15.00.2000",
                                             "cpe:/a:microsoft:sql_server:2019")),
}
