"""The exposure lab: one loopback host per issue-10 capability under `*.xlab.test`, each with the findings
it must produce (`HOSTS`, a declarative table), and a clean host that must keep grade A.

Every host gets its own random 127.X.Y.Z address, so the usual ports (21, 22, 25, 80, 443, 3389, 6379, ...)
are bound where the process may bind them (ports below 1024 need root); otherwise a free port is taken
and the host's ScanContext points at it (`http_port`, `https_port`, `tls_ports`, `smtp_port`, `ports`).
The lab has its own DNS server, test CA (a root and an intermediate) and an empty breach API.
"""

from __future__ import annotations

import contextlib
import os
import random
import ssl
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.core.settings import Settings
from chalicelib.scanners.base import ScanContext
from tests.support.banners import PRODUCTS, BannerServer
from tests.support.breachserver import BreachAPI
from tests.support.dnsserver import LocalDNSServer, Zone, dnssec_records
from tests.support.httpserver import LocalHTTPServer, Response, Route
from tests.support.lab import BREACH_KEY, DNSBL_ZONES, GOOD_HEADERS, PEPPER, dkim_record, sts_policy
from tests.support.services import (
    FtpServer,
    MemcachedServer,
    MongoServer,
    RedisServer,
    SmtpServer,
    SshServer,
    elasticsearch_server,
)
from tests.support.tlsserver import Issued, TestCA, server_context

ZONE = "xlab.test"
SECRET = "Tr0ub4dor-and-3-horses"  # the .env password: it must never appear in evidence
HTML = [("Content-Type", "text/html")]
TEXT = [("Content-Type", "text/plain")]
MODERN_SSH = {"kex": ["curve25519-sha256", "sntrup761x25519-sha512@openssh.com"], "hostkey": ["ssh-ed25519"],
              "ciphers": ["chacha20-poly1305@openssh.com", "aes256-gcm@openssh.com"],
              "macs": ["hmac-sha2-256-etm@openssh.com"]}
WEAK_SSH = {"kex": ["diffie-hellman-group1-sha1", "curve25519-sha256"], "hostkey": ["ssh-rsa"],
            "ciphers": ["aes128-cbc", "3des-cbc", "aes128-ctr"], "macs": ["hmac-md5", "hmac-sha2-256"]}
# Every finding code issue 10 added: the clean host must show none of them.
EXPOSURE_CODES = frozenset({
    "known-exploited-version", "critical-vulnerable-version", "kev-product-family", "eol-software",
    "outdated-software", "appliance-portal-exposed", "login-panel-exposed", "ftp-anonymous",
    "datastore-unauthenticated", "ssh-weak-algorithms", "dangling-cname", "no-https", "no-forward-secrecy",
    "rsa-key-exchange", "weak-cipher", "chain-incomplete", "dnssec-missing", "caa-missing", "mx-no-starttls",
    "mx-cert-invalid", "mx-cert-name-mismatch", "mx-smtp-unreachable", "vcs-metadata-exposed",
    "secrets-file-exposed", "backup-file-exposed", "server-status-exposed", "phpinfo-exposed", "directory-listing",
})


@dataclass(frozen=True)
class Expect:
    """One finding a host must produce: signal and code, and where they apply its intel fields and the
    evidence keys it must carry (None: not checked)."""

    signal: str
    code: str
    product: str | None = None
    version: str | None = None
    cve: str | None = None
    kev: bool | None = None
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True)
class Host:
    """A lab host: its label (`<name>.xlab.test`), the capability it exercises, what it must produce, the
    grade cap its score must carry (None: no cap asserted) and the reference tools that judge the same thing."""

    name: str
    capability: str
    expect: tuple[Expect, ...]
    cap: str | None = None
    tools: tuple[str, ...] = ()

    @property
    def domain(self) -> str:
        return f"{self.name}.{ZONE}"


