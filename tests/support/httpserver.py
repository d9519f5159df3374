"""A threaded HTTP(S) test server bound to a loopback address, with a route table and a request log.

Routes map a path to a Response, or to a callable `(path, headers) -> Response`. TLS handshakes run
in the per-connection thread, so a client that fails the handshake does not stall the server.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


@dataclass
class Response:
    """A canned response; `headers` is a list so Set-Cookie can repeat."""

    status: int = 200
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


Route = Response | Callable[[str, dict[str, str]], Response]


@dataclass
class Seen:
    """One request the server answered."""

    method: str
    path: str
    headers: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.0"
    server_version = "lab"
    sys_version = ""

    def do_GET(self) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()}
        path = self.path.split("?")[0]
        self.server.owner.requests.append(Seen("GET", self.path, headers))
        route = self.server.owner.routes.get(path, self.server.owner.default)
        if route is None:
            response = Response(404, [("Content-Type", "text/plain")], b"not found")
        elif callable(route):
            response = route(self.path, headers)
        else:
            response = route
        self.log_request(response.status)
        self.send_response_only(response.status)
        if not any(name.lower() == "server" for name, _ in response.headers):
            self.send_header("Server", self.version_string())
        for name, value in response.headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(response.body)))
        self.end_headers()
        self.wfile.write(response.body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, owner: LocalHTTPServer, address: tuple[str, int]) -> None:
        self.owner = owner
        super().__init__(address, _Handler)

    def finish_request(self, request: Any, client_address: Any) -> None:
        context = self.owner.ssl_context
        if context is not None:
            request.settimeout(5)
            try:
                request = context.wrap_socket(request, server_side=True)
            except (ssl.SSLError, OSError):
                self.owner.handshake_failures += 1
                return
        with self.owner.lock:
            self.owner.connections += 1
        with contextlib.suppress(ssl.SSLError, OSError):
            super().finish_request(request, client_address)

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass


class LocalHTTPServer:
    """HTTP, or HTTPS when `ssl_context` is given; port 0 picks a free port; `default` answers other paths."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0, routes: dict[str, Route] | None = None,
                 ssl_context: ssl.SSLContext | None = None, default: Route | None = None) -> None:
        if not host.startswith("127."):
            raise ValueError("test servers bind loopback only")
        self.host = host
        self.default = default
        self.requested_port = port
        self.routes: dict[str, Route] = dict(routes or {})
        self.ssl_context = ssl_context
        self.requests: list[Seen] = []
        self.connections = 0
        self.handshake_failures = 0
        self.lock = threading.Lock()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The bound port."""
        assert self._server is not None
        return int(self._server.server_address[1])

    def start(self) -> LocalHTTPServer:
        """Bind and serve in a daemon thread."""
        self._server = _Server(self, (self.host, self.requested_port))
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None


class LoopbackListener:
    """A TCP listener on a loopback address (port 0: a free one) accepting in a daemon thread.

    Subclasses answer one connection in `_talk(conn)` (called in its own thread, which closes nothing:
    `_talk` owns the socket). `accepted` counts connections.
    """

    def __init__(self, host: str, port: int = 0) -> None:
        if not host.startswith("127."):
            raise ValueError("test listeners bind loopback only")
        self.host, self.port = host, port
        self.accepted = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def start(self) -> Self:
        """Bind (raises OSError when the port is taken) and accept in a daemon thread."""
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((self.host, self.port))
        self.port = self._sock.getsockname()[1]
        self._sock.listen(128)
        self._sock.settimeout(0.05)
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        """Stop accepting and close."""
        self._stop.set()
        self._thread.join(timeout=2)
        self._sock.close()


class RawListener(LoopbackListener):
    """A fake TCP service: sends `greeting` on accept, or `reply` after the client speaks; counts connections."""

    def __init__(self, host: str, port: int, greeting: bytes = b"", reply: bytes = b"") -> None:
        super().__init__(host, port)
        self.greeting, self.reply = greeting, reply

    def _talk(self, conn: socket.socket) -> None:
        try:
            conn.settimeout(2)
            if self.greeting:
                conn.sendall(self.greeting)
            elif self.reply and conn.recv(1024):
                conn.sendall(self.reply)
        except OSError:
            pass
        finally:
            conn.close()
