"""What identification produces: a Service per open port, with HttpFacts for ports that speak HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class HttpFacts:
    """What one HTTP(S) GET of a port's root page showed (the input of web fingerprints and appliance rules)."""

    url: str
    status: int
    headers: Mapping[str, str]  # lower-case names; repeated headers joined with ", "
    title: str | None = None
    body: str = ""  # the first 64 KiB, decoded leniently
    favicon_md5: str | None = None  # MD5 hex of /favicon.ico when it was fetched
    tls: bool = False
    cert_subject: str | None = None  # RFC 4514 subject of the leaf certificate
    cert_issuer: str | None = None
    cert_names: tuple[str, ...] = ()  # the leaf's SAN dNSNames


@dataclass(frozen=True)
class Software:
    """A further product seen on a port (PHP from X-Powered-By, WordPress from the generator), and where."""

    product: str
    version: str | None = None
    cpe: str | None = None
    source: str = ""


@dataclass(frozen=True)
class Service:
    """One open TCP port, identified as far as its banner and light probes allow.

    `cpe` is a CPE 2.2 URI (`cpe:/a:openbsd:openssh:9.2p1`), the form nmap's probe file and
    endoflife.date use; its vendor:product pair is the key the intel tables match on.
    `method` says how the port was named: `port` (by number only), `banner`, `probe`, `http`, `nmap`.
    `host` is the name the port was reached under (SNI and Host of HTTP requests), when known;
    `software` lists further products the port showed (web frameworks, CMS).
    """

    address: str
    port: int
    name: str
    product: str | None = None
    version: str | None = None
    cpe: str | None = None
    banner: str = ""
    method: str = "port"
    extra: Mapping[str, str] = field(default_factory=dict)
    http: HttpFacts | None = None
    host: str | None = None
    software: tuple[Software, ...] = ()

    @property
    def vendor_product(self) -> str | None:
        """`vendor:product` from the CPE (`openbsd:openssh`), or None."""
        if not self.cpe:
            return None
        parts = self.cpe.split(":")
        return f"{parts[2]}:{parts[3]}" if len(parts) >= 4 and parts[2] and parts[3] else None
