"""Resolver port over dnspython, honouring PERIMETER_DNS_SERVERS (host[:port] list)."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import dns.exception
import dns.nameserver
import dns.rdatatype
import dns.resolver

from chalicelib.core.addresses import IPAddress
from chalicelib.core.settings import DnsServer
from chalicelib.net.ports import DomainNotFound, ResolverUnavailable


def build_resolver(servers: Sequence[DnsServer], timeout: float) -> dns.resolver.Resolver:
    """A dnspython resolver using `servers`, or the system's configuration when empty."""
    if servers:
        resolver = dns.resolver.Resolver(configure=False)
        resolver.nameservers = [dns.nameserver.Do53Nameserver(s.host, port=s.port) for s in servers]
    else:
        resolver = dns.resolver.Resolver()
    resolver.timeout = timeout
    resolver.lifetime = timeout
    return resolver


class DnsResolver:
    """Resolves A and AAAA records."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver

    def resolve(self, host: str) -> list[IPAddress]:
        """Addresses of `host`; raises DomainNotFound (NXDOMAIN) or ResolverUnavailable."""
        addresses: list[IPAddress] = []
        for rdtype in (dns.rdatatype.A, dns.rdatatype.AAAA):
            try:
                answer = self.resolver.resolve(host, rdtype, search=False)
            except dns.resolver.NXDOMAIN as exc:
                raise DomainNotFound(host) from exc
            except dns.resolver.NoAnswer:
                continue
            except (dns.resolver.NoNameservers, dns.exception.Timeout, OSError) as exc:
                raise ResolverUnavailable(str(exc)) from exc
            addresses.extend(ipaddress.ip_address(r.to_text()) for r in answer)
        return addresses
