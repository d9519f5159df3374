"""Local receivers on 127.0.0.1 for the webhook sender: HTTP, TLS, drip-feed and a bare listener.

Every server is started by its fixture and stopped (and its sleeping handlers released) afterwards.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import socket
import socketserver
import ssl
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.utils import format_datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from chalicelib.local.provision import Resources, ensure_queues, ensure_table
from tests.support.fakes import ManualClock

SLEEP_SECONDS = 60.0
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 20
AWS_LISTING = (b'<?xml version="1.0" encoding="UTF-8"?><ListAllMyBucketsResult><Owner><ID>75aa57f09aa0c8caeab4f8c24e99'
               b'd10f8e7faeebf76c078efc7c6caea54ba06a</ID></Owner><Buckets>'
               + b"".join(b"<Bucket><Name>tenant-data-%03d</Name></Bucket>" % i for i in range(200))
               + b"</Buckets></ListAllMyBucketsResult>")
ESCAPES = b"\x1b[2J\x1b]0;pwned\x07 error:\r\n\tdisk \xe2\x80\xaefull \xc3"  # ends in a cut UTF-8 character


@dataclass
class Recorded:
    """One request a receiver got."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A running receiver: where it listens and what it saw."""

    port: int
    requests: list[Recorded] = field(default_factory=list)
    server_names: list[str | None] = field(default_factory=list)  # SNI, for TLS receivers
    redirect_to: str = ""

    def url(self, path: str, host: str = "127.0.0.1", scheme: str = "http") -> str:
        return f"{scheme}://{host}:{self.port}{path}"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    receiver: Receiver
    stop: threading.Event

    def handle_error(self, request: object, client_address: object) -> None:
        """Receivers cut off by the sender's deadline are expected; stay quiet."""


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: object) -> None:
        """No access log on stderr."""

    def _record(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.receiver.requests.append(Recorded(self.command, self.path, dict(self.headers.items()), body))

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self._record()
        self._answer(200, b"redirect target")

    def do_POST(self) -> None:
        self._record()
        path = self.path.split("?")[0]
        in_an_hour = format_datetime(dt.datetime.now(dt.UTC) + dt.timedelta(hours=1), usegmt=True)
        routes: dict[str, Callable[[], None]] = {
            "/ok": lambda: self._answer(200, b"thanks"),
            "/created": lambda: self._answer(201),
            "/redirect": lambda: self._answer(302, headers={"Location": self.server.receiver.redirect_to}),
            "/gone": lambda: self._answer(410, b"endpoint removed"),
            "/throttle": lambda: self._answer(429, headers={"Retry-After": "120"}),
            "/unavailable": lambda: self._answer(503, headers={"Retry-After": in_an_hour}),
            "/error": lambda: self._answer(500, b"boom"),
            "/big": lambda: self._answer(200, b"x" * 1_000_000),
            "/png": lambda: self._answer(200, PNG, {"Content-Type": "image/png"}),
            "/aws": lambda: self._answer(200, AWS_LISTING, {"Content-Type": "application/xml"}),
            "/escapes": lambda: self._answer(500, ESCAPES, {"Content-Type": "text/plain; charset=utf-8"}),
            "/latin1": lambda: self._answer(400, "déjà vu".encode("latin-1"),
                                            {"Content-Type": "text/plain; charset=iso-8859-1"}),
            "/sleep": self._sleep,
        }
        routes.get(path, lambda: self._answer(404))()

    def _sleep(self) -> None:
        self.server.stop.wait(SLEEP_SECONDS)
        self._answer(200, b"too late")


def _serve(server: _Server) -> Iterator[Receiver]:
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.receiver
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


def _make_server(context: ssl.SSLContext | None = None) -> _Server:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.receiver = Receiver(port=server.server_address[1])
    server.stop = threading.Event()
    if context is not None:
        context.sni_callback = lambda _sock, name, _ctx: server.receiver.server_names.append(name)
        server.socket = context.wrap_socket(server.socket, server_side=True)
    return server


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A plain HTTP receiver on 127.0.0.1 routing on the path (/ok, /gone, /sleep, ...)."""
    yield from _serve(_make_server())


@pytest.fixture
def second_receiver() -> Iterator[Receiver]:
    """Another receiver, the target of redirects."""
    yield from _serve(_make_server())


# --- drip-feed receiver ---------------------------------------------------------------------------

@dataclass
class DripServer:
    """Answers byte by byte; `mode` is "headers" (status line dripped) or "body" (headers at once)."""

    port: int
    mode: str = "headers"
    interval: float = 0.05
    bytes_sent: int = 0


class _DripHandler(socketserver.BaseRequestHandler):
    server: _DripTCPServer

    def handle(self) -> None:
        sock: socket.socket = self.request
        sock.recv(65536)
        drip, stop = self.server.drip, self.server.stop
        if drip.mode == "headers":
            head, payload = b"", b"HTTP/1.1 200 OK\r\nX-Padding: " + b"p" * 2000 + b"\r\nContent-Length: 0\r\n\r\n"
        else:
            head, payload = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n", b"d" * 5000
        try:
            sock.sendall(head)
            for byte in payload:
                if stop.wait(drip.interval):
                    return
                sock.sendall(bytes([byte]))
                drip.bytes_sent += 1
        except OSError:
            return


class _DripTCPServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    drip: DripServer
    stop: threading.Event

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet."""


@pytest.fixture
def drip_server() -> Iterator[DripServer]:
    """A receiver that sends its answer one byte every 50 ms."""
    server = _DripTCPServer(("127.0.0.1", 0), _DripHandler)
    server.drip, server.stop = DripServer(port=server.server_address[1]), threading.Event()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.drip
    finally:
        server.stop.set()
        server.shutdown()
        server.server_close()
        thread.join(5)


# --- a bare listener that only counts connections -------------------------------------------------

@dataclass
class Listener:
    """Counts accepted TCP connections on 127.0.0.1:port."""

    port: int
    connections: int = 0


@pytest.fixture
def listener() -> Iterator[Listener]:
    """A TCP listener on 127.0.0.1 that accepts and closes, counting connections."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(8)
    sock.settimeout(0.05)
    state, stop = Listener(port=sock.getsockname()[1]), threading.Event()

    def run() -> None:
        while not stop.is_set():
            try:
                conn, _ = sock.accept()
            except TimeoutError:
                continue
            state.connections += 1
            conn.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        stop.set()
        thread.join(5)
        sock.close()


@pytest.fixture
def free_port() -> int:
    """A port on 127.0.0.1 with nothing listening."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- TLS ------------------------------------------------------------------------------------------

TLS_HOST = "secure.perimeter.test"


@dataclass(frozen=True)
class TlsMaterial:
    """A test CA and a leaf certificate for TLS_HOST."""

    ca_file: Path
    cert_file: Path
    key_file: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


@pytest.fixture(scope="session")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> TlsMaterial:
    """A CA made for the test run and a server certificate for secure.perimeter.test signed by it."""
    directory = tmp_path_factory.mktemp("tls")
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name("Perimeter test CA")).issuer_name(_name("Perimeter test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf_cert = (
        x509.CertificateBuilder().subject_name(_name(TLS_HOST)).issuer_name(ca_cert.subject)
        .public_key(leaf_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(TLS_HOST),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                       critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    material = TlsMaterial(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    material.ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    material.cert_file.write_bytes(leaf_cert.public_bytes(serialization.Encoding.PEM))
    material.key_file.write_bytes(leaf_key.private_bytes(serialization.Encoding.PEM,
                                                         serialization.PrivateFormat.PKCS8,
                                                         serialization.NoEncryption()))
    return material


@pytest.fixture
def tls_receiver(tls_material: TlsMaterial) -> Iterator[Receiver]:
    """An HTTPS receiver on 127.0.0.1 presenting the certificate for secure.perimeter.test."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(tls_material.cert_file, tls_material.key_file)
    yield from _serve(_make_server(context))


# --- moto SQS on a manual clock -------------------------------------------------------------------

ACCOUNT = "123456789012"


@pytest.fixture
def moto_clock(monkeypatch: pytest.MonkeyPatch) -> ManualClock:
    """A manual clock that moto's SQS (delays, visibility, retention) reads too: hours pass without sleeping.

    moto.sqs.models imports `unix_time`/`unix_time_millis` by name (moto 5.2.5); only SQS is affected.
    Receives must not long-poll (moto's wait loop would spin on a clock that does not move).
    """
    clock = ManualClock()
    monkeypatch.setattr("moto.sqs.models.unix_time", lambda dt=None: clock.time())
    monkeypatch.setattr("moto.sqs.models.unix_time_millis", lambda dt=None: clock.time() * 1000.0)
    return clock


def moto_next_visible(queue_url: str, region: str = "us-east-1") -> Callable[[], float | None]:
    """When the next message of a moto queue becomes receivable (epoch seconds), None when it is empty."""
    from moto.sqs.models import sqs_backends

    name = queue_url.rstrip("/").rsplit("/", 1)[1]

    def find() -> float | None:
        queue = sqs_backends[ACCOUNT][region].queues[name]
        times = [max(m.visible_at, m.delayed_until) / 1000.0 for m in list(queue._messages)]
        return min(times, default=None)

    return find


def moto_queue_counts(sqs: object, queue_url: str) -> tuple[int, int, int]:
    """(visible, in flight, delayed) as SQS reports them."""
    attributes = sqs.get_queue_attributes(  # type: ignore[attr-defined]
        QueueUrl=queue_url, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                            "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return (int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"]),
            int(attributes["ApproximateNumberOfMessagesDelayed"]))


# --- a receiver whose answers a test scripts ------------------------------------------------------

@dataclass
class ScriptedReceiver:
    """Answers POSTs with `respond(request) -> (status, headers)`; records every request (thread-safe)."""

    port: int
    respond: Callable[[Recorded], tuple[int, dict[str, str]]] = lambda request: (200, {})
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


class _ScriptedHandler(BaseHTTPRequestHandler):
    server: _ScriptedServer

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        request = Recorded(self.command, self.path, dict(self.headers.items()), self.rfile.read(length))
        owner = self.server.owner
        with owner.lock:
            owner.requests.append(request)
        status, headers = owner.respond(request)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()


class _ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    owner: ScriptedReceiver

    def handle_error(self, request: object, client_address: object) -> None:
        """Quiet."""


@pytest.fixture
def scripted_receiver() -> Iterator[ScriptedReceiver]:
    """A receiver on 127.0.0.1 whose `respond` the test sets."""
    server = _ScriptedServer(("127.0.0.1", 0), _ScriptedHandler)
    server.owner = ScriptedReceiver(port=server.server_address[1])
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server.owner
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


@pytest.fixture
def webhook_resources(aws: dict[str, Any]) -> Resources:
    """What the webhook flow needs (the table and the queues), made by the stack's own provisioning functions."""
    table = "perimeter"
    ensure_table(aws["dynamodb"], table)
    queue_url, dlq_url = ensure_queues(aws["sqs"], f"{table}-webhook-events")
    return Resources(table=table, bucket=f"{table}-reports", queue_url=queue_url, dlq_url=dlq_url,
                     state_machine_arn="")
