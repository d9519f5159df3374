"""The posture benchmark's lab: one loopback host with every fake service on it, its DNS zone, a breach API.

`PostureLab(directory).start()` binds a random 127.X.Y.Z and puts on it the protocol servers of
tests/support/services.py (anonymous FTP, SSH with weak algorithms, SMTP with STARTTLS, open Redis,
memcached, MongoDB and Elasticsearch), the fake products of tests/support/banners.py, and an HTTPS
site (test CA) with its HTTP redirect; each on its usual port, on a free one when that cannot be
bound (not root). A DNS server on 127.0.0.1 serves `lab.test` (A, MX, SPF, DMARC, DKIM, CAA,
DNSKEY/DS) and a breach API answers for nobody. `context()` is the ScanContext a posture scan of
`lab.test` gets; `stop()` stops everything.
"""

from __future__ import annotations

import contextlib
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.core.settings import Settings
from chalicelib.scanners.base import ScanContext
from chalicelib.scanners.open_ports import compress_ports
from chalicelib.scans.options import TOP_PORTS
from tests.support.banners import PRODUCTS, BannerServer
from tests.support.breachserver import BreachAPI
from tests.support.dnsserver import LocalDNSServer, Zone, dnssec_records
from tests.support.httpserver import LocalHTTPServer, Response
from tests.support.lab import GOOD_HEADERS, dkim_record
from tests.support.services import (
    FtpServer,
    MemcachedServer,
    MongoServer,
    RedisServer,
    SmtpServer,
    SshServer,
    elasticsearch_server,
)
from tests.support.tlsserver import TestCA, server_context

DOMAIN = "lab.test"
BREACH_KEY = "bench-hibp-key-0123456789"
DNSBL_ZONES = ("domain:dbl.test", "ip:zen.test")
SITE_HEADERS = [("Server", "Apache/2.4.49 (Unix)"), *GOOD_HEADERS]

# banners.py products and their ports; the ones services.py serves on the usual port (OpenSSH 7.4 on 22,
# Postfix on 25, Redis, memcached, MongoDB, Elasticsearch) are not repeated.
BANNER_PORTS: dict[str, int] = {
    "telnet": 23, "smb": 445, "mssql": 1433, "mysql": 3306, "rdp": 3389, "postgresql": 5432, "vnc": 5900,
    "iis": 8000, "nginx": 8080, "apache": 8081, "openssh-9.2": 2222, "proftpd": 2121, "vsftpd": 2100,
    "exim": 587, "ms-esmtp": 2525,
}
WEAK_SSH = {"kex": ["diffie-hellman-group1-sha1", "curve25519-sha256"], "hostkey": ["ssh-rsa", "ssh-dss"],
            "ciphers": ["aes128-cbc", "3des-cbc", "aes128-ctr"], "macs": ["hmac-md5", "hmac-sha2-256"]}


def random_host() -> str:
    """A random 127.X.Y.Z (X in 100-250), so parallel runs do not collide."""
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