S, L, M, W = "scan", "layer", "mail", "web"
HOSTS: tuple[Host, ...] = (
    Host("kev", "Apache httpd 2.4.49 (CVE-2021-41773, in CISA KEV)",
         (Expect(S, "known-exploited-version", "Apache httpd", "2.4.49", "CVE-2021-41773", True,
                 ("rule", "kev", "intel_version")),),
         cap="D", tools=("nmap",)),
    Host("critical", "OpenSSH 9.2p1 (regreSSHion range, not in KEV)",
         (Expect(S, "critical-vulnerable-version", "OpenSSH", "9.2p1", "CVE-2024-6387", False, ("rule", "range")),),
         cap="C", tools=("nmap",)),
    Host("eol", "nginx 1.18.0 (end-of-life cycle)", (Expect(S, "eol-software", "nginx", "1.18.0"),), cap="B",
         tools=("nmap",)),
    Host("outdated", "Apache httpd 2.4.58 (supported cycle, far behind)",
         (Expect(S, "outdated-software", "Apache httpd", "2.4.58"), Expect(S, "kev-product-family", kev=True)),
         tools=("nmap",)),
    Host("appliance", "FortiGate-like SSL-VPN portal (/remote/login)",
         (Expect(S, "appliance-portal-exposed", kev=True),), tools=("nmap",)),
    Host("panel", "phpMyAdmin login page", (Expect(S, "login-panel-exposed"),), tools=("nmap",)),
    Host("rdp", "Remote Desktop on 3389", (Expect(S, "rdp-exposed"),), cap="C", tools=("nmap",)),
    Host("vnc", "VNC on 5900", (Expect(S, "vnc-exposed"),), cap="C", tools=("nmap",)),
    Host("ftp", "FTP letting anonymous in", (Expect(S, "ftp-anonymous"),), tools=("nmap",)),
    Host("redis", "Redis without a password",
         (Expect(S, "datastore-unauthenticated", "Redis", "6.0.16"),), cap="D", tools=("nmap",)),
    Host("elasticsearch", "Elasticsearch without security",
         (Expect(S, "datastore-unauthenticated", "Elasticsearch", "7.17.9"),), cap="D", tools=("nmap",)),
    Host("mongodb", "MongoDB without authentication",
         (Expect(S, "datastore-unauthenticated", "MongoDB", "4.4.29"),), cap="D", tools=("nmap",)),
    Host("memcached", "memcached open", (Expect(S, "datastore-unauthenticated", "memcached", "1.6.21"),),
         cap="D", tools=("nmap",)),
    Host("sshweak", "SSH offering SHA-1 kex, CBC/3DES ciphers, HMAC-MD5",
         (Expect(S, "ssh-weak-algorithms"),), tools=("nmap",)),
    Host("files", ".git, .env and a backup archive served",
         (Expect(W, "vcs-metadata-exposed"), Expect(W, "secrets-file-exposed"), Expect(W, "backup-file-exposed")),
         cap="D"),
    Host("status", "server-status, phpinfo() and a directory listing",
         (Expect(W, "server-status-exposed"), Expect(W, "phpinfo-exposed"), Expect(W, "directory-listing"))),
    Host("mxplain", "MX without STARTTLS", (Expect(M, "mx-no-starttls"),), tools=("checkdmarc",)),
    Host("mxbadcert", "MX with a self-signed STARTTLS certificate", (Expect(M, "mx-cert-invalid"),),
         tools=("checkdmarc",)),
    Host("mxname", "MX certificate for another name", (Expect(M, "mx-cert-name-mismatch"),), tools=("checkdmarc",)),
    Host("mxdown", "MX host that does not answer SMTP", (Expect(M, "mx-smtp-unreachable"),)),
    Host("rsaonly", "HTTPS with RSA key exchange only (TLS 1.2)", (Expect(L, "no-forward-secrecy"),),
         tools=("testssl",)),
    Host("rsamixed", "HTTPS accepting RSA key exchange beside ECDHE", (Expect(L, "rsa-key-exchange"),),
         tools=("testssl",)),
    Host("weakcipher", "HTTPS accepting a NULL-encryption suite", (Expect(L, "weak-cipher"),), tools=("testssl",)),
    Host("chain", "HTTPS without its intermediate certificate", (Expect(L, "chain-incomplete"),),
         tools=("testssl",)),
    Host("httponly", "HTTP only, no HTTPS", (Expect(L, "no-https"),), tools=("testssl",)),
    Host("nodns", "HTTPS site in a zone without DNSSEC or CAA",
         (Expect(L, "dnssec-missing"), Expect(L, "caa-missing")), tools=("checkdmarc",)),
    Host("dangling", "www CNAME to a name that no longer exists", (Expect(S, "dangling-cname"),)),
    Host("clean", "DNSSEC, CAA, full chain, FS suites, HTTPS, good mail, no version shown", (),
         tools=("nmap", "testssl", "checkdmarc")),
)
BY_NAME = {host.name: host for host in HOSTS}


