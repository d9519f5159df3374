"""IP address types, and the system's own listening sockets (PERIMETER_SELF_ENDPOINTS) as Settings parses them."""

from __future__ import annotations

import ipaddress
from typing import NamedTuple

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class SelfEndpoint(NamedTuple):
    """One of the system's own listening sockets (PERIMETER_SELF_ENDPOINTS), never a tenant's target."""

    host: IPAddress
    port: int

    @classmethod
    def parse(cls, text: str) -> SelfEndpoint:
        """Parse `host:port` or `[v6]:port` (host an IP literal or `localhost`); raises ValueError."""
        text = text.strip()
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            if not rest.startswith(":"):
                raise ValueError(f"self endpoint {text!r} must be host:port")
            port_text = rest[1:]
        else:
            host, sep, port_text = text.rpartition(":")
            if not sep or ":" in host:
                raise ValueError(f"self endpoint {text!r} must be host:port ([v6]:port for IPv6)")
        if not port_text.isascii() or not port_text.isdigit() or not 1 <= int(port_text) <= 65535:
            raise ValueError(f"self endpoint {text!r} has no port within 1..65535")
        address = ipaddress.IPv4Address("127.0.0.1") if host.lower() == "localhost" else ipaddress.ip_address(host)
        return cls(address, int(port_text))


def parse_self_endpoints(text: str) -> tuple[SelfEndpoint, ...]:
    """Parse a comma-separated `host:port` list (blank parts ignored); raises ValueError."""
    return tuple(SelfEndpoint.parse(part) for part in text.split(",") if part.strip())