@dataclass
class PostureLab:
    """One host with every fake service, its DNS, a breach API; `listeners` maps a label to its port."""

    directory: Path
    host: str = field(default_factory=random_host)
    listeners: dict[str, int] = field(default_factory=dict)
    servers: list[Any] = field(default_factory=list)

    def _bind(self, label: str, make: Any, port: int) -> Any:
        """Start `make(port)` on `port`, else on a free port; record and return the started server."""
        try:
            server = make(port).start()
        except (OSError, PermissionError):
            server = make(0).start()
        self.servers.append(server)
        self.listeners[label] = server.port
        return server

    def start(self) -> PostureLab:
        """Start every server (call stop() in any case)."""
        self.ca = TestCA(self.directory)
        site = self.ca.issue(DOMAIN, [DOMAIN, f"www.{DOMAIN}"], key="rsa2048")
        mx_cert = self.ca.issue(f"mx.{DOMAIN}")
        host = self.host
        https = self._bind("https-site", lambda p: LocalHTTPServer(
            host, p, routes={"/": Response(200, SITE_HEADERS, b"<html><title>lab</title><h1>lab</h1></html>")},
            ssl_context=server_context(site)), 443)

        def redirect(path: str, headers: dict[str, str]) -> Response:
            return Response(301, [("Location", f"https://{DOMAIN}:{https.port}{path}")])

        self._bind("http-site", lambda p: LocalHTTPServer(host, p, routes={"/": redirect}, default=redirect), 80)
        self._bind("ftp-anonymous", lambda p: FtpServer(True, host=host, port=p), 21)
        self._bind("ssh-weak", lambda p: SshServer(WEAK_SSH["kex"], WEAK_SSH["hostkey"], WEAK_SSH["ciphers"],
                                                  WEAK_SSH["macs"], host=host, port=p), 22)
        self._bind("smtp-starttls", lambda p: SmtpServer(server_context(mx_cert), host=host, port=p,
                                                         greeting=f"mx.{DOMAIN} ESMTP Postfix (Debian/GNU)"), 25)
        self._bind("redis-open", lambda p: RedisServer(host=host, port=p), 6379)
        self._bind("memcached-open", lambda p: MemcachedServer(host=host, port=p), 11211)
        self._bind("mongodb-open", lambda p: MongoServer(False, host=host, port=p), 27017)

        def elastic(port: int) -> LocalHTTPServer:
            server = elasticsearch_server(True, host=host)
            server.requested_port = port
            return server

        self._bind("elasticsearch-open", elastic, 9200)
        for name, port in BANNER_PORTS.items():
            self._bind(name, lambda p, name=name: BannerServer(host, PRODUCTS[name][0], p), port)
        self.breach = BreachAPI(BREACH_KEY, {}, {}).start()
        self.servers.append(self.breach)
        self.dns = LocalDNSServer(self.zone()).start()
        self.servers.append(self.dns)
        return self

    def zone(self) -> Zone:
        """lab.test configured the way the mail and layer checks want it."""
        host = self.host
        return {
            DOMAIN: [("A", host), ("MX", f"10 mx.{DOMAIN}"), ("TXT", f"v=spf1 ip4:{host} -all"),
                     ("CAA", '0 issue "letsencrypt.org"'), *dnssec_records(DOMAIN)],
            f"www.{DOMAIN}": [("A", host)],
            f"mx.{DOMAIN}": [("A", host)],
            f"_dmarc.{DOMAIN}": [("TXT", f"v=DMARC1; p=reject; rua=mailto:dmarc@{DOMAIN}")],
            f"s1._domainkey.{DOMAIN}": [("TXT", dkim_record(2048))],
        }

    @property
    def ports(self) -> list[int]:
        """Every listener's port, ascending."""
        return sorted(self.listeners.values())

    def port_spec(self) -> str:
        """What the scan signal scans: the production default (top-100) plus every listener."""
        return compress_ports(set(TOP_PORTS[:100]) | set(self.ports))

    def context(self, **overrides: Any) -> ScanContext:
        """The ScanContext of a posture scan of lab.test: production defaults, pointed at the lab."""
        settings = Settings.from_env({}, key_pepper="bench-pepper-0123456789abcdef", dns_servers=[self.dns.address],
                                     allow_private_targets=["127.0.0.0/8"], dnsbl_zones=list(DNSBL_ZONES),
                                     breach_api_url=self.breach.url, breach_api_key=BREACH_KEY)
        fields: dict[str, Any] = {
            "ports": self.port_spec(), "https_port": self.listeners["https-site"],
            "http_port": self.listeners["http-site"], "tls_ports": (self.listeners["https-site"],),
            "smtp_port": self.listeners["smtp-starttls"], **overrides}
        return ScanContext.from_settings(settings, **fields)

    def stop(self) -> None:
        """Stop everything that was started."""
        for server in reversed(self.servers):
            with contextlib.suppress(Exception):  # best-effort teardown
                server.stop()
        self.servers.clear()