@dataclass
class Bound:
    """What runs on one lab host: its address and the ports its servers got."""

    address: str
    ports: dict[str, int] = field(default_factory=dict)  # role (http, https, smtp, ssh, ...) -> port


def _may_bind(port: int) -> bool:
    return port >= 1024 or os.geteuid() == 0


@dataclass
class ExposureLab:
    """Every lab host with its servers, one DNS zone, a CA; `context(name)` is a ScanContext for one host."""

    directory: Path
    subnet: str = field(default_factory=lambda: f"127.{random.randint(100, 250)}.{random.randint(1, 250)}")
    hosts: dict[str, Bound] = field(default_factory=dict)
    servers: list[Any] = field(default_factory=list)
    zone_data: Zone = field(default_factory=dict)

    def start(self) -> ExposureLab:
        """Start every host's servers, the breach API and the DNS server; call stop() in any case."""
        self.ca = TestCA(self.directory)
        self.intermediate = self.ca.intermediate("Xlab Intermediate")
        for index, host in enumerate(HOSTS):
            self.hosts[host.name] = Bound(f"{self.subnet}.{10 + index}")
            self.zone_data[host.domain] = [("A", self.hosts[host.name].address)]
            BUILDERS[host.name](self, host)
        self.breach = self._run(BreachAPI(BREACH_KEY, {}, {}))
        self.dns = self._run(LocalDNSServer(self.zone_data))
        return self

    def stop(self) -> None:
        """Stop everything that was started."""
        for server in reversed(self.servers):
            with contextlib.suppress(Exception):  # best-effort teardown
                server.stop()
        self.servers.clear()

    def _run(self, server: Any) -> Any:
        server.start()
        self.servers.append(server)
        return server

    def serve(self, host: Host, role: str, standard: int, make: Callable[[int], Any]) -> Any:
        """Start `make(port)` on the standard port when it may be bound here, else on a free one."""
        server = None
        if _may_bind(standard):
            with contextlib.suppress(OSError):
                server = self._run(make(standard))
        if server is None:
            server = self._run(make(0))
        self.hosts[host.name].ports[role] = int(server.port)
        return server

    def address(self, name: str) -> str:
        return self.hosts[name].address

    def leaf(self, host: Host, *names: str, intermediate: bool = True, **kwargs: Any) -> Issued:
        """A certificate for the host's domain (and `names`), from the intermediate unless told otherwise."""
        ca = self.intermediate if intermediate else self.ca
        return ca.issue(host.domain, [host.domain, *names], **kwargs)

    def web(self, host: Host, routes: dict[str, Route], *, https: ssl.SSLContext | None = None,
            http: bool = True, default: Route | None = None) -> None:
        """An HTTPS server (when `https`) and an HTTP server with `routes`; with HTTPS, HTTP redirects to it."""
        address = self.address(host.name)
        if https is not None:
            secure = self.serve(host, "https", 443, lambda p: LocalHTTPServer(
                address, p, routes, ssl_context=https, default=default))
            if http:
                location = f"https://{host.domain}:{secure.port}/"
                self.serve(host, "http", 80, lambda p: LocalHTTPServer(
                    address, p, {"/": Response(301, [("Location", location)])}))
        elif http:
            self.serve(host, "http", 80, lambda p: LocalHTTPServer(address, p, routes, default=default))

    def settings(self, **overrides: Any) -> Settings:
        """Settings pointing at the lab's DNS and breach API, with 127.0.0.0/8 exempt from the guard."""
        values: dict[str, Any] = {
            "key_pepper": PEPPER, "dns_servers": [self.dns.address], "dns_timeout": 5.0,
            "allow_private_targets": ["127.0.0.0/8"], "dnsbl_zones": list(DNSBL_ZONES),
            "breach_api_url": self.breach.url, "breach_api_key": BREACH_KEY,
        }
        values.update(overrides)
        return Settings.from_env({}, **values)

    def context(self, name: str, **overrides: Any) -> ScanContext:
        """A ScanContext for host `name`: its ports (missing web ports point at the closed port 1)."""
        ports = self.hosts[name].ports
        https = ports.get("https", 1)
        fields: dict[str, Any] = {
            "https_port": https, "http_port": ports.get("http", 1), "tls_ports": (https,),
            "smtp_port": ports.get("smtp", 1), "ports": ",".join(str(p) for p in sorted(set(ports.values()))),
            # generous: these bound only what fails, and a loaded CI machine is slow to answer on loopback
            "connect_timeout": 3.0, "http_timeout": 5.0,
        }
        fields.update(overrides)
        return ScanContext.from_settings(self.settings(), **fields)

    def stack_env(self, **extra: str) -> dict[str, str]:
        """Environment for an embedded stack that scans this lab (its DNS, CA, blocklists, breach API)."""
        return {
            "PERIMETER_DNS_SERVERS": self.dns.address, "PERIMETER_ALLOW_PRIVATE_TARGETS": "127.0.0.0/8",
            "PERIMETER_DNSBL_ZONES": ",".join(DNSBL_ZONES), "PERIMETER_BREACH_API_URL": self.breach.url,
            "PERIMETER_BREACH_API_KEY": BREACH_KEY, "SSL_CERT_FILE": str(self.ca.ca_file),
            "REQUESTS_CA_BUNDLE": str(self.ca.ca_file), "PERIMETER_DNS_TIMEOUT": "2", **extra,
        }


