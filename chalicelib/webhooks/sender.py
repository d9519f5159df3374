"""One webhook delivery attempt through the guarded HTTP client (`chalicelib.net.http`).

The URL is checked again at send time with the registration rules (`url_guard`) over the one
resolution the client makes, so a name that now resolves to a refused address is refused before any
connection. The client never follows a redirect (a 3xx is a failure), keeps the wall-clock
deadline and reads at most `max_excerpt` bytes of the body, of which the outcome keeps a bounded,
text-only excerpt (`excerpt.response_excerpt`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from chalicelib.core.addresses import IPAddress, IPNetwork
from chalicelib.core.errors import PerimeterError
from chalicelib.core.settings import self_endpoints_from_env
from chalicelib.net import http as guarded_http
from chalicelib.net.http import AddressRefused, Destination, FailureKind, Guard, HttpFailure
from chalicelib.net.ports import DomainNotFound, Resolver, ResolverUnavailable
from chalicelib.webhooks.excerpt import MAX_READ_BYTES, response_excerpt
from chalicelib.webhooks.policy import DEFAULT_TIMEOUT
from chalicelib.webhooks.url_guard import (
    NOT_ALLOWED,
    SELF_ENDPOINT,
    judge_addresses,
    parse_webhook_url,
    resolution_refusal,
)

USER_AGENT = "Perimeter-Webhook/1.0"
MAX_EXCERPT_BYTES = MAX_READ_BYTES  # read from the body at most; the log keeps at most 256 characters of text


class ErrorKind:
    """Stable values of `DeliveryOutcome.error_kind`."""

    ADDRESS_NOT_ALLOWED = "address-not-allowed"
    INVALID_URL = "invalid-url"
    DNS = "dns"
    CONNECT = FailureKind.CONNECT
    TLS = FailureKind.TLS
    TIMEOUT = FailureKind.TIMEOUT
    PROTOCOL = FailureKind.PROTOCOL


@dataclass(frozen=True, slots=True)
class DeliveryOutcome:
    """What one attempt produced. `status_code` is None when no response status was read."""

    status_code: int | None
    latency_ms: int
    error: str | None
    retry_after: str | None  # the raw Retry-After header, for `policy.next_delay`
    response_excerpt: str  # at most 256 characters of a textual body, cleaned; or "[non-text body omitted]"
    error_kind: str | None = None
    address: str | None = None  # the address connected to

    @property
    def ok(self) -> bool:
        """True for a 2xx status."""
        return self.status_code is not None and 200 <= self.status_code < 300


def _refusal(exc: PerimeterError) -> DeliveryOutcome:
    if exc.code in (NOT_ALLOWED, SELF_ENDPOINT):
        kind = ErrorKind.ADDRESS_NOT_ALLOWED
    elif exc.status == 503:
        kind = ErrorKind.DNS
    else:
        kind = ErrorKind.INVALID_URL
    return DeliveryOutcome(None, 0, exc.detail, None, "", kind)


def _with_content_type(headers: Mapping[str, str]) -> dict[str, str]:
    merged = dict(headers)
    if not any(k.lower() == "content-type" for k in merged):
        merged["Content-Type"] = "application/json"
    return merged


def deliver(
    url: str,
    body: bytes,
    headers: Mapping[str, str],
    *,
    allowed: tuple[IPNetwork, ...],
    resolver: Resolver,
    timeout: float = DEFAULT_TIMEOUT,
    max_excerpt: int = MAX_EXCERPT_BYTES,
) -> DeliveryOutcome:
    """POST `body` to `url` once; never raises for network, DNS, TLS or guard failures.

    The URL is re-checked (one resolution, every address guarded) before any connection. The
    outcome's `error_kind` tells refusals (`address-not-allowed`, `invalid-url`, `dns`) from
    transport failures (`connect`, `tls`, `timeout`, `protocol`). Raises ValueError only for
    header names or values http.client refuses.
    """
    reserved = self_endpoints_from_env()
    try:
        parsed = parse_webhook_url(url, allowed)
    except PerimeterError as exc:
        return _refusal(exc)

    def rule(answers: tuple[IPAddress, ...]) -> Sequence[IPAddress]:
        checked = judge_addresses(url, parsed, answers, allowed, reserved)
        return sorted(checked.addresses, key=lambda a: a.version)  # IPv4 first: Lambda may lack IPv6 egress

    destination = Destination(parsed.scheme, parsed.host, parsed.port, parsed.target)
    try:
        response = guarded_http.send(destination, method="POST", headers=_with_content_type(headers), body=body,
                                     resolver=resolver, guard=Guard(allowed, reserved), rule=rule, timeout=timeout,
                                     max_body=max_excerpt, user_agent=USER_AGENT)
    except PerimeterError as exc:
        return _refusal(exc)
    except (DomainNotFound, ResolverUnavailable) as exc:
        return _refusal(resolution_refusal(url, parsed.host, exc))
    except AddressRefused as exc:
        return DeliveryOutcome(None, 0, str(exc), None, "", ErrorKind.ADDRESS_NOT_ALLOWED)
    except HttpFailure as exc:
        return DeliveryOutcome(None, round(exc.elapsed * 1000), str(exc), None, "", exc.kind,
                               None if exc.address is None else str(exc.address))
    return DeliveryOutcome(response.status, round(response.elapsed * 1000), response.body_error,
                           response.header("Retry-After"), response_excerpt(response.header("Content-Type"),
                                                                            response.body),
                           None, str(response.address))
