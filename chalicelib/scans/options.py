"""Scan options as plain data: the port-spec parser and the DKIM selector rule the scanners apply.

Pure and light (no sockets, no nmap): the API validates submitted options with the very functions the
scanner task later uses, so an option the scanner would refuse is refused at submission (422).
"""

from __future__ import annotations

import re

# The 100 ports `top-N` draws from, most commonly exposed first (our own ordering).
TOP_PORTS: tuple[int, ...] = (
    80, 443, 22, 21, 25, 23, 53, 110, 143, 3389, 445, 139, 3306, 8080, 8443, 587, 465, 993, 995, 5432,
    1433, 6379, 27017, 9200, 11211, 2375, 5900, 8000, 8888, 9000, 10000, 2082, 2083, 2086, 2087, 111,
    135, 1521, 5984, 9300, 2376, 6443, 5601, 15672, 9090, 8081, 8008, 8088, 3000, 5000, 2222, 81, 1723,
    2049, 3128, 1080, 389, 636, 88, 5060, 5061, 5222, 1883, 5672, 9092, 2181, 9042, 5800, 5901, 6000,
    8009, 8086, 8181, 8444, 8880, 9001, 9443, 7001, 7443, 9100, 9418, 631, 873, 902, 990, 548, 554,
    179, 113, 119, 444, 513, 514, 515, 1025, 3268, 3690, 4443, 6667, 27018,
)

_SPEC_ITEM = re.compile(r"^(\d{1,5})(?:-(\d{1,5}))?$")


def parse_port_spec(spec: str) -> list[int]:
    """Expand `top-N` or nmap syntax (`22,80,8000-8100`) to a sorted port list; raises ValueError.

    `top-N` takes the first N of TOP_PORTS; beyond 100 it adds the remaining ports in ascending order.
    """
    text = spec.strip().lower()
    if text.startswith("top-"):
        count = int(text[4:])
        if not 1 <= count <= 65535:
            raise ValueError(f"top-N needs 1 <= N <= 65535, got {count}")
        chosen = list(TOP_PORTS[:count])
        if count > len(TOP_PORTS):
            taken = set(chosen)
            chosen += [p for p in range(1, 65536) if p not in taken][: count - len(TOP_PORTS)]
        return sorted(chosen)
    ports: set[int] = set()
    for item in text.split(","):
        match = _SPEC_ITEM.match(item.strip())
        if not match:
            raise ValueError(f"invalid port item {item!r} in {spec!r}")
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not 1 <= low <= high <= 65535:
            raise ValueError(f"invalid port range {item!r} in {spec!r}")
        ports.update(range(low, high + 1))
    return sorted(ports)


# A DKIM selector (one or more DNS labels); the mail check probes only selectors of this form.
DKIM_SELECTOR = re.compile(r"^[a-z0-9](?:[a-z0-9_.-]{0,61}[a-z0-9])?$", re.IGNORECASE)


def check_dkim_selector(selector: str) -> str:
    """The selector unchanged when the mail check can probe it; raises ValueError otherwise."""
    if not DKIM_SELECTOR.match(selector):
        raise ValueError(f"invalid DKIM selector {selector!r} (letters, digits, '_', '.', '-'; at most 63)")
    return selector
