"""What every check shares: the ScanContext, the address guard helper, finding catalogs, the safe wrapper.

A check is `run(target, ctx) -> SignalResult` and never raises: a check that cannot run reports
`not_tested` (nothing to test, or the guard refused every address) or `error` (it broke), never a
failure score.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import dns.exception
import dns.resolver

from chalicelib.core.addresses import IPAddress, IPNetwork, SelfEndpoint
from chalicelib.core.settings import DEFAULT_DNSBL_ZONES, Settings
from chalicelib.net.dns import DnsResolver, build_resolver
from chalicelib.net.guard import is_blocked, is_self_endpoint, parse_ip
from chalicelib.net.ports import DomainNotFound, ResolverUnavailable
from chalicelib.scans.models import Finding, ScanOptions, Severity, SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES

if TYPE_CHECKING:
    from chalicelib.scanners.intel.model import Intel

log = logging.getLogger(__name__)

Check = Callable[[str, "ScanContext"], SignalResult]


@dataclass(frozen=True)
class ScanContext:
    """Everything a check needs besides its target: resolver, guard exemptions, ports, zones, timeouts.

    `tls_ports`, `http_port`, `https_port` and `smtp_port` exist so tests can point checks at servers on free ports.
    `self_endpoints` are the system's own sockets (PERIMETER_SELF_ENDPOINTS): never connected to.
    """

    resolver: dns.resolver.Resolver
    allowed_networks: tuple[IPNetwork, ...] = ()
    self_endpoints: tuple[SelfEndpoint, ...] = ()
    ports: str = "top-100"
    dnsbl_zones: tuple[str, ...] = DEFAULT_DNSBL_ZONES
    breach_api_url: str | None = None
    breach_api_key: str | None = field(default=None, repr=False)
    dkim_selectors: tuple[str, ...] = ()
    service_detection: bool = False
    tls_ports: tuple[int, ...] = (443,)
    http_port: int = 80
    https_port: int = 443
    connect_timeout: float = 1.5
    http_timeout: float = 5.0
    breach_timeout: float = 10.0
    port_concurrency: int = 200
    use_nmap: bool = True
    max_addresses: int = 4
    smtp_port: int = 25
    # Exposure intelligence (chalicelib/scanners/intel): None means the packaged data, loaded on first use
    # (intel.findings.intel_for); the scanner task passes `intel=load_intel(...)` for a refreshed copy.
    intel: Intel | None = field(default=None, repr=False, compare=False)
    identify_budget: float = 4.0  # seconds for identifying every open port of one address (probes, then HTTP)
    identify_wait: float = 1.0  # the longest wait for one probe's answer (the NULL probe's greeting)
    service_probes: str | None = "/usr/share/nmap/nmap-service-probes"  # None or missing: built-in table
    nmap_version_timeout: float = 30.0  # `nmap -sV` on still-unknown ports (service_detection only)
    timing: str | None = None  # the scan's `timing` option (T0-T5); None: nmap -T4, the built-in scanner's defaults
    # The scan's own options (a check with options of its own, e.g. `webapp`, reads them here); None: defaults.
    scan_options: ScanOptions | None = field(default=None, compare=False)
    # The scan's deadline (epoch seconds, time.time()) and its cancel signal: long checks (webapp) stop at
    # either and kill their child processes. None: no deadline beyond the check's own time budget.
    deadline: float | None = None
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    # Container scans (chalicelib/scanners/container; typed loosely here, the check imports this module):
    # the registry credentials opened by the scanner task, the OSV data, ECR tokens (region -> credentials)
    # and the only directory `oci-archive:` targets may name.
    registry_credentials: Any = field(default=None, repr=False, compare=False)
    osv: Any = field(default=None, repr=False, compare=False)
    ecr_credentials: Callable[[str], Any] | None = field(default=None, repr=False, compare=False)
    container_archive_root: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings, options: ScanOptions | None = None, **overrides: Any) -> ScanContext:
        """Build a context from Settings and a scan's options; `overrides` replace any field.

        Raises TypeError for an unknown override.
        """
        options = options or ScanOptions()
        key = settings.breach_api_key.get_secret_value() if settings.breach_api_key else None
        ctx = cls(
            resolver=build_resolver(settings.dns_servers, settings.dns_timeout),
            allowed_networks=settings.allow_private_targets,
            self_endpoints=settings.self_endpoints,
            ports=options.ports or settings.scan_ports,
            dnsbl_zones=settings.dnsbl_zones,
            breach_api_url=settings.breach_api_url or None,
            breach_api_key=key,
            dkim_selectors=tuple(options.dkim_selectors or ()),
            service_detection=options.service_detection,
            timing=options.timing,
            scan_options=options,
        )
        return dataclasses.replace(ctx, **overrides) if overrides else ctx


class CheckSkipped(Exception):
    """The check had nothing it may test (no address, guard refusal, not configured): `not_tested`."""


class CheckFailed(Exception):
    """The check could not complete (resolver down, unexpected answer): `error`."""


class GuardRefused(CheckSkipped):
    """Every address of the host is one the target guard refuses."""


@dataclass(frozen=True)
class FindingSpec:
    """The fixed part of a finding code: severity, title, remediation, CWE."""

    severity: Severity
    title: str
    remediation: str = ""
    cwe: str | None = None


CATALOGS: list[Catalog] = []


class Catalog:
    """The closed set of finding codes one check module can emit for one signal.

    Every catalog registers itself in CATALOGS, so a test can hold all of them against the scoring table.
    """

    def __init__(self, signal: SignalKey, specs: Mapping[str, FindingSpec]) -> None:
        self.signal = signal
        self.specs = dict(specs)
        CATALOGS.append(self)

    def make(self, code: str, *, key: str = "", detail: str = "", evidence: dict[str, Any] | None = None,
             severity: Severity | None = None, **intel: Any) -> Finding:
        """A Finding for `code` with a deterministic id from (signal, code, key).

        `severity` overrides the catalog's (a rule may rate one product higher); `intel` sets the
        exposure fields (product, version, cpe, cve, kev, ransomware). Raises KeyError for an
        unknown code, pydantic ValidationError for an unknown intel field.
        """
        spec = self.specs[code]
        digest = hashlib.sha256(f"{self.signal.value}|{code}|{key}".encode()).hexdigest()[:20]
        return Finding(
            id=f"fnd_{digest}", signal=self.signal, code=code, severity=severity or spec.severity,
            title=spec.title, detail=detail, remediation=spec.remediation, cwe=spec.cwe,
            evidence=evidence or {}, **intel,
        )


def resolution_failure(host: str, exc: DomainNotFound | ResolverUnavailable) -> CheckSkipped | CheckFailed:
    """What a check reports for a host that did not resolve: nothing to test (NXDOMAIN) or a broken resolver."""
    if isinstance(exc, DomainNotFound):
        return CheckSkipped(f"{host} does not exist (NXDOMAIN).")
    return CheckFailed(f"resolving {host} failed: {exc}")


def select_addresses(host: str, addresses: Iterable[IPAddress], ctx: ScanContext,
                     port: int | None = None) -> list[IPAddress]:
    """The addresses of `host` the target guard allows, IPv4 first, at most ctx.max_addresses.

    With `port`, an address where (address, port) is one of the system's own sockets
    (ctx.self_endpoints) is dropped too. Raises CheckSkipped (no address) or GuardRefused (every
    address refused).
    """
    unique = sorted(set(addresses), key=lambda a: (a.version, int(a)))
    if not unique:
        raise CheckSkipped(f"{host} has no A or AAAA record.")
    allowed = [a for a in unique if address_allowed(a, ctx, port)]
    if not allowed:
        refused = ", ".join(str(a) for a in unique)
        where = f" on port {port}" if port is not None else ""
        raise GuardRefused(f"target guard: {host} resolves only to non-public address(es) or to the "
                           f"system's own endpoints {refused}{where}; not scanned.")
    return allowed[: ctx.max_addresses]


def allowed_addresses(host: str, ctx: ScanContext, port: int | None = None) -> list[IPAddress]:
    """Resolve `host` through ctx.resolver and keep only addresses the target guard allows (`select_addresses`).

    An IP literal is judged as is. Raises CheckSkipped (no address, or every address refused) or
    CheckFailed (resolver unavailable).
    """
    literal = parse_ip(host)
    if literal is not None:
        return select_addresses(host, [literal], ctx, port)
    try:
        addresses = DnsResolver(ctx.resolver).resolve(host)
    except (DomainNotFound, ResolverUnavailable) as exc:
        raise resolution_failure(host, exc) from None
    return select_addresses(host, addresses, ctx, port)


def dns_query(resolver: dns.resolver.Resolver, name: str, rdtype: str) -> list[Any]:
    """The rdata of `name`/`rdtype` ([] for NXDOMAIN or no data); raises CheckFailed when no server answers."""
    try:
        answer = resolver.resolve(name, rdtype, search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.resolver.NoNameservers, dns.exception.DNSException, OSError) as exc:
        raise CheckFailed(f"DNS {rdtype} query for {name} failed: {exc}") from None
    return list(answer.rrset) if answer.rrset is not None else []


def name_exists(resolver: dns.resolver.Resolver, name: str) -> bool:
    """False only for NXDOMAIN; raises CheckFailed when no server answers."""
    try:
        resolver.resolve(name, "SOA", search=False, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return False
    except (dns.exception.DNSException, OSError) as exc:
        raise CheckFailed(f"DNS query for {name} failed: {exc}") from None
    return True


def txt_strings(resolver: dns.resolver.Resolver, name: str) -> list[str]:
    """Every TXT record at `name`, each record's strings joined; raises CheckFailed."""
    return [b"".join(r.strings).decode("utf-8", "replace") for r in dns_query(resolver, name, "TXT")]


