"""The scanner test lab: a DNS zone, a test CA, HTTPS/HTTP servers, fake services and a breach API,
all on loopback. `good.test` is configured the way the checks want; `bad.test` gets everything wrong.

Addresses come from a random 127.X.Y.0/24 so parallel runs and stray local listeners do not collide.
"""

from __future__ import annotations

import base64
import contextlib
import random
import ssl
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from chalicelib.core.settings import Settings
from chalicelib.scanners.base import ScanContext
from tests.support.breachserver import BreachAPI
from tests.support.dnsserver import LocalDNSServer, Zone, dnssec_records
from tests.support.httpserver import LocalHTTPServer, RawListener, Response
from tests.support.tlsserver import Issued, TestCA, server_context, tls10_server_supported

PEPPER = "test-pepper-0123456789abcdef"
BREACH_KEY = "test-hibp-key-0123456789"
DNSBL_ZONES = ("domain:dbl.test", "ip:zen.test")

GOOD_HEADERS = [
    ("Content-Type", "text/html"),
    ("Strict-Transport-Security", "max-age=31536000; includeSubDomains"),
    ("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'"),
    ("X-Frame-Options", "DENY"),
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "strict-origin-when-cross-origin"),
    ("Set-Cookie", "session=abc; Path=/; Secure; HttpOnly; SameSite=Lax"),
]
BAD_HEADERS = [
    ("Content-Type", "text/html"),
    ("Server", "Apache/2.4.1 (Unix)"),
    ("Set-Cookie", "sid=123; Path=/"),
]


def dkim_record(bits: int) -> str:
    """A DKIM TXT record with an RSA public key of `bits` (below 1024 built from numbers)."""
    if bits >= 1024:
        public = rsa.generate_private_key(public_exponent=65537, key_size=bits).public_key()
    else:
        public = rsa.RSAPublicNumbers(65537, (1 << (bits - 1)) | 0x10001).public_key()
    der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def sts_policy(mode: str, *mx: str) -> bytes:
    """An MTA-STS policy body."""
    lines = ["version: STSv1", f"mode: {mode}", *(f"mx: {m}" for m in mx), "max_age: 604800"]
    return ("\r\n".join(lines) + "\r\n").encode()


