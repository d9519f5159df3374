"""The TxtLookup port over dnspython: the resolvers of PERIMETER_DNS_SERVERS, as every check uses."""

from __future__ import annotations

import dns.exception
import dns.resolver

from chalicelib.net.ports import ResolverUnavailable


class DnsTxtLookup:
    """TXT records through a configured dnspython resolver (`chalicelib.net.dns.build_resolver`)."""

    def __init__(self, resolver: dns.resolver.Resolver) -> None:
        self.resolver = resolver

    def txt(self, name: str) -> list[str]:
        """Every TXT record at `name` ([] for NXDOMAIN or none); raises ResolverUnavailable."""
        try:
            answer = self.resolver.resolve(name, "TXT", search=False, raise_on_no_answer=False)
        except dns.resolver.NXDOMAIN:
            return []
        except (dns.resolver.NoNameservers, dns.exception.DNSException, OSError) as exc:
            raise ResolverUnavailable(f"TXT query for {name} failed: {exc}") from None
        if answer.rrset is None:
            return []
        return [b"".join(r.strings).decode("utf-8", "replace") for r in answer.rrset]