# ------------------------------------------------------------------------------------------ builders


def _server_header(host: Host, lab: ExposureLab, server: str) -> None:
    lab.web(host, {"/": Response(200, [*HTML, ("Server", server)], b"<html><title>It works</title></html>")})


def _ssh(ident: str, algorithms: dict[str, list[str]]) -> Callable[[ExposureLab, Host], None]:
    def build(lab: ExposureLab, host: Host) -> None:
        lab.serve(host, "ssh", 22, lambda p: SshServer(ident=ident, host=lab.address(host.name), port=p,
                                                       **algorithms))
    return build


def _banner(product: str, port: int) -> Callable[[ExposureLab, Host], None]:
    def build(lab: ExposureLab, host: Host) -> None:
        lab.serve(host, product, port, lambda p: BannerServer(lab.address(host.name), PRODUCTS[product][0], p))
    return build


def _appliance(lab: ExposureLab, host: Host) -> None:
    issued = lab.leaf(host, intermediate=False, self_signed=True)  # appliances ship self-signed certificates
    lab.web(host, {
        "/": Response(200, HTML, b"<html><title>Welcome</title><body>Hello</body></html>"),
        "/remote/login": Response(200, [*HTML, ("Server", "xxxxxxxx-xxxxx"),
                                        ("Set-Cookie", "SVPNCOOKIE=; path=/; secure; httponly")],
                                  b'<html><script src="/remote/fgt_lang?lang=en"></script></html>'),
    }, https=server_context(issued), http=False)