@dataclass
class Lab:
    """Everything the integration tests scan, and ScanContexts pointing at it."""

    directory: Path
    subnet: str = field(default_factory=lambda: f"127.{random.randint(100, 250)}.{random.randint(1, 250)}")
    servers: list[Any] = field(default_factory=list)
    https_ports: dict[str, int] = field(default_factory=dict)
    http_ports: dict[str, int] = field(default_factory=dict)
    listeners: dict[int, RawListener] = field(default_factory=dict)
    tls10: bool = False
    standard_ports: bool = False  # HTTPS on 443 and HTTP on 80 (needs root): what a real scan looks at

    @property
    def good(self) -> str:
        return f"{self.subnet}.10"

    @property
    def bad(self) -> str:
        return f"{self.subnet}.20"

    @property
    def tlslab(self) -> str:
        return f"{self.subnet}.30"

    def _port(self, standard: int) -> int:
        return standard if self.standard_ports else 0

    def stack_env(self, **extra: str) -> dict[str, str]:
        """Environment for an embedded stack that scans this lab: its DNS, CA, blocklists, breach API."""
        return {
            "PERIMETER_DNS_SERVERS": self.dns.address, "PERIMETER_ALLOW_PRIVATE_TARGETS": "127.0.0.0/8",
            "PERIMETER_DNSBL_ZONES": ",".join(DNSBL_ZONES), "PERIMETER_BREACH_API_URL": self.breach.url,
            "PERIMETER_BREACH_API_KEY": BREACH_KEY, "SSL_CERT_FILE": str(self.ca.ca_file),
            # requests (the web fetch, webhooks) prefers REQUESTS_CA_BUNDLE: one set in the caller's
            # environment would hide the lab CA and fail every HTTPS fetch of the lab's sites.
            "REQUESTS_CA_BUNDLE": str(self.ca.ca_file), "PERIMETER_DNS_TIMEOUT": "2", **extra,
        }

    def _serve(self, server: Any) -> Any:
        server.start()
        self.servers.append(server)
        return server

    def start(self) -> Lab:
        """Start every server; call stop() in any case."""
        self.ca = TestCA(self.directory)
        probe_dir = self.directory / "tls10-probe"
        probe_dir.mkdir(exist_ok=True)
        self.tls10 = tls10_server_supported(str(probe_dir))
        self._start_good()
        self._start_bad()
        self._start_tls_variants()
        self.breach = self._serve(BreachAPI(BREACH_KEY, {
            "bad.test": {"alice": ["Adobe", "Canva"], "bob": ["Adobe"]},
        }, {
            "Adobe": {"Name": "Adobe", "Title": "Adobe", "BreachDate": "2013-10-04",
                      "DataClasses": ["Email addresses", "Password hints", "Passwords", "Usernames"]},
            "Canva": {"Name": "Canva", "Title": "Canva", "BreachDate": "2019-05-24",
                      "DataClasses": ["Email addresses", "Names"]},
        }))
        self.dns = self._serve(LocalDNSServer(self.zone()))
        return self

    def _start_good(self) -> None:
        names = ["good.test", "www.good.test", "mta-sts.good.test", "mta-sts.stsmismatch.test",
                 "mta-sts.ststesting.test", "hop.test"]
        self.good_cert: Issued = self.ca.issue("good.test", names, key="rsa2048")
        policies = {
            "mta-sts.good.test": sts_policy("enforce", "mx.good.test"),
            "mta-sts.stsmismatch.test": sts_policy("enforce", "mx.good.test"),
            "mta-sts.ststesting.test": sts_policy("testing", "mx.good.test"),
        }

        def policy(path: str, headers: dict[str, str]) -> Response:
            host = headers.get("host", "").split(":")[0]
            body = policies.get(host)
            return Response(200, [("Content-Type", "text/plain")], body) if body else Response(404)

        https = self._serve(LocalHTTPServer(self.good, port=self._port(443), routes={
            "/": Response(200, GOOD_HEADERS, b"<h1>good</h1>"),
            "/.well-known/mta-sts.txt": policy,
        }, ssl_context=server_context(self.good_cert)))
        for name in names:
            self.https_ports[name.removeprefix("mta-sts.")] = https.port
        self.good_https = https

        def front(path: str, headers: dict[str, str]) -> Response:
            host = headers.get("host", "").split(":")[0]
            if host == "hop.test":  # a redirect to a host the guard must refuse
                return Response(302, [("Location", "http://internal.test/admin")])
            return Response(301, [("Location", f"https://{host}:{https.port}/")])

        http = self._serve(LocalHTTPServer(self.good, port=self._port(80), routes={"/": front}))
        for name in names:
            self.http_ports[name.removeprefix("mta-sts.")] = http.port
        self.good_http = http

    def _start_bad(self) -> None:
        cert = self.ca.issue("bad.test", ["bad.test"], days=30, not_before_days=-60)  # expired 30 days ago
        minimum = ssl.TLSVersion.TLSv1 if self.tls10 else ssl.TLSVersion.TLSv1_2
        self.bad_https = self._serve(LocalHTTPServer(self.bad, port=self._port(443),
                                                     routes={"/": Response(200, BAD_HEADERS, b"bad")},
                                                     ssl_context=server_context(cert, minimum=minimum)))
        self.bad_http = self._serve(LocalHTTPServer(self.bad, port=self._port(80),
                                                    routes={"/": Response(200, BAD_HEADERS, b"bad")}))
        self.https_ports["bad.test"] = self.bad_https.port
        self.http_ports["bad.test"] = self.bad_http.port
        fakes = {6379: (b"", b"-ERR unknown command 'HEAD'\r\n"), 2375: (b"", b"HTTP/1.0 200 OK\r\n\r\n"),
                 5900: (b"RFB 003.008\n", b"")}
        for port, (greeting, reply) in fakes.items():
            try:
                self.listeners[port] = self._serve(RawListener(self.bad, port, greeting, reply))
            except OSError:
                continue  # port taken on this machine: tests needing it skip

    def _start_tls_variants(self) -> None:
        variants: dict[str, Issued] = {
            "expired.test": self.ca.issue("expired.test", days=30, not_before_days=-60),
            "selfsigned.test": self.ca.issue("selfsigned.test", self_signed=True),
            "wronghost.test": self.ca.issue("other.test"),
            "weakkey.test": self.ca.issue("weakkey.test", key="rsa1024"),
            "soon.test": self.ca.issue("soon.test", days=6),
            "wildcard.test": self.ca.issue("wildcard.test", ["*.wildcard.test"]),
        }
        contexts = {name: server_context(issued) for name, issued in variants.items()}
        if self.tls10:  # a TLS 1.0-only server, where the local OpenSSL still allows one
            contexts["tls10.test"] = server_context(self.ca.issue("tls10.test", key="rsa2048"),
                                                    minimum=ssl.TLSVersion.TLSv1, maximum=ssl.TLSVersion.TLSv1)
        for name, context in contexts.items():
            server = self._serve(LocalHTTPServer(self.tlslab, routes={"/": Response(200, GOOD_HEADERS)},
                                                 ssl_context=context))
            self.https_ports[name] = server.port
        self.https_ports["www.wildcard.test"] = self.https_ports["wildcard.test"]
        plain = self._serve(LocalHTTPServer(self.tlslab, routes={"/": Response(200, GOOD_HEADERS)}))
        self.http_ports["plain.test"] = plain.port

    def zone(self) -> Zone:
        """The DNS data every check sees."""
        good, bad, tlslab = self.good, self.bad, self.tlslab
        many = {f"inc{i}.many.test": [("TXT", "v=spf1 a mx ip4:192.0.2.1 -all")] for i in range(6)}
        zone: Zone = {
            "good.test": [("A", good), ("MX", "10 mx.good.test"),
                          ("TXT", "v=spf1 ip4:192.0.2.0/24 include:_spf.good.test -all"),
                          ("TXT", "google-site-verification=abc"), ("CAA", '0 issue "letsencrypt.org"'),
                          *dnssec_records("good.test")],
            "_spf.good.test": [("TXT", "v=spf1 ip4:198.51.100.0/24 -all")],
            "www.good.test": [("A", good)],
            "mx.good.test": [("A", good)],
            "mta-sts.good.test": [("A", good)],
            "_dmarc.good.test": [("TXT", "v=DMARC1; p=reject; rua=mailto:dmarc@good.test; pct=100")],
            "s1._domainkey.good.test": [("TXT", dkim_record(2048))],
            "_mta-sts.good.test": [("TXT", "v=STSv1; id=20250101T000000")],
            "_smtp._tls.good.test": [("TXT", "v=TLSRPTv1; rua=mailto:tlsrpt@good.test")],
            "bad.test": [("A", bad), ("MX", "10 mx.bad.test"), ("TXT", "v=spf1 +all")],
            "_dmarc.bad.test": [("TXT", "v=DMARC1; p=none")],
            "weakdkim.test": [("TXT", "v=spf1 -all")],
            "selector1._domainkey.weakdkim.test": [("TXT", dkim_record(512))],
            "mydkim._domainkey.weakdkim.test": [("TXT", dkim_record(1024))],
            "many.test": [("TXT", "v=spf1 " + " ".join(f"include:{n}" for n in many) + " -all")],
            **many,
            "stsmismatch.test": [("MX", "10 mx.other-provider.test")],
            "mx.other-provider.test": [("A", good)],
            "_mta-sts.stsmismatch.test": [("TXT", "v=STSv1; id=1")],
            "mta-sts.stsmismatch.test": [("A", good)],
            "ststesting.test": [("MX", "10 mx.good.test")],
            "_mta-sts.ststesting.test": [("TXT", "v=STSv1; id=1")],
            "mta-sts.ststesting.test": [("A", good)],
            "hop.test": [("A", good)],
            "internal.test": [("A", "10.20.30.40")],
            "private.test": [("A", "10.20.30.41")],
            "servfail.test": [("RCODE", "SERVFAIL")],
            "mailonly.test": [("MX", "10 mx.good.test")],
            "plain.test": [("A", tlslab)],
            # DNSBL zones
            "bad.test.dbl.test": [("A", "127.0.1.2"), ("TXT", "listed: test phishing")],
            "refused.test.dbl.test": [("A", "127.255.255.254")],
            f"{'.'.join(reversed(bad.split('.')))}.zen.test": [("A", "127.0.0.2"), ("TXT", "listed: test spam")],
            "refused.test": [("A", tlslab)],
        }
        for name in ("expired.test", "selfsigned.test", "wronghost.test", "weakkey.test", "soon.test",
                     "tls10.test", "wildcard.test", "www.wildcard.test"):
            zone[name] = [("A", tlslab)]
        return zone

    def settings(self, *, exempt: bool = True, **overrides: Any) -> Settings:
        """Settings pointing at the lab DNS server; `exempt=False` drops the 127.0.0.0/8 exemption."""
        values: dict[str, Any] = {
            "key_pepper": PEPPER, "dns_servers": [self.dns.address], "dns_timeout": 2.0,
            "allow_private_targets": ["127.0.0.0/8"] if exempt else [], "dnsbl_zones": list(DNSBL_ZONES),
            "breach_api_url": self.breach.url, "breach_api_key": BREACH_KEY,
        }
        values.update(overrides)
        return Settings.from_env({}, **values)

    def context(self, domain: str, *, exempt: bool = True, ports: str | None = None, **overrides: Any) -> ScanContext:
        """A ScanContext for `domain`: its TLS/HTTP ports, and a port set of its listeners plus risky ports."""
        settings = self.settings(exempt=exempt)
        fields: dict[str, Any] = {
            "https_port": self.https_ports.get(domain, 1),
            "http_port": self.http_ports.get(domain, 1),
            "tls_ports": (self.https_ports.get(domain, 1),),
            "ports": ports or self.port_set(domain),
            "connect_timeout": 1.0,
            "http_timeout": 3.0,
        }
        fields.update(overrides)
        return ScanContext.from_settings(settings, **fields)

    def port_set(self, domain: str) -> str:
        """The web ports of the domain plus a handful of risky ones."""
        web = sorted({p for p in (self.https_ports.get(domain), self.http_ports.get(domain)) if p})
        return ",".join(str(p) for p in [*web, 3306, 6379, 2375, 5900])

    def stop(self) -> None:
        """Stop everything that was started."""
        for server in reversed(self.servers):
            with contextlib.suppress(Exception):  # best-effort teardown
                server.stop()
        self.servers.clear()


def standard_lab(directory: Path, what: str) -> Iterator[Lab]:
    """A started Lab on ports 80/443 for a fixture to yield, stopped after; skips (naming `what`) without root."""
    import pytest

    lab = Lab(directory, standard_ports=True)
    try:
        lab.start()
    except PermissionError as exc:
        lab.stop()
        pytest.skip(f"{what} needs ports 80/443 on loopback (run as root): {exc}")
    yield lab
    lab.stop()
