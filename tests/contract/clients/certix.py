"""A Cert-IX Scan API client written from Cert-IX's public integration documentation (our own code).

It does what the documented integrations do: `X-API-Key` on every call, the `data` of each success
body, a retry on 429 after `Retry-After` seconds (and on 5xx with backoff), and otherwise an error
built from the body's `code` and `error`. The transport is pluggable so the same client drives
Chalice's test client (contract tests) and a real HTTP server (e2e).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.contract.clients import wire
from tests.contract.clients.wire import Reply, Transport

requests_transport = wire.requests_transport()
chalice_transport = wire.chalice_transport


class CertixRefused(Exception):
    """An error answer as a Cert-IX integration sees it: the HTTP status and the body's `code` and `error`."""

    def __init__(self, status: int, code: str, text: str, body: Any = None) -> None:
        super().__init__(f"{code} (HTTP {status}): {text}")
        self.status_code, self.code, self.message, self.body = status, code, text, body


TERMINAL = frozenset({"completed", "failed", "cancelled"})


@dataclass
class CertixClient:
    """Scans, templates, webhooks and usage the way Cert-IX's documentation integrates them."""

    api_key: str
    base_url: str
    transport: Transport = requests_transport
    sleep: Callable[[float], None] = time.sleep
    attempts: int = 3
    slept: list[float] = field(default_factory=list)

    def raw(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json_body: Any = None,
            headers: Mapping[str, str] | None = None) -> Reply:
        """One call, key in `X-API-Key`, no retry."""
        query = f"?{urlencode(params)}" if params else ""
        sent = {"X-API-Key": self.api_key, "Content-Type": "application/json", **(headers or {})}
        payload = b"" if json_body is None else json.dumps(json_body).encode()
        return self.transport(method, f"{self.base_url}{path}{query}", sent, payload)

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None) -> dict[str, Any]:
        """The whole success body; 429 waits Retry-After and 5xx backs off, up to `attempts` calls.

        Raises CertixRefused for any other error answer, and with the last answer's code when every
        attempt was throttled or failed.
        """
        last: Reply | None = None
        for attempt in range(self.attempts):
            last = self.raw(method, path, params=params, json_body=json_body)
            if last.status < 400:
                return dict(last.json())
            if last.status != 429 and last.status < 500:
                body = last.json()
                raise CertixRefused(last.status, body.get("code", "UNKNOWN"), body.get("error", ""), body)
            pause = float(last.header("Retry-After") or 2 ** attempt) if last.status == 429 else 2.0 ** attempt
            self.slept.append(pause)
            self.sleep(pause)
        assert last is not None
        body = last.json()
        raise CertixRefused(last.status, body.get("code", "UNKNOWN"), body.get("error", ""), body)

    def data(self, method: str, path: str, **options: Any) -> Any:
        """The `data` member of a success body."""
        return self.request(method, path, **options)["data"]

    # -- scans
    def create_scan(self, target: str, scan_type: str, priority: str = "normal", **fields: Any) -> dict[str, Any]:
        """POST /scans with `scanType` and `priority`; further fields (name, options, tags, timeout) when given."""
        body = {"target": target, "scanType": scan_type, "priority": priority,
                **{k: v for k, v in fields.items() if v}}
        return dict(self.data("POST", "/scans", json_body=body))

    def get_scan(self, scan_id: str, scan_type: str = "nmap") -> dict[str, Any]:
        return dict(self.data("GET", f"/scans/{scan_id}", params={"scanType": scan_type}))

    def results(self, scan_id: str, scan_type: str = "nmap") -> Any:
        return self.data("GET", f"/scans/{scan_id}/results", params={"scanType": scan_type})

    def cancel_scan(self, scan_id: str, scan_type: str = "nmap") -> dict[str, Any]:
        return dict(self.data("POST", f"/scans/{scan_id}/cancel", params={"scanType": scan_type}))

    def list_scans(self, **filters: Any) -> dict[str, Any]:
        return self.request("GET", "/scans", params=filters)

    def poll(self, scan_id: str, scan_type: str = "nmap", *, limit: float = 3600,
             every: float = 5) -> dict[str, Any]:
        """Read the scan until its status is terminal; raises TimeoutError after `limit` seconds."""
        deadline = time.monotonic() + limit
        while True:
            current = self.get_scan(scan_id, scan_type)
            if current["status"] in TERMINAL:
                return current
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{scan_id} still {current['status']} after {limit} s")
            self.sleep(every)

    # -- templates, webhooks, usage
    def create_template(self, name: str, scan_type: str, **fields: Any) -> dict[str, Any]:
        return dict(self.data("POST", "/scan-templates", json_body={"name": name, "scanType": scan_type,
                                                                     **fields}))

    def launch_template(self, template_id: str, target: str, **overrides: Any) -> dict[str, Any]:
        return dict(self.data("POST", f"/scan-templates/{template_id}/launch",
                              json_body={"target": target, **overrides}))

    def create_webhook(self, name: str, url: str, events: list[str] | None = None,
                       **extra: Any) -> dict[str, Any]:
        body: dict[str, Any] = {"name": name, "url": url, **extra, **({"events": events} if events else {})}
        return dict(self.data("POST", "/webhooks", json_body=body))

    def usage(self, period: str = "30d") -> dict[str, Any]:
        return dict(self.data("GET", "/usage/summary", params={"period": period}))

    @staticmethod
    def signature_ok(body: bytes, header: str, secret: str) -> bool:
        """Cert-IX's documented check: `sha256=` then the hex HMAC-SHA256 of the raw body, compared in constant time."""
        prefix, _, received = header.partition("=")
        digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return prefix == "sha256" and hmac.compare_digest(received, digest)