def _panel(lab: ExposureLab, host: Host) -> None:
    lab.web(host, {"/": Response(200, [*HTML, ("Set-Cookie", "phpMyAdmin=abc; path=/; HttpOnly")],
                                 b"<html><head><title>phpMyAdmin</title></head><body>Log in</body></html>")})


def _ftp(lab: ExposureLab, host: Host) -> None:
    lab.serve(host, "ftp", 21, lambda p: FtpServer(anonymous=True, host=lab.address(host.name), port=p))


def _datastore(lab: ExposureLab, host: Host) -> None:
    address = lab.address(host.name)
    makers: dict[str, tuple[int, Callable[[int], Any]]] = {
        "redis": (6379, lambda p: RedisServer(host=address, port=p)),
        "elasticsearch": (9200, lambda p: _es(address, p)),
        "mongodb": (27017, lambda p: MongoServer(auth=False, host=address, port=p)),
        "memcached": (11211, lambda p: MemcachedServer(host=address, port=p)),
    }
    standard, make = makers[host.name]
    lab.serve(host, host.name, standard, make)


def _es(address: str, port: int) -> LocalHTTPServer:
    server = elasticsearch_server(open_access=True, host=address)
    server.requested_port = port
    return server


def _files(lab: ExposureLab, host: Host) -> None:
    lab.web(host, {
        "/": Response(200, GOOD_HEADERS, b"<h1>shop</h1>"),
        "/.git/HEAD": Response(200, TEXT, b"ref: refs/heads/main\n"),
        "/.git/config": Response(200, TEXT, b"[core]\n\trepositoryformatversion = 0\n"),
        "/.env": Response(200, TEXT, f"APP_ENV=production\nDB_PASSWORD={SECRET}\n".encode()),
        "/backup.zip": Response(200, [("Content-Type", "application/zip")], b"PK\x03\x04" + bytes(200)),
    })


def _status(lab: ExposureLab, host: Host) -> None:
    lab.web(host, {
        "/": Response(200, GOOD_HEADERS, b"<h1>intranet</h1>"),
        "/server-status": Response(200, HTML, b"<html><head><title>Apache Status</title></head><body>"
                                              b"<h1>Apache Server Status for status.xlab.test</h1></body></html>"),
        "/phpinfo.php": Response(200, HTML, b"<html><head><title>PHP 8.2.7 - phpinfo()</title></head></html>"),
        "/uploads/": Response(200, HTML, b"<html><head><title>Index of /uploads</title></head>"
                                         b"<body><h1>Index of /uploads</h1></body></html>"),
    })


def _mx(kind: str) -> Callable[[ExposureLab, Host], None]:
    def build(lab: ExposureLab, host: Host) -> None:
        mx = f"mx.{host.domain}"
        lab.zone_data[host.domain].append(("MX", f"10 {mx}"))
        lab.zone_data[mx] = [("A", lab.address(host.name))]
        context = None
        if kind == "selfsigned":
            context = server_context(lab.ca.issue(mx, self_signed=True))
        elif kind == "wrongname":
            context = server_context(lab.intermediate.issue(f"other.{host.domain}"))
        if kind == "none":
            return  # nothing listens: the MX host does not greet
        lab.serve(host, "smtp", 25, lambda p: SmtpServer(context=context, host=lab.address(host.name), port=p,
                                                         greeting=f"{mx} ESMTP"))
    return build


def _tls(**options: Any) -> Callable[[ExposureLab, Host], None]:
    def build(lab: ExposureLab, host: Host) -> None:
        issued = lab.leaf(host, key="rsa2048")
        lab.web(host, {"/": Response(200, GOOD_HEADERS, b"<h1>ok</h1>")}, https=server_context(issued, **options))
    return build


def _httponly(lab: ExposureLab, host: Host) -> None:
    lab.web(host, {"/": Response(200, HTML, b"<h1>plain</h1>")})


