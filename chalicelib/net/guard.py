"""Target rules: domain normalisation (scheme, path, port stripped; IDNA) and the address guard.

Pure functions: nothing here touches the network. Resolution lives in `chalicelib.net.dns`.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable

import idna

from chalicelib.core.addresses import IPAddress, IPNetwork, SelfEndpoint
from chalicelib.core.errors import InvalidDomain, TargetNotAllowed

# Ranges refused whatever `ipaddress.is_global` says (OWASP SSRF, RFC 6890, cloud metadata); the IPv4-
# embedding ones (::/96, ::ffff:0:0/96, ::ffff:0:0:0/96, 64:ff9b::/96, 2002::/16, 2001::/32) included.
BLOCKED_NETWORKS: tuple[IPNetwork, ...] = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
        "192.0.0.0/24", "192.0.2.0/24", "192.88.99.0/24", "192.168.0.0/16", "198.18.0.0/15",
        "198.51.100.0/24", "203.0.113.0/24", "224.0.0.0/4", "240.0.0.0/4", "255.255.255.255/32",
        "::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96", "64:ff9b:1::/48", "100::/64",
        "2001::/32", "2001:db8::/32", "2002::/16", "fc00::/7", "fe80::/10", "fec0::/10", "ff00::/8",
    )
)

# IPv6 ranges whose low 32 bits are an IPv4 address: compatible, mapped, translated, NAT64.
_EMBEDDING_96: tuple[ipaddress.IPv6Network, ...] = tuple(
    ipaddress.IPv6Network(n) for n in ("::/96", "::ffff:0:0/96", "::ffff:0:0:0/96", "64:ff9b::/96")
)
_NOT_EMBEDDING = (ipaddress.IPv6Address("::"), ipaddress.IPv6Address("::1"))
# Addresses a connect() treats as "this host": 0.0.0.0/8 and ::.
_UNSPECIFIED: tuple[IPNetwork, ...] = (ipaddress.IPv4Network("0.0.0.0/8"), ipaddress.IPv6Network("::/128"))

_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
# One to four dot-separated parts in decimal, octal (leading 0) or hex (0x): inet_aton's grammar.
_INET_ATON_PART = re.compile(r"^(0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*)$")


def parse_ipv4_legacy(text: str) -> ipaddress.IPv4Address | None:
    """Parse an IPv4 address the way inet_aton does (127.1, 0x7f000001, 017700000001); None if not one."""
    parts = text.split(".")
    if not 1 <= len(parts) <= 4 or not all(_INET_ATON_PART.match(p) for p in parts):
        return None
    values = []
    for part in parts:
        if part.lower().startswith("0x"):
            values.append(int(part[2:] or "0", 16))
        elif part.startswith("0") and len(part) > 1:
            values.append(int(part, 8))
        else:
            values.append(int(part))
    *head, last = values
    if any(v > 255 for v in head) or last >= 256 ** (4 - len(head)):
        return None
    number = last
    for i, v in enumerate(head):
        number += v << (8 * (3 - i))
    return ipaddress.IPv4Address(number)


def parse_ip(text: str) -> IPAddress | None:
    """An IP literal in any spelling (IPv6 with or without brackets, legacy IPv4), or None."""
    candidate = text.strip("[]")
    try:
        return ipaddress.ip_address(candidate.split("%")[0])
    except ValueError:
        return parse_ipv4_legacy(candidate)


def strip_to_host(raw: str) -> str:
    """Remove scheme, userinfo, path, query, fragment and port from a user-supplied target."""
    text = raw.strip()
    text = _SCHEME.sub("", text)
    text = re.split(r"[/?#\\]", text, maxsplit=1)[0]
    text = text.rpartition("@")[2]
    if text.startswith("["):
        return text[: text.find("]") + 1] if "]" in text else text
    if text.count(":") == 1:
        text = text.split(":")[0]
    return text


def normalise_domain(raw: str) -> str:
    """Normalise a domain to its lower-case IDNA (A-label) form; raises InvalidDomain."""
    host = strip_to_host(raw).rstrip(".").lower()
    if not host:
        raise InvalidDomain("The domain is empty.")
    if parse_ip(host) is not None:
        raise InvalidDomain(f"{raw!r} is an IP address, not a domain.")
    try:
        ascii_host = idna.encode(host, uts46=True, transitional=False).decode("ascii")
    except (idna.IDNAError, UnicodeError) as exc:
        raise InvalidDomain(f"{raw!r} is not a valid domain name: {exc}") from None
    labels = ascii_host.split(".")
    if len(ascii_host) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidDomain(f"{raw!r} is not a valid domain name.")
    if labels[-1].isdigit() or _INET_ATON_PART.match(labels[-1]) or parse_ip(ascii_host) is not None:
        raise InvalidDomain(f"{raw!r} has a numeric top-level label (an IP address in disguise).")
    return ascii_host


def normalise_target(raw: str, *, allow_ip: bool) -> tuple[str, IPAddress | None]:
    """Normalise a scan target: `(host, ip)` where ip is set for literal addresses.

    Raises InvalidDomain for a malformed name, or for an IP literal when `allow_ip` is false.
    """
    host = strip_to_host(raw)
    ip = parse_ip(host)
    if ip is None:
        return normalise_domain(raw), None
    if not allow_ip:
        raise InvalidDomain(f"{raw!r} is an IP address; this scan type needs a domain.")
    return str(ip), ip


def carried_ipv4(address: IPAddress) -> tuple[ipaddress.IPv4Address, ...] | None:
    """The IPv4 address(es) an IPv6 address embeds, or None when it embeds none.

    IPv4-compatible `::/96` (not `::` or `::1`), IPv4-mapped `::ffff:0:0/96`, IPv4-translated
    `::ffff:0:0:0/96`, NAT64 `64:ff9b::/96`, 6to4 `2002::/16` and Teredo `2001::/32` (server and
    de-obfuscated client). The local-use NAT64 prefix `64:ff9b:1::/48` is not decoded: never global.
    """
    if not isinstance(address, ipaddress.IPv6Address):
        return None
    if address.teredo is not None:
        return address.teredo
    if address.sixtofour is not None:
        return (address.sixtofour,)
    value = int(address)
    low = ipaddress.IPv4Address(value & 0xFFFFFFFF)
    if any(address in net for net in _EMBEDDING_96) and address not in _NOT_EMBEDDING:
        return (low,)
    return None


def _inside(address: IPAddress, networks: Iterable[IPNetwork]) -> bool:
    return any(address.version == net.version and address in net for net in networks)


def is_exempt(address: IPAddress, allowed: Iterable[IPNetwork]) -> bool:
    """True when `address` is inside `allowed`, or every IPv4 address it carries is (Teredo: both)."""
    allowed = tuple(allowed)
    if _inside(address, allowed):
        return True
    carried = carried_ipv4(address)
    return bool(allowed) and carried is not None and all(_inside(v4, allowed) for v4 in carried)


def is_blocked(address: IPAddress, allowed: Iterable[IPNetwork] = ()) -> bool:
    """True when an address is private, loopback, link-local, metadata, CGNAT or otherwise non-global.

    `allowed` networks (PERIMETER_ALLOW_PRIVATE_TARGETS) are exempt. An IPv6 address that embeds
    IPv4 (see `carried_ipv4`) is judged by the IPv4 address(es) it carries: allowed only when every
    carried address is exempt (Teredo: server and client), refused otherwise, since the embedding
    ranges are on the block list themselves.
    """
    if is_exempt(address, allowed):
        return False
    if carried_ipv4(address) is not None or _inside(address, BLOCKED_NETWORKS):
        return True
    return not address.is_global


def address_forms(address: IPAddress) -> tuple[IPAddress, ...]:
    """The address itself followed by every IPv4 address it carries (see `carried_ipv4`)."""
    return (address, *(carried_ipv4(address) or ()))


def is_self_endpoint(address: IPAddress, port: int, endpoints: Iterable[SelfEndpoint]) -> bool:
    """True when a connection to (address, port) could reach one of the system's own sockets.

    A listed port is refused on every loopback and unspecified address and on the address the
    endpoint names, in any IPv6 spelling that carries it. An endpoint bound to `0.0.0.0` or `::`
    answers on every local address: its port is refused on every non-public address (the public
    ones are reachable from the internet anyway). Exemptions never apply here.
    """
    forms = address_forms(address)
    for endpoint in endpoints:
        if endpoint.port != port:
            continue
        if endpoint.host.is_unspecified:
            if is_blocked(address):
                return True
            continue
        if any(f.is_loopback or f == endpoint.host or _inside(f, _UNSPECIFIED) for f in forms):
            return True
    return False


def guard_addresses(host: str, addresses: Iterable[IPAddress], allowed: Iterable[IPNetwork] = ()) -> None:
    """Refuse a target if any of its addresses is blocked; raises TargetNotAllowed."""
    allowed = tuple(allowed)
    bad = sorted({str(a) for a in addresses if is_blocked(a, allowed)})
    if bad:
        raise TargetNotAllowed(
            f"{host} resolves to non-public address(es) {', '.join(bad)}; scanning them is not allowed.",
            addresses=bad,
        )
