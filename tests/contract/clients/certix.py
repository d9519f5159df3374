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

import requests


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


Transport = Callable[[str, str, Mapping[str, str], bytes], Reply]


def requests_transport(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Reply:
    """Plain HTTP (redirects not followed, as a report download inspects them)."""
    answer = requests.request(method, url, headers=dict(headers), data=body or None, timeout=15,
                              allow_redirects=False)
    return Reply(answer.status_code, dict(answer.headers), answer.content)


def chalice_transport(client: Any) -> Transport:
    """Chalice's test client (`chalice.test.Client`): URLs are paths."""
    def send(method: str, url: str, headers: Mapping[str, str], body: bytes) -> Reply:
        answer = getattr(client.http, method.lower())(url, headers=dict(headers), body=body)
        return Reply(answer.status_code, {k: str(v) for k, v in answer.headers.items()}, answer.body or b"")
    return send


class CertIXAPIError(Exception):
    """A Cert-IX error answer: status, `code` and `error`."""

    def __init__(self, status_code: int, code: str, message: str, body: Any = None) -> None:
        self.status_code, self.code, self.message, self.body = status_code, code, message, body
        super().__init__(f"[{status_code}] {code}: {message}")


@dataclass
class CertIXScanClient:
    """The documented client: scans, templates, webhooks, usage, and webhook signature verification."""

    api_key: str
    base_url: str
    transport: Transport = requests_transport
    sleep: Callable[[float], None] = time.sleep
    max_retries: int = 3
    slept: list[float] = field(default_factory=list)

    def raw(self, method: str, path: str, *, params: Mapping[str, Any] | None = None, json_body: Any = None,
            headers: Mapping[str, str] | None = None) -> Reply:
        """One request as the documented clients send it, no retry."""
        url = self.base_url + path + (f"?{urlencode(params)}" if params else "")
        sent = {"X-API-Key": self.api_key, "Content-Type": "application/json", **(headers or {})}
        return self.transport(method, url, sent, json.dumps(json_body).encode() if json_body is not None else b"")

    def request(self, method: str, path: str, *, params: Mapping[str, Any] | None = None,
                json_body: Any = None) -> dict[str, Any]:
        """The documented retry loop; returns the whole success body, raises CertIXAPIError."""
        for attempt in range(self.max_retries):
            reply = self.raw(method, path, params=params, json_body=json_body)
            if reply.status < 400:
                return dict(reply.json())
            if reply.status == 429:
                wait = float(reply.header("Retry-After") or 2 ** attempt)
                self.slept.append(wait)
                self.sleep(wait)
                continue
            if reply.status >= 500:
                self.sleep(2 ** attempt)
                continue
            data = reply.json()
            raise CertIXAPIError(reply.status, data.get("code", "UNKNOWN"), data.get("error", "Unknown error"), data)
        raise CertIXAPIError(429, "RATE_LIMIT_EXCEEDED", "Max retries exceeded")

    # -- scans
    def create_scan(self, target: str, scan_type: str, name: str | None = None, priority: str = "normal",
                    options: dict[str, Any] | None = None, tags: list[str] | None = None,
                    timeout: int | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {"target": target, "scanType": scan_type, "priority": priority}
        for key, value in (("name", name), ("options", options), ("tags", tags), ("timeout", timeout)):
            if value:
                payload[key] = value
        return dict(self.request("POST", "/scans", json_body=payload)["data"])

    def get_scan(self, scan_id: str, scan_type: str = "nmap") -> dict[str, Any]:
        return dict(self.request("GET", f"/scans/{scan_id}", params={"scanType": scan_type})["data"])

    def get_scan_results(self, scan_id: str, scan_type: str = "nmap") -> Any:
        return self.request("GET", f"/scans/{scan_id}/results", params={"scanType": scan_type})["data"]

    def cancel_scan(self, scan_id: str, scan_type: str = "nmap") -> dict[str, Any]:
        return dict(self.request("POST", f"/scans/{scan_id}/cancel", params={"scanType": scan_type})["data"])

    def list_scans(self, **filters: Any) -> dict[str, Any]:
        return self.request("GET", "/scans", params=filters)

    def wait_for_scan(self, scan_id: str, scan_type: str = "nmap", timeout: float = 3600,
                      interval: float = 5) -> dict[str, Any]:
        start = time.monotonic()
        while time.monotonic() - start < timeout:
            scan = self.get_scan(scan_id, scan_type)
            if scan["status"] in {"completed", "failed", "cancelled"}:
                return scan
            self.sleep(interval)
        raise TimeoutError(f"Scan {scan_id} did not complete within {timeout}s")

    # -- templates, webhooks, usage
    def create_template(self, name: str, scan_type: str, **fields: Any) -> dict[str, Any]:
        return dict(self.request("POST", "/scan-templates", json_body={"name": name, "scanType": scan_type,
                                                                        **fields})["data"])

    def launch_template(self, template_id: str, target: str, **overrides: Any) -> dict[str, Any]:
        return dict(self.request("POST", f"/scan-templates/{template_id}/launch",
                                 json_body={"target": target, **overrides})["data"])

    def create_webhook(self, name: str, url: str, events: list[str] | None = None,
                       **extra: Any) -> dict[str, Any]:
        payload: dict[str, Any] = {"name": name, "url": url, **extra}
        if events:
            payload["events"] = events
        return dict(self.request("POST", "/webhooks", json_body=payload)["data"])

    def get_usage_summary(self, period: str = "30d") -> dict[str, Any]:
        return dict(self.request("GET", "/usage/summary", params={"period": period})["data"])

    @staticmethod
    def verify_webhook_signature(body: bytes, signature_header: str, secret: str) -> bool:
        """HMAC-SHA256 of the raw body, hex, after `sha256=`: what Cert-IX's Python and Go snippets check."""
        if not signature_header.startswith("sha256="):
            return False
        expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature_header[len("sha256="):], expected)