def address_allowed(address: IPAddress, ctx: ScanContext, port: int | None = None) -> bool:
    """True when the target guard lets a connection to `address` (on `port`, when given) through."""
    if port is not None and is_self_endpoint(address, port, ctx.self_endpoints):
        return False
    return not is_blocked(address, ctx.allowed_networks)


def scope_ids(target: str, findings: list[Finding]) -> list[Finding]:
    """Findings with ids bound to the target (stable across scans of it), duplicates by id dropped."""
    scoped: dict[str, Finding] = {}
    for finding in findings:
        digest = hashlib.sha256(f"{target.lower()}|{finding.id}".encode()).hexdigest()[:20]
        scoped.setdefault(f"fnd_{digest}", finding.model_copy(update={"id": f"fnd_{digest}"}))
    return list(scoped.values())


def safe_check(signal: SignalKey) -> Callable[[Callable[[str, ScanContext], list[Finding]]], Check]:
    """Turn `fn(target, ctx) -> findings` into a Check that never raises.

    CheckSkipped becomes `not_tested`, CheckFailed and any other exception `error`, with the reason.
    Finding ids are scoped to the target (see scope_ids).
    """

    def decorate(fn: Callable[[str, ScanContext], list[Finding]]) -> Check:
        @functools.wraps(fn)
        def run(target: str, ctx: ScanContext) -> SignalResult:
            maximum = MAX_SCORES[signal]
            try:
                findings = fn(target, ctx)
            except CheckSkipped as exc:
                return SignalResult(status=SignalStatus.NOT_TESTED, max_score=maximum, error=str(exc))
            except CheckFailed as exc:
                return SignalResult(status=SignalStatus.ERROR, max_score=maximum, error=str(exc))
            except Exception as exc:
                log.exception("check %s crashed on %s", signal.value, target)
                return SignalResult(status=SignalStatus.ERROR, max_score=maximum,
                                    error=f"{type(exc).__name__}: {exc}")
            return SignalResult(status=SignalStatus.COMPLETE, max_score=maximum, findings=scope_ids(target, findings))

        return run

    return decorate
