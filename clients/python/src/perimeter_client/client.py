"""`Client`: scans, findings, reports and webhooks of the Perimeter API, as typed models."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Callable, Union

from perimeter_client._resources import ResourcesMixin, pages, seg
from perimeter_client._transport import RetryPolicy, Session, Transport
from perimeter_client.errors import ConfigurationError, ScanFailedError, WaitTimeoutError
from perimeter_client.models import DeliveryQueued, Finding, FindingPage, Page, ReportLink, Scan, ScanCreated, Webhook
from perimeter_client.options import ContainerOptions, WebappOptions

DEFAULT_BASE_URL = "http://127.0.0.1:8000"  # the embedded stack (`make run`)
ENV_KEY, ENV_URL = "PERIMETER_API_KEY", "PERIMETER_BASE_URL"
Progress = Callable[[Scan], None]
Options = Union[Mapping[str, Any], ContainerOptions, WebappOptions]


class Client(ResourcesMixin):
    """A Perimeter API client.

    The key and base URL come from the arguments, else PERIMETER_API_KEY and PERIMETER_BASE_URL
    (default base URL: the local embedded stack). Every POST carries an Idempotency-Key (one per
    call, kept across its retries) unless `idempotency=False`. Raises ConfigurationError without a key.
    """

    def __init__(self, api_key: str | None = None, base_url: str | None = None, *, session: Session | None = None,
                 retry: RetryPolicy | None = None, timeout: float = 30.0, idempotency: bool = True,
                 env: Mapping[str, str] | None = None, sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        environ = os.environ if env is None else env
        key = api_key or environ.get(ENV_KEY, "")
        if not key:
            raise ConfigurationError(f"no API key: pass api_key or set {ENV_KEY}")
        url = base_url or environ.get(ENV_URL) or DEFAULT_BASE_URL
        self.transport = Transport(url, key, session=session, retry=retry, timeout=timeout, idempotency=idempotency)
        self._sleep, self._clock = sleep, clock

    def __repr__(self) -> str:
        return f"Client({self.transport.base_url!r})"

    @property
    def base_url(self) -> str:
        """The API's base URL, without a trailing slash."""
        return self.transport.base_url

    # -- scans ---------------------------------------------------------------------------

    def create_scan(self, domain: str | None = None, *, target: str | None = None, scan_type: str | None = None,
                    name: str | None = None, priority: str | None = None, options: Options | None = None,
                    tags: Sequence[str] | None = None, timeout_seconds: int | None = None,
                    idempotency_key: str | None = None) -> ScanCreated:
        """Start a scan of `domain` (posture) or of `target` with `scan_type`; 202 -> ScanCreated.

        `options` is the API's options object, or a ContainerOptions / WebappOptions (which also set
        `scan_type` when it is not given). A `webapp` target must be a verified target's host or URL
        (`create_target`, `verify_target`); a `container` target is an image reference naming its
        registry. Raises ValueError when typed options do not match `scan_type`.
        """
        sent: dict[str, Any] | None
        if isinstance(options, (ContainerOptions, WebappOptions)):
            kind = "container" if isinstance(options, ContainerOptions) else "webapp"
            if scan_type not in (None, kind):
                raise ValueError(f"{type(options).__name__} are the options of a {kind} scan, not {scan_type}")
            scan_type, sent = kind, options.to_options()
        else:
            sent = dict(options) if options is not None else None
        body: dict[str, Any] = {"domain": domain, "target": target, "scan_type": scan_type, "name": name,
                                "priority": priority, "options": sent,
                                "tags": list(tags) if tags is not None else None, "timeout_seconds": timeout_seconds}
        data = self.transport.json("POST", "/v1/scans", json={k: v for k, v in body.items() if v is not None},
                                   idempotency_key=idempotency_key)
        return ScanCreated.from_dict(data)

    def get_scan(self, token: str) -> Scan:
        """Read a scan."""
        return Scan.from_dict(self.transport.json("GET", f"/v1/scans/{seg(token)}"))

    def cancel_scan(self, token: str, *, idempotency_key: str | None = None) -> Scan:
        """Cancel a running scan (ConflictError once it is terminal)."""
        return Scan.from_dict(self.transport.json("POST", f"/v1/scans/{seg(token)}/cancel", json={},
                                                  idempotency_key=idempotency_key))

    def list_scans(self, *, status: str | None = None, scan_type: str | None = None, tag: str | None = None,
                   limit: int | None = None, cursor: str | None = None) -> Page[Scan]:
        """One page of scans, newest first."""
        params = {"status": status, "scan_type": scan_type, "tag": tag, "limit": limit, "cursor": cursor}
        return Page.from_dict(self.transport.json("GET", "/v1/scans", params=params), Scan.from_dict)

    def iter_scans(self, *, status: str | None = None, scan_type: str | None = None, tag: str | None = None,
                   page_size: int | None = None) -> Iterator[Scan]:
        """Every scan matching the filters, newest first, fetching pages as it goes."""
        return pages(lambda cursor: self.list_scans(status=status, scan_type=scan_type, tag=tag, limit=page_size,
                                                     cursor=cursor))

    def list_findings(self, token: str, *, severity: str | None = None, signal: str | None = None,
                      cwe: str | None = None, limit: int | None = None, cursor: str | None = None) -> FindingPage:
        """One page of a scan's findings, most severe first (`total` counts every page)."""
        params = {"severity": severity, "signal": signal, "cwe": cwe, "limit": limit, "cursor": cursor}
        data = self.transport.json("GET", f"/v1/scans/{seg(token)}/findings", params=params)
        return FindingPage.from_findings(data)

    def iter_findings(self, token: str, *, severity: str | None = None, signal: str | None = None,
                      cwe: str | None = None, page_size: int | None = None) -> Iterator[Finding]:
        """Every finding of a scan matching the filters (`severity` is exact, as the API filters)."""
        return pages(lambda cursor: self.list_findings(token, severity=severity, signal=signal, cwe=cwe,
                                                        limit=page_size, cursor=cursor))

    def wait(self, token: str, *, timeout: float = 900.0, on_progress: Progress | None = None,
             min_interval: float = 1.0, max_interval: float = 15.0, raise_on_failure: bool = True) -> Scan:
        """Poll until the scan is terminal and return it; `on_progress(scan)` after every poll.

        Adaptive: polls every `min_interval` while progress moves, backing off by 1.5x up to
        `max_interval` while it does not. Raises WaitTimeoutError after `timeout` seconds and, unless
        `raise_on_failure` is False, ScanFailedError when the scan ends failed or cancelled.
        """
        deadline = self._clock() + timeout
        interval, last = min_interval, -1
        while True:
            scan = self.get_scan(token)
            if on_progress is not None:
                on_progress(scan)
            if scan.terminal:
                if raise_on_failure and scan.status != "complete":
                    raise ScanFailedError(scan)
                return scan
            remaining = deadline - self._clock()
            if remaining <= 0:
                raise WaitTimeoutError(scan, timeout)
            interval = min_interval if scan.progress != last else min(max_interval, interval * 1.5)
            last = scan.progress
            self._sleep(min(interval, remaining))

    # -- reports -------------------------------------------------------------------------

    def report_link(self, token: str, format: str = "pdf") -> ReportLink:
        """The signed report link as JSON (URL, expiry and the SHA-256 of the bytes)."""
        data = self.transport.json("GET", f"/v1/scans/{seg(token)}/report", params={"format": format})
        return ReportLink.from_dict(data)

    def download_report(self, token: str, format: str = "pdf") -> bytes:
        """The report's bytes: follows the 302 to the signed link, without sending the API key there.

        Raises ConflictError (`scan-not-complete`) before the scan completes.
        """
        redirect = self.transport.request("GET", f"/v1/scans/{seg(token)}/report", params={"format": format},
                                          headers={"Accept": "*/*"}, allow_redirects=False)
        location = redirect.headers.get("Location")
        if redirect.status_code not in (301, 302, 303, 307, 308) or not location:
            raise ConfigurationError(f"expected a redirect to the report, got HTTP {redirect.status_code}")
        return self.transport.request("GET", location, auth=False, headers={"Accept": "*/*"}).content

    # -- webhooks ------------------------------------------------------------------------

    def create_webhook(self, url: str, events: Sequence[str] = ("*",), description: str = "", *,
                       format: str | None = None, secret: str | None = None,
                       idempotency_key: str | None = None) -> Webhook:
        """Register an endpoint; the returned Webhook's `secret` is shown this once.

        `format` picks a vendor dialect's delivery format (default `perimeter`); `secret`, a secret of
        your own (16-256 visible characters), then signs that format's signature header.
        """
        body: dict[str, Any] = {"url": url, "events": list(events), "description": description}
        if format is not None:
            body["format"] = format
        if secret is not None:
            body["secret"] = secret
        data = self.transport.json("POST", "/v1/webhooks", idempotency_key=idempotency_key, json=body)
        return Webhook.from_dict(data)

    def get_webhook(self, webhook_id: str) -> Webhook:
        """Read an endpoint."""
        return Webhook.from_dict(self.transport.json("GET", f"/v1/webhooks/{seg(webhook_id)}"))

    def list_webhooks(self, *, limit: int | None = None, cursor: str | None = None) -> Page[Webhook]:
        """One page of endpoints, newest first."""
        data = self.transport.json("GET", "/v1/webhooks", params={"limit": limit, "cursor": cursor})
        return Page.from_dict(data, Webhook.from_dict)

    def iter_webhooks(self, *, page_size: int | None = None) -> Iterator[Webhook]:
        """Every endpoint, newest first."""
        return pages(lambda cursor: self.list_webhooks(limit=page_size, cursor=cursor))

    def delete_webhook(self, webhook_id: str) -> None:
        """Delete an endpoint."""
        self.transport.request("DELETE", f"/v1/webhooks/{seg(webhook_id)}")

    def test_webhook(self, webhook_id: str, *, idempotency_key: str | None = None) -> DeliveryQueued:
        """Queue a `webhook.test` event to the endpoint."""
        data = self.transport.json("POST", f"/v1/webhooks/{seg(webhook_id)}/test", idempotency_key=idempotency_key)
        return DeliveryQueued.from_dict(data)

    def rotate_webhook_secret(self, webhook_id: str, *, idempotency_key: str | None = None) -> dict[str, Any]:
        """A new secret (shown once); the previous one signs too until `previous_secret_expires_at`."""
        data = self.transport.json("POST", f"/v1/webhooks/{seg(webhook_id)}/rotate-secret",
                                   idempotency_key=idempotency_key)
        return dict(data)
