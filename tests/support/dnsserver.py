"""An authoritative test DNS server (dnslib) on 127.0.0.1, UDP and TCP on the same free port.

The zone is a dict `{name: [(rtype, value), ...]}`: A, AAAA, TXT (long strings are split into
255-byte chunks), MX ("10 mx.example"), CNAME, NS, SOA ("ns.example hostmaster.example 1 3600 600 86400 60"),
CAA ('0 issue "letsencrypt.org"'), DNSKEY ("257 3 13 <base64 key>"), DS ("12345 13 2 <hex digest>"), and
the pseudo type RCODE ("SERVFAIL", "REFUSED") to make a name fail. Unknown names answer NXDOMAIN; names
with only descendants answer NOERROR/empty. One flat zone: a DS query is answered at the child's name, as
a recursive resolver answers it from the parent. Nothing is signed (no RRSIG).
"""

from __future__ import annotations

import base64
import socket
import threading
from collections.abc import Iterable

import dns.dnssec
import dns.name
import dns.rdata
from dnslib import AAAA, CAA, CNAME, DNSKEY, DS, MX, NS, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord
from dnslib.server import BaseResolver, DNSLogger, DNSServer

Zone = dict[str, list[tuple[str, str]]]


def _chunks(text: str) -> list[bytes]:
    data = text.encode()
    return [data[i: i + 255] for i in range(0, len(data), 255)] or [b""]


def _rdata(rtype: str, value: str) -> object:
    if rtype == "A":
        return A(value)
    if rtype == "AAAA":
        return AAAA(value)
    if rtype == "TXT":
        return TXT(_chunks(value))
    if rtype == "MX":
        preference, _, host = value.partition(" ")
        return MX(host or ".", int(preference))
    if rtype == "CNAME":
        return CNAME(value)
    if rtype == "NS":
        return NS(value)
    return _rdata_dnssec_caa(rtype, value)


def _rdata_dnssec_caa(rtype: str, value: str) -> object:
    parts = value.split()
    if rtype == "SOA":
        return SOA(parts[0], parts[1], tuple(int(p) for p in parts[2:7]))
    if rtype == "CAA":
        flags, tag, rest = value.split(" ", 2)
        return CAA(int(flags), tag, rest.strip('"'))
    if rtype == "DNSKEY":
        return DNSKEY(int(parts[0]), int(parts[1]), int(parts[2]), base64.b64decode("".join(parts[3:])))
    if rtype == "DS":
        return DS(int(parts[0]), int(parts[1]), int(parts[2]), bytes.fromhex("".join(parts[3:])))
    raise ValueError(f"unsupported record type {rtype}")


class ZoneResolver(BaseResolver):  # type: ignore[misc]
    """Answers from a zone dict and records every question asked."""

    def __init__(self, zone: Zone) -> None:
        self.zone: Zone = {}
        self.queries: list[tuple[str, str]] = []
        self._lock = threading.Lock()
        self.update(zone)

    def update(self, zone: Zone) -> None:
        """Add or replace names."""
        with self._lock:
            for name, records in zone.items():
                self.zone[name.rstrip(".").lower()] = list(records)

    def resolve(self, request: DNSRecord, handler: object) -> DNSRecord:
        reply = request.reply()
        reply.header.aa = 1
        qname = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self._lock:
            self.queries.append((qname, qtype))
            records = self.zone.get(qname)
            exists_below = any(n.endswith("." + qname) for n in self.zone)
        if records is None:
            if not exists_below:
                reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rtype, value in records:
            if rtype == "RCODE":
                reply.header.rcode = getattr(RCODE, value)
                return reply
        self._answer(reply, qname, qtype, records, depth=0)
        return reply

    def _answer(self, reply: DNSRecord, qname: str, qtype: str, records: Iterable[tuple[str, str]], depth: int) -> None:
        for rtype, value in records:
            if rtype == qtype:
                reply.add_answer(RR(qname, getattr(QTYPE, rtype), rdata=_rdata(rtype, value), ttl=60))
            elif rtype == "CNAME" and qtype != "CNAME" and depth < 5:
                reply.add_answer(RR(qname, QTYPE.CNAME, rdata=_rdata(rtype, value), ttl=60))
                target = value.rstrip(".").lower()
                self._answer(reply, target, qtype, self.zone.get(target, []), depth + 1)


class _QuietLogger(DNSLogger):  # type: ignore[misc]
    def __init__(self) -> None:
        super().__init__(log="-request,-reply,-truncated,-error,-recv,-send,-data", prefix=False)


class LocalDNSServer:
    """`start()` binds 127.0.0.1 on a port free for both UDP and TCP; `stop()` shuts both down."""

    def __init__(self, zone: Zone) -> None:
        self.resolver = ZoneResolver(zone)
        self.host = "127.0.0.1"
        self.port = 0
        self._servers: list[DNSServer] = []

    def start(self) -> LocalDNSServer:
        """Start UDP and TCP listeners; raises OSError when no common free port is found."""
        last: OSError | None = None
        for _ in range(20):
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            probe.bind((self.host, 0))
            port = probe.getsockname()[1]
            probe.close()
            try:
                udp = DNSServer(self.resolver, address=self.host, port=port, logger=_QuietLogger())
                try:
                    tcp = DNSServer(self.resolver, address=self.host, port=port, tcp=True, logger=_QuietLogger())
                except OSError:
                    udp.server.server_close()
                    raise
            except OSError as exc:
                last = exc
                continue
            self.port = port
            self._servers = [udp, tcp]
            for server in self._servers:
                server.start_thread()
            return self
        raise OSError(f"no free UDP+TCP port: {last}")

    def stop(self) -> None:
        """Stop both listeners and close their sockets."""
        for server in self._servers:
            server.stop()
            server.server.server_close()
        self._servers = []

    @property
    def address(self) -> str:
        """`host:port`, the PERIMETER_DNS_SERVERS spelling."""
        return f"{self.host}:{self.port}"


def dnssec_records(zone: str, seed: int = 1) -> list[tuple[str, str]]:
    """A KSK DNSKEY (ECDSA P-256 algorithm 13, key bytes from `seed`) and its matching SHA-256 DS for `zone`."""
    key = base64.b64encode(bytes((seed + i) % 256 for i in range(64))).decode()
    dnskey = f"257 3 13 {key}"
    rdata = dns.rdata.from_text("IN", "DNSKEY", dnskey)
    ds = dns.dnssec.make_ds(dns.name.from_text(zone), rdata, "SHA256")
    return [("DNSKEY", dnskey), ("DS", ds.to_text())]