def _dangling(lab: ExposureLab, host: Host) -> None:
    _tls()(lab, host)
    lab.zone_data[f"www.{host.domain}"] = [("CNAME", "gone-app.cloudapp.test")]


def _clean(lab: ExposureLab, host: Host) -> None:
    domain, mx, sts = host.domain, f"mx.{host.domain}", f"mta-sts.{host.domain}"
    issued = lab.leaf(host, f"www.{domain}", sts, key="rsa2048")
    policy = sts_policy("enforce", mx)

    def root(path: str, headers: dict[str, str]) -> Response:
        if headers.get("host", "").split(":")[0] == sts and path.startswith("/.well-known/mta-sts.txt"):
            return Response(200, TEXT, policy)
        return Response(200, GOOD_HEADERS, b"<h1>clean</h1>")

    lab.web(host, {"/": root, "/.well-known/mta-sts.txt": root}, https=server_context(issued))
    lab.serve(host, "smtp", 25, lambda p: SmtpServer(context=server_context(lab.leaf(host, mx)),
                                                     host=lab.address(host.name), port=p, greeting=f"{mx} ESMTP"))
    address = lab.address(host.name)
    lab.zone_data.update({
        domain: [("A", address), ("MX", f"10 {mx}"), ("TXT", "v=spf1 ip4:192.0.2.0/24 -all"),
                 ("CAA", '0 issue "letsencrypt.org"'),
                 ("SOA", f"ns.{domain} hostmaster.{domain} 1 3600 600 86400 60"), *dnssec_records(domain)],
        f"www.{domain}": [("A", address)], mx: [("A", address)], sts: [("A", address)],
        f"_dmarc.{domain}": [("TXT", f"v=DMARC1; p=reject; rua=mailto:dmarc@{domain}; pct=100")],
        f"s1._domainkey.{domain}": [("TXT", dkim_record(2048))],
        f"_mta-sts.{domain}": [("TXT", "v=STSv1; id=20261207T000000")],
        f"_smtp._tls.{domain}": [("TXT", f"v=TLSRPTv1; rua=mailto:tlsrpt@{domain}")],
    })


TLS12 = ssl.TLSVersion.TLSv1_2
BUILDERS: dict[str, Callable[[ExposureLab, Host], None]] = {
    "kev": lambda lab, host: _server_header(host, lab, "Apache/2.4.49 (Unix)"),
    "critical": _ssh("SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u2", MODERN_SSH),
    "eol": lambda lab, host: _server_header(host, lab, "nginx/1.18.0"),
    "outdated": lambda lab, host: _server_header(host, lab, "Apache/2.4.58 (Unix)"),
    "appliance": _appliance,
    "panel": _panel,
    "rdp": _banner("rdp", 3389),
    "vnc": _banner("vnc", 5900),
    "ftp": _ftp,
    "redis": _datastore, "elasticsearch": _datastore, "mongodb": _datastore, "memcached": _datastore,
    "sshweak": _ssh("SSH-2.0-OpenSSH_9.9", WEAK_SSH),
    "files": _files,
    "status": _status,
    "mxplain": _mx("plain"), "mxbadcert": _mx("selfsigned"), "mxname": _mx("wrongname"),
    "mxdown": _mx("none"),
    "rsaonly": _tls(maximum=TLS12, ciphers="kRSA:!eNULL:@SECLEVEL=0"),
    "rsamixed": _tls(ciphers="ECDHE:kRSA:!aNULL:!eNULL:@SECLEVEL=0"),
    "weakcipher": _tls(maximum=TLS12, ciphers="ECDHE-RSA-AES128-GCM-SHA256:NULL-SHA256:@SECLEVEL=0"),
    "chain": _tls(send_intermediate=False),
    "httponly": _httponly,
    "nodns": _tls(),
    "dangling": _dangling,
    "clean": _clean,
}
