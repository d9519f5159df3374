"""Small threaded protocol servers on loopback for the protocol-probe tests: FTP, SMTP (STARTTLS), Redis,
memcached, MongoDB (OP_MSG and OP_QUERY), SSH (identification + KEXINIT) and an Elasticsearch-like HTTP API.

Each binds a random 127.X.Y.Z on a free port (`start()`), serves every connection in its own daemon
thread with bounded reads and a 5 s socket timeout, logs the commands it received (`commands`) and
counts connections (`accepted`); `wait_idle()` waits for open connections to end; `stop()` closes it.
"""

from __future__ import annotations

import json
import os
import random
import socket
import ssl
import struct
import threading
from typing import Any, Self

from chalicelib.scanners.protocols import bson
from tests.support.httpserver import LocalHTTPServer, LoopbackListener, Response


def loopback_address() -> str:
    """A random 127.X.Y.Z (X in 100-250) so parallel runs do not collide."""
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


class Peer:
    """The server's side of one connection: bounded line and byte reads, sends, TLS upgrade."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock: socket.socket = sock
        self.buffer = b""

    def _fill(self) -> bool:
        chunk = self.sock.recv(4096)
        self.buffer += chunk
        return bool(chunk) and len(self.buffer) < 1 << 20

    def readline(self) -> bytes | None:
        """One line without CR LF, or None at end of stream."""
        while b"\n" not in self.buffer:
            if not self._fill():
                return None
        line, _, self.buffer = self.buffer.partition(b"\n")
        return line.rstrip(b"\r")

    def read_exact(self, count: int) -> bytes | None:
        """`count` bytes, or None at end of stream."""
        while len(self.buffer) < count:
            if not self._fill():
                return None
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data

    def send(self, data: bytes) -> None:
        """Send everything."""
        self.sock.sendall(data)

    def upgrade(self, context: ssl.SSLContext) -> None:
        """Run the server side of a TLS handshake on the connection."""
        self.sock = context.wrap_socket(self.sock, server_side=True)


class ProtocolServer(LoopbackListener):
    """Accept loop (LoopbackListener); subclasses implement `talk(peer)` for one connection."""

    def __init__(self, host: str | None = None, port: int = 0) -> None:
        super().__init__(host or loopback_address(), port)
        self.finished = 0
        self.commands: list[str] = []
        self.lock = threading.Lock()
        self._done = threading.Condition(self.lock)

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(5)
        peer = Peer(conn)
        try:
            self.talk(peer)
        except (OSError, ValueError):
            pass
        finally:
            peer.sock.close()
            with self._done:
                self.finished += 1
                self._done.notify_all()

    def wait_idle(self, timeout: float = 3.0) -> Self:
        """Wait until every accepted connection has ended (so `commands` is complete); raises TimeoutError."""
        with self._done:
            if not self._done.wait_for(lambda: self.finished >= self.accepted, timeout):
                raise TimeoutError(f"{self.accepted - self.finished} connection(s) still open")
        return self

    def log(self, command: str) -> None:
        """Record one command the client sent."""
        with self.lock:
            self.commands.append(command)

    def talk(self, peer: Peer) -> None:
        raise NotImplementedError


class FtpServer(ProtocolServer):
    """FTP that lets `anonymous` in (PWD answers "/pub") or answers 530; logs every command."""

    def __init__(self, anonymous: bool, banner: str = "(vsFTPd 3.0.3)", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.anonymous, self.banner = anonymous, banner

    def talk(self, peer: Peer) -> None:
        peer.send(f"220-Welcome\r\n220 {self.banner}\r\n".encode())
        logged_in = False
        while (line := peer.readline()) is not None:
            verb = line.decode().partition(" ")[0]
            self.log(line.decode())
            verb = verb.upper()
            if verb == "USER":
                peer.send(b"331 Please specify the password.\r\n")
            elif verb == "PASS":
                logged_in = self.anonymous
                peer.send(b"230 Login successful.\r\n" if logged_in else b"530 Login incorrect.\r\n")
            elif verb == "PWD" and logged_in:
                peer.send(b'257 "/pub" is the current directory\r\n')
            elif verb == "QUIT":
                peer.send(b"221 Goodbye.\r\n")
                return
            else:
                peer.send(b"530 Please login with USER and PASS.\r\n")


class SmtpServer(ProtocolServer):
    """ESMTP that offers STARTTLS when given a TLS context; logs every command (before and after TLS)."""

    def __init__(self, context: ssl.SSLContext | None = None, greeting: str = "mx.test ESMTP Postfix",
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.context, self.greeting = context, greeting

    def talk(self, peer: Peer) -> None:
        peer.send(f"220 {self.greeting}\r\n".encode())
        secure = False
        while (line := peer.readline()) is not None:
            command = line.decode()
            self.log(command)
            verb = command.split(" ")[0].upper()
            if verb == "EHLO":
                extensions = ["PIPELINING", "SIZE 10240000", *(["STARTTLS"] if self.context and not secure else []),
                              "8BITMIME"]
                lines = ["mx.test", *extensions]
                peer.send("".join(f"250{'-' if i < len(lines) - 1 else ' '}{t}\r\n"
                                  for i, t in enumerate(lines)).encode())
            elif verb == "STARTTLS" and self.context and not secure:
                peer.send(b"220 2.0.0 Ready to start TLS\r\n")
                peer.upgrade(self.context)
                secure = True
            elif verb == "QUIT":
                peer.send(b"221 2.0.0 Bye\r\n")
                return
            else:
                peer.send(b"502 5.5.2 Error: command not recognized\r\n")


class RedisServer(ProtocolServer):
    """RESP server answering INFO (or -NOAUTH when `password` is set) and QUIT; logs each command array."""

    def __init__(self, password: str | None = None, version: str = "6.0.16", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.password, self.version = password, version

    def talk(self, peer: Peer) -> None:
        while (header := peer.readline()) is not None:
            if not header.startswith(b"*"):
                peer.send(b"-ERR Protocol error\r\n")
                return
            parts = []
            for _ in range(min(int(header[1:]), 16)):
                size = peer.readline()
                data = peer.read_exact(int(size[1:]) + 2) if size else None
                if data is None:
                    return
                parts.append(data[:-2].decode())
            self.log(" ".join(parts))
            name = parts[0].upper() if parts else ""
            if name == "QUIT":
                peer.send(b"+OK\r\n")
                return
            if self.password is not None:
                peer.send(b"-NOAUTH Authentication required.\r\n")
            elif name == "INFO":
                body = (f"# Server\r\nredis_version:{self.version}\r\nredis_mode:standalone\r\nos:Linux 6.1 x86_64"
                        "\r\narch_bits:64\r\nexecutable:/usr/bin/redis-server\r\nconfig_file:/etc/redis.conf\r\n")
                peer.send(f"${len(body)}\r\n{body}\r\n".encode())
            else:
                peer.send(b"-ERR unknown command\r\n")


class MemcachedServer(ProtocolServer):
    """memcached text protocol: `version` and `stats`, or `CLIENT_ERROR unauthenticated` when `auth` is set."""

    def __init__(self, auth: bool = False, version: str = "1.6.21", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.auth, self.version = auth, version

    def talk(self, peer: Peer) -> None:
        while (line := peer.readline()) is not None:
            command = line.decode()
            self.log(command)
            if command == "quit":
                return
            if self.auth:
                peer.send(b"CLIENT_ERROR unauthenticated\r\n")
            elif command == "version":
                peer.send(f"VERSION {self.version}\r\n".encode())
            elif command == "stats":
                peer.send(f"STAT pid 1\r\nSTAT uptime 3600\r\nSTAT version {self.version}\r\nEND\r\n".encode())
            else:
                peer.send(b"ERROR\r\n")


class MongoServer(ProtocolServer):
    """MongoDB wire protocol: OP_MSG (or only OP_QUERY when `legacy`); getParameter needs auth when asked.

    Logs each command's name. Any command besides hello/isMaster/buildInfo/getParameter/serverStatus answers
    CommandNotFound, so a test sees if the probe ever sent listDatabases or find.
    """

    def __init__(self, auth: bool, version: str = "4.4.29", legacy: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.auth, self.version, self.legacy = auth, version, legacy

    def answer(self, command: dict[str, Any]) -> dict[str, Any]:
        """The reply document for one command."""
        name = next(iter(command), "")
        self.log(name)
        if name in ("hello", "isMaster", "ismaster"):
            return {"isWritablePrimary": True, "maxBsonObjectSize": 16777216, "maxWireVersion": 9,
                    "minWireVersion": 0, "localTime": 0, "ok": 1.0}
        if name.lower() == "buildinfo":
            return {"version": self.version, "gitVersion": "abc", "bits": 64, "ok": 1.0}
        if name in ("getParameter", "serverStatus") and self.auth:
            return {"ok": 0.0, "errmsg": f"command {name} requires authentication", "code": 13,
                    "codeName": "Unauthorized"}
        if name == "serverStatus":
            return {"host": "db-1", "version": self.version, "uptime": 3600.0, "ok": 1.0}
        if name == "getParameter":
            return {"featureCompatibilityVersion": {"version": "4.4"}, "ok": 1.0}
        return {"ok": 0.0, "errmsg": f"no such command: '{name}'", "code": 59, "codeName": "CommandNotFound"}

    def talk(self, peer: Peer) -> None:
        while (header := peer.read_exact(16)) is not None:
            length, request_id, _, opcode = struct.unpack("<iiii", header)
            body = peer.read_exact(length - 16) if 16 < length < 1 << 20 else None
            if body is None:
                return
            if opcode == 2013 and not self.legacy:
                doc = self.answer(bson.decode(body[5:]))
                out = struct.pack("<I", 0) + b"\x00" + bson.encode(doc)
            elif opcode == 2004:
                start = body.index(b"\x00", 4) + 9
                doc = self.answer(bson.decode(body[start:]))
                out = struct.pack("<iqii", 0, 0, 0, 1) + bson.encode(doc)
                opcode = 1
            else:
                return  # what a 3.4 server does with OP_MSG: drop the connection
            peer.send(struct.pack("<iiii", 16 + len(out), request_id + 1000, request_id, opcode) + out)


class SshServer(ProtocolServer):
    """Sends an identification line and a KEXINIT with the given lists, then waits for the client to close."""

    def __init__(self, kex: list[str], hostkey: list[str], ciphers: list[str], macs: list[str],
                 ident: str = "SSH-2.0-OpenSSH_7.4", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lists = [kex, hostkey, ciphers, ciphers, macs, macs, ["none"], ["none"], [], []]
        self.ident = ident

    def kexinit_packet(self) -> bytes:
        """The binary packet carrying the KEXINIT (padding to a multiple of 8, at least 4 bytes)."""
        payload = bytes([20]) + os.urandom(16)
        for names in self.lists:
            text = ",".join(names).encode()
            payload += struct.pack(">I", len(text)) + text
        payload += b"\x00" + struct.pack(">I", 0)
        padding = 8 - (len(payload) + 5) % 8
        padding += 8 if padding < 4 else 0
        return struct.pack(">IB", len(payload) + padding + 1, padding) + payload + os.urandom(padding)

    def talk(self, peer: Peer) -> None:
        peer.send(f"{self.ident}\r\n".encode() + self.kexinit_packet())
        line = peer.readline()
        if line is not None:
            self.log(line.decode("ascii", "replace"))
        peer.read_exact(1 << 16)  # until the client closes


def elasticsearch_server(open_access: bool, version: str = "7.17.9", distribution: str | None = None,
                         host: str | None = None) -> LocalHTTPServer:
    """An HTTP server answering `GET /` like Elasticsearch: the cluster banner, or 401 when secured."""
    version_doc: dict[str, Any] = {"number": version, "build_flavor": "default", "lucene_version": "8.11.1"}
    if distribution:
        version_doc["distribution"] = distribution
    banner = json.dumps({"name": "node-1", "cluster_name": "prod-logs", "cluster_uuid": "x1",
                         "version": version_doc, "tagline": "You Know, for Search"}).encode()
    secured = Response(401, [("WWW-Authenticate", 'Basic realm="security" charset="UTF-8"'),
                             ("Content-Type", "application/json")],
                       b'{"error":{"type":"security_exception"},"status":401}')
    root = Response(200, [("Content-Type", "application/json")], banner) if open_access else secured
    return LocalHTTPServer(host or loopback_address(), routes={"/": root}, default=secured)
