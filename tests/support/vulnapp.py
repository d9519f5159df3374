"""A deliberately vulnerable web app and its clean twin, for the `webapp` check (loopback only).

Both serve the same pages; the vulnerable one does each thing unsafely (SQL built from strings,
unescaped output, open redirect, file paths joined from input, a `{{a*b}}` evaluator, a shell, a
server-side fetch of its own pages), the clean one safely. Every request is recorded (time, method,
path, User-Agent) so tests count what the scanner sent, per second, where and how.
"""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

JQUERY_BANNER = b"/*! jQuery v1.12.4 | (c) jQuery Foundation | jquery.org/license */\nvar jQuery = {};\n"


@dataclass(frozen=True)
class Hit:
    """One request the app answered."""

    at: float
    method: str
    path: str
    user_agent: str


@dataclass
class Answer:
    status: int = 200
    body: str = ""
    headers: list[tuple[str, str]] = field(default_factory=list)
    kind: str = "text/html; charset=utf-8"


class VulnApp:
    """The app on `host` (a 127.x address), port 0 = free; `safe=True` is the clean twin."""

    def __init__(self, host: str, *, safe: bool, docs: Path, offsite: str = "") -> None:
        if not host.startswith("127."):
            raise ValueError("test servers bind loopback only")
        self.host, self.safe, self.docs, self.offsite = host, safe, docs, offsite
        self.hits: list[Hit] = []
        self.guestbook: list[tuple[str, str]] = []
        self.lock = threading.Lock()
        docs.mkdir(parents=True, exist_ok=True)
        # The injectable shell runs here: attack payloads such as `>XSS` write files, never in the caller's cwd.
        self.shell_dir = Path(tempfile.mkdtemp(prefix="vulnapp-shell-"))
        (docs / "readme.txt").write_text("Read me: nothing to see.\n")
        self.db = sqlite3.connect(":memory:", check_same_thread=False)
        self.db.executescript("CREATE TABLE items (id TEXT, name TEXT);"
                              "INSERT INTO items VALUES ('1', 'Blue widget'), ('2', 'Red widget');")
        self._server: ThreadingHTTPServer | None = None

    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def base(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> VulnApp:
        app = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"

            def _serve(self, method: str) -> None:
                length = min(int(self.headers.get("Content-Length") or 0), 65536)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                with app.lock:
                    app.hits.append(Hit(time.monotonic(), method, self.path, self.headers.get("User-Agent", "")))
                parts = urllib.parse.urlsplit(self.path)
                query = dict(urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
                form = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
                try:
                    answer = app.route(method, parts.path, {**query, **form})
                except Exception as exc:  # the vulnerable app shows its errors; the clean one does not
                    answer = Answer(500, f"<pre>{type(exc).__module__}.{type(exc).__name__}: {exc}</pre>"
                                    if not app.safe else "error")
                data = answer.body.encode()
                self.send_response(answer.status)
                self.send_header("Content-Type", answer.kind)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                with contextlib.suppress(OSError):  # a client that stopped reading (a cut-off tool)
                    self.wfile.write(data)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, format: str, *args: Any) -> None:
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def handle_error(self, request: Any, client_address: Any) -> None:
                pass

        self._server = Server((self.host, 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        shutil.rmtree(self.shell_dir, ignore_errors=True)

    def out(self, value: str) -> str:
        """Raw in the vulnerable app, escaped in the clean one."""
        return html.escape(value) if self.safe else value

    def page(self, title: str, content: str) -> Answer:
        return Answer(body=f"<!DOCTYPE html><html><head><title>{title}</title>"
                           f"<script src=\"/static/jquery.min.js\"></script></head><body>{content}</body></html>")

    def route(self, method: str, path: str, p: dict[str, str]) -> Answer:
        """The app's pages."""
        handlers = {"/": self.index, "/item": self.item, "/search": self.search, "/guestbook": self.guest,
                    "/go": self.go, "/file": self.file, "/greet": self.greet, "/ping": self.ping,
                    "/preview": self.preview, "/about": self.about, "/admin/": self.admin,
                    "/account/delete": self.delete}
        if path == "/robots.txt":
            return Answer(body="User-agent: *\nDisallow: /admin/\nDisallow: /private/\n", kind="text/plain")
        if path == "/static/jquery.min.js":
            return Answer(body=JQUERY_BANNER.decode(), kind="application/javascript")
        handler = handlers.get(path)
        if handler is None:
            return Answer(404, "<html><head><title>Not found</title></head><body>nothing here</body></html>")
        return handler(method, p)

    def index(self, method: str, p: dict[str, str]) -> Answer:
        links = ["/item?id=1", "/search?q=hello", "/guestbook", "/go?next=/about", "/file?name=readme.txt",
                 "/greet?name=World", "/ping?host=localhost", f"/preview?url={self.base}/about", "/about", "/admin/"]
        if self.offsite:
            links.append(self.offsite)
        answer = self.page("Vulnapp home", "".join(f'<a href="{html.escape(u)}">{html.escape(u)}</a> ' for u in links)
                           + '<form action="/account/delete" method="post"><input name="confirm" value="yes">'
                             '<button type="submit">Delete my account</button></form>')
        cookie = "sessionid=abc123; Path=/" + ("; HttpOnly" if self.safe else "")
        answer.headers.append(("Set-Cookie", cookie))
        return answer

    def item(self, method: str, p: dict[str, str]) -> Answer:
        item_id = p.get("id", "")
        if self.safe:
            rows = self.db.execute("SELECT name FROM items WHERE id = ?", (item_id,)).fetchall()
        else:
            rows = self.db.execute(f"SELECT name FROM items WHERE id = '{item_id}'").fetchall()
        return self.page("Item", "<ul>" + "".join(f"<li>{html.escape(r[0])}</li>" for r in rows) + "</ul>")

    def search(self, method: str, p: dict[str, str]) -> Answer:
        return self.page("Search", f"<p>Results for {self.out(p.get('q', ''))}</p>")

    def guest(self, method: str, p: dict[str, str]) -> Answer:
        if method == "POST":
            self.guestbook.append((p.get("name", ""), p.get("message", "")))
        entries = "".join(f"<li><b>{self.out(n)}</b>: {self.out(m)}</li>" for n, m in self.guestbook[-50:])
        return self.page("Guestbook", f"<ul>{entries}</ul><form method=\"post\" action=\"/guestbook\">"
                                      "<input name=\"name\"><textarea name=\"message\"></textarea>"
                                      "<input type=\"submit\" value=\"Sign\"></form>")

    def go(self, method: str, p: dict[str, str]) -> Answer:
        target = p.get("next", "/")
        if self.safe and (not target.startswith("/") or target.startswith("//") or "\\" in target):
            target = "/"
        return Answer(302, "", [("Location", target)])

    def file(self, method: str, p: dict[str, str]) -> Answer:
        name = p.get("name", "")
        if self.safe:
            allowed = {"readme.txt"}
            text = (self.docs / name).read_text() if name in allowed else "no such document"
        else:
            text = open(os.path.join(self.docs, name), errors="replace").read(4096)  # noqa: SIM115
        return Answer(body=text, kind="text/plain")

    def greet(self, method: str, p: dict[str, str]) -> Answer:
        name = p.get("name", "")
        if not self.safe:
            name = re.sub(r"\{\{\s*(\d+)\s*\*\s*(\d+)\s*\}\}", lambda m: str(int(m[1]) * int(m[2])), name)
        return self.page("Greeting", f"<p>Hello {html.escape(name)}</p>")

    def ping(self, method: str, p: dict[str, str]) -> Answer:
        host = p.get("host", "")
        if self.safe:
            return self.page("Ping", f"<pre>pinging {html.escape(host)}</pre>")
        done = subprocess.run(["/bin/sh", "-c", f"echo pinging {host}"], capture_output=True, text=True,
                              timeout=10, env={"PATH": "/usr/bin:/bin"}, cwd=self.shell_dir, check=False)
        return self.page("Ping", f"<pre>{html.escape(done.stdout[:2000])}</pre>")

    def preview(self, method: str, p: dict[str, str]) -> Answer:
        url = p.get("url", "")
        if self.safe or not url.startswith(self.base + "/"):  # even the vulnerable app fetches only itself
            return self.page("Preview", f"<p>Previews are disabled ({html.escape(url)})</p>")
        with urllib.request.urlopen(url, timeout=5) as response:  # its own origin only
            fetched = response.read(4096).decode("utf-8", "replace")
        return self.page("Preview", f"<div>{html.escape(fetched)}</div>")

    def about(self, method: str, p: dict[str, str]) -> Answer:
        debug = "" if self.safe else "<!-- served by /var/www/vulnapp/app.py on 10.20.30.40 -->"
        return self.page("About", f"<p>About us</p>{debug}")

    def admin(self, method: str, p: dict[str, str]) -> Answer:
        return self.page("Admin", "<p>admin area</p>")

    def delete(self, method: str, p: dict[str, str]) -> Answer:
        return self.page("Deleted", "<p>account deleted</p>")

    # What tests read.
    def requests_per_second(self, user_agent: str) -> int:
        """The most requests with `user_agent` in any one-second window (sliding, from each request)."""
        times = sorted(h.at for h in self.hits if h.user_agent == user_agent)
        best, j = 0, 0
        for i, t in enumerate(times):
            while times[j] < t - 1.0 + 1e-9:
                j += 1
            best = max(best, i - j + 1)
        return best

    def count(self, method: str, path_prefix: str) -> int:
        return sum(1 for h in self.hits if h.method == method and h.path.startswith(path_prefix))
