"""A reverse proxy on a random loopback address that puts the external engines (wapiti, sqlmap)
behind the check's own client: they scan `http://127.X.Y.Z:port/...`, and every request they make is
sent by WebClient to the verified origin only (guard, pinned address, rate limit, request budget,
our User-Agent). Requests to destructive-looking paths are refused (403) without reaching the target.
Origin URLs in answers (Location, bodies) are rewritten to the proxy's, so the engines stay in scope.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from collections.abc import Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from chalicelib.scanners.base import CheckFailed, CheckSkipped
from chalicelib.scanners.webapp.client import RequestFailed, Stopped, WebClient
from chalicelib.scanners.webapp.html import DESTRUCTIVE

MAX_REQUEST_BODY = 1048576
PASSED_HEADERS = ("content-type", "cookie", "referer", "x-requested-with", "accept")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "proxy-connection", "upgrade"}


class EngineProxy:
    """Serves in a daemon thread until `stop()`; `blocked` holds the paths the engines may never reach."""

    def __init__(self, client: WebClient, blocked: Iterable[str] = ()) -> None:
        self.client = client
        self.blocked = set(blocked)
        self.refused = 0
        self.host = f"127.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 1}.{secrets.randbelow(250) + 2}"
        self._server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        """http://127.X.Y.Z:port of the proxy."""
        assert self._server is not None
        return f"http://{self.host}:{self._server.server_address[1]}"

    def to_origin(self, text: str) -> str:
        """A proxy URL (or text holding them) in the origin's terms."""
        return text.replace(self.base, self.client.origin.base)

    def refuses(self, method: str, path: str) -> bool:
        """True for a blocked path, or a non-GET request to a path that looks destructive."""
        bare = path.split("?")[0]
        return bare in self.blocked or (method not in ("GET", "HEAD") and DESTRUCTIVE.search(bare) is not None)

    def start(self) -> EngineProxy:
        """Bind (a free port on a random 127.X.Y.Z) and serve; raises OSError."""
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def do_GET(self) -> None:
                proxy._relay(self)

            def do_POST(self) -> None:
                proxy._relay(self)

            def do_HEAD(self) -> None:
                proxy._relay(self)

            def do_PUT(self) -> None:
                proxy._relay(self)

            def do_OPTIONS(self) -> None:
                proxy._relay(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True,
                         name="webapp-proxy").start()
        return self

    def stop(self) -> None:
        """Stop serving and close the socket."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _relay(self, handler: BaseHTTPRequestHandler) -> None:
        method = handler.command.upper()
        length = min(int(handler.headers.get("Content-Length") or 0), MAX_REQUEST_BODY)
        body = handler.rfile.read(length).decode("latin-1") if length else None
        status, headers, data = 502, [("Content-Type", "text/plain")], b"upstream failed"
        if not handler.path.startswith("/") or self.refuses(method, handler.path):
            self.refused += 1
            status, data = 403, b"refused by the Perimeter scan policy"
        else:
            passed = {k: self.to_origin(v) for k, v in handler.headers.items() if k.lower() in PASSED_HEADERS}
            try:
                reply = self.client.request(method, self.client.origin.base + handler.path, body, headers=passed)
            except Stopped as exc:
                status, data = 503, f"scan stopped: {exc.reason}".encode()
            except (RequestFailed, CheckSkipped, CheckFailed, ValueError):
                pass
            else:
                status, data = reply.status, reply.body.replace(self.client.origin.base.encode(), self.base.encode())
                headers = [(k, v.replace(self.client.origin.base, self.base)) for k, v in reply.headers
                           if k.lower() not in HOP_BY_HOP]
        with contextlib.suppress(OSError):
            handler.send_response(status)
            for name, value in headers:
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            if method != "HEAD":
                handler.wfile.write(data)

