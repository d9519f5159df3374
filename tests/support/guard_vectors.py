"""The guard's vector table (issue 9): every spelling and family of a non-public address, with its verdict.

One table feeds the unit tests (scan targets, AAAA answers, webhook URLs) and the loopback canary
test. `refused` is the verdict without exemptions; `exempt_127` the verdict with
PERIMETER_ALLOW_PRIVATE_TARGETS=127.0.0.0/8 (embedded IPv4 judged by the address it carries).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class AddressVector:
    """An address as a DNS answer (A or AAAA) or a bracketed literal, with its two verdicts."""

    address: str
    family: str
    refused_with_127_exempt: bool

    @property
    def literal(self) -> str:
        """The address as a URL host."""
        return f"[{self.address}]" if ":" in self.address else self.address


# Every IPv6 family that carries IPv4, each with a loopback and a metadata/private payload.
# Teredo: 2001:0:<server>:<flags>:<port>:<~client>; f7f7:f7f7 is ~8.8.8.8, 80ff:fffe is ~127.0.0.1.
ADDRESS_VECTORS: tuple[AddressVector, ...] = (
    AddressVector("::127.0.0.1", "ipv4-compatible", False),
    AddressVector("::7f00:1", "ipv4-compatible", False),
    AddressVector("::169.254.169.254", "ipv4-compatible", True),
    AddressVector("::a00:1", "ipv4-compatible", True),
    AddressVector("::ffff:127.0.0.1", "ipv4-mapped", False),
    AddressVector("::ffff:169.254.169.254", "ipv4-mapped", True),
    AddressVector("::ffff:0:7f00:1", "ipv4-translated", False),
    AddressVector("::ffff:0:169.254.169.254", "ipv4-translated", True),
    AddressVector("::ffff:0:a00:1", "ipv4-translated", True),
    AddressVector("64:ff9b::7f00:1", "nat64", False),
    AddressVector("64:ff9b::a9fe:a9fe", "nat64", True),
    AddressVector("64:ff9b:1::7f00:1", "nat64-local-use", True),
    AddressVector("64:ff9b:1::808:808", "nat64-local-use", True),
    AddressVector("2002:7f00:1::1", "6to4", False),
    AddressVector("2002:a9fe:a9fe::1", "6to4", True),
    AddressVector("2001:0:7f00:1:0:0:80ff:fffe", "teredo (server and client loopback)", False),
    AddressVector("2001:0:7f00:1:0:0:f7f7:f7f7", "teredo (server loopback, client public)", True),
    AddressVector("2001:0:808:808:0:0:80ff:fffe", "teredo (server public, client loopback)", True),
    AddressVector("127.0.0.1", "ipv4 loopback", False),
    AddressVector("127.0.0.2", "ipv4 loopback", False),
    AddressVector("169.254.169.254", "ipv4 metadata", True),
    AddressVector("10.0.0.1", "ipv4 private", True),
    AddressVector("0.0.0.0", "ipv4 this-host", True),
    AddressVector("::1", "ipv6 loopback", True),
    AddressVector("::", "ipv6 unspecified", True),
)

# Spellings of 127.0.0.1 a user can type as a URL host or scan target (all refused without exemption,
# all the loopback address with it).
LOOPBACK_SPELLINGS: tuple[str, ...] = (
    "127.0.0.1", "2130706433", "0177.0.0.1", "0x7f000001", "0x7F.0.0.1", "0x7f.1", "127.1", "127.0.1",
    "017700000001", "127.0.0.1.", "[::127.0.0.1]", "[::7f00:1]", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]",
    "[::ffff:0:7f00:1]", "[::ffff:0:127.0.0.1]", "[64:ff9b::7f00:1]", "[2002:7f00:1::]",
    "[0:0:0:0:0:ffff:7f00:1]", "[::FFFF:7F00:1]",
)

# Scan targets (as typed in POST /v1/scans) that must be refused whatever the exemption says:
# spellings that are not addresses at all, or name another non-public range.
ALWAYS_REFUSED_TARGETS: tuple[str, ...] = (
    "\uff11\uff12\uff17.\uff10.\uff10.\uff11",  # fullwidth 127.0.0.1
    "\uff10\uff58\uff17\uff46.\uff10\uff58\uff11",  # fullwidth 0x7f.0x1
    "\uff11\uff12\uff17\uff0e\uff11",  # fullwidth 127.1 with a fullwidth full stop
    "http://public.example@evil",  # the host is `evil`: one label
    "http://public.example@169.254.169.254/",
    "http://a@10.0.0.1",
    "[::169.254.169.254]",
    "::a9fe:a9fe",
    "::ffff:0:a9fe:a9fe",
    "[fe80::1%eth0]",
    "fe80::1%25eth0",
    "[64:ff9b:1::7f00:1]",
    "0xA9FEA9FE",
    "2852039166",
    "0251.0376.0251.0376",
)

# Scan targets that denote a loopback address through userinfo, fragments or a zone id.
LOOPBACK_TARGET_TRICKS: tuple[str, ...] = (
    "http://a@127.0.0.1", "http://public.example@127.0.0.1/", "http://127.0.0.1#@public.example",
    "https://user:pw@[::ffff:127.0.0.1]:8443/x", "[::127.0.0.1%lo]", "127.0.0.1.:80",
)

# Webhook URL hosts refused whatever the exemption says (syntax the guard never accepts).
ALWAYS_REFUSED_URL_HOSTS: tuple[str, ...] = (
    "\uff11\uff12\uff17.\uff10.\uff10.\uff11", "\uff10\uff58\uff17\uff46.\uff10\uff58\uff11",
    "[fe80::1%25eth0]", "[::ffff:127.0.0.1%25lo]", "a@127.0.0.1", "public.example@127.0.0.1",
    "[::169.254.169.254]", "[::ffff:0:a9fe:a9fe]", "[64:ff9b:1::7f00:1]", "0xA9FEA9FE", "[::]", "0",
)

# Mixed answers: one public, one not public even with the loopback exemption. Refused as a scan
# target and as a webhook; the scanners keep the public address only.
MIXED_ANSWERS: dict[str, list[str]] = {
    "mixed-compat.test": ["93.184.216.34", "::a9fe:a9fe"],
    "mixed-translated.test": ["93.184.216.34", "::ffff:0:a00:1"],
    "mixed-metadata.test": ["2606:4700:4700::1111", "::169.254.169.254"],
    "mixed-teredo.test": ["93.184.216.34", "2001:0:808:808:0:0:80ff:fffe"],
}
PUBLIC_ANSWER = "93.184.216.34"
