"""A SecuScan API client written from SecuScan's public documentation (not from Perimeter's code).

The way an integration uses SecuScan: a base URL ending in `/v1/secuscan`, `Authorization: Bearer
<key>`, JSON bodies, an `Idempotency-Key` UUID on every POST, then `POST /scans`, poll `GET
/scans/{id}`, list `GET /scans/{id}/findings`, download `GET /reports/{id}.pdf|.html|.json` and
check its HMAC, register `POST /webhooks`. The transport is a callable so the same client drives
Chalice's test client and a real HTTP server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

TERMINAL = ("completed", "partial", "failed", "cancelled")


@dataclass
class Answer:
    """One HTTP answer: status, headers (lower-case names) and body bytes."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


Transport = Callable[[str, str, Mapping[str, str], bytes], Answer]


class SecuScanError(Exception):
    """A non-2xx answer, with SecuScan's error body."""

    def __init__(self, answer: Answer) -> None:
        self.answer = answer
        self.error: dict[str, Any] = answer.json() if answer.body else {}
        super().__init__(f"{answer.status} {self.error.get('code')}: {self.error.get('detail')}")


@dataclass
class SecuScan:
    """`SecuScan(base_url, api_key, transport)`; every method raises SecuScanError on an error answer."""

    base_url: str
    api_key: str
    transport: Transport
    last: Answer | None = field(default=None, init=False)

    def request(self, method: str, path: str, body: Any = None, *, idempotency_key: str | None = None,
                accept: str = "application/json") -> Answer:
        headers = {"Authorization": f"Bearer {self.api_key}", "Accept": accept}
        data = b""
        if body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(body).encode()
        if method == "POST":
            headers["Idempotency-Key"] = idempotency_key or str(uuid.uuid4())
        answer = self.transport(method, self.base_url.rstrip("/") + path, headers, data)
        self.last = answer
        if answer.status >= 400:
            raise SecuScanError(answer)
        return answer

    def launch_scan(self, scope: list[str], scan_type: str = "easm", priority: str = "normal",
                    idempotency_key: str | None = None, **extra: Any) -> dict[str, Any]:
        body = {"scope": scope, "scan_type": scan_type, "priority": priority, **extra}
        return dict(self.request("POST", "/scans", body, idempotency_key=idempotency_key).json())

    def scan(self, scan_id: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/scans/{scan_id}").json())

    def wait(self, scan_id: str, timeout: float = 120.0, interval: float = 0.2) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            scan = self.scan(scan_id)
            if scan["status"] in TERMINAL:
                return scan
            if time.monotonic() > deadline:
                raise TimeoutError(f"scan {scan_id} still {scan['status']}")
            time.sleep(interval)

    def findings_page(self, scan_id: str, **filters: Any) -> dict[str, Any]:
        query = urlencode({k: v for k, v in filters.items() if v is not None})
        return dict(self.request("GET", f"/scans/{scan_id}/findings" + (f"?{query}" if query else "")).json())

    def findings(self, scan_id: str, per_page: int = 50, **filters: Any) -> Iterator[dict[str, Any]]:
        """Every finding, page after page (page numbers from 1 until `meta.total_pages`)."""
        page = 1
        while True:
            answer = self.findings_page(scan_id, page=page, per_page=per_page, **filters)
            yield from answer["data"]
            if page >= answer["meta"]["total_pages"]:
                return
            page += 1

    def report(self, report_id: str, fmt: str) -> Answer:
        """The report's bytes; raises ValueError when `X-Secuscan-Signature` does not verify."""
        answer = self.request("GET", f"/reports/{report_id}.{fmt}", accept="*/*")
        expected = "sha256=" + hmac.new(self.api_key.encode(), answer.body, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, answer.headers.get("x-secuscan-signature", "")):
            raise ValueError("report integrity check failed")
        return answer

    def provision_agent(self, name: str) -> dict[str, Any]:
        return dict(self.request("POST", "/agents", {"name": name}).json())

    def register_webhook(self, url: str, events: list[str], secret: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {"url": url, "events": events}
        if secret is not None:
            body["secret"] = secret
        return dict(self.request("POST", "/webhooks", body).json())

    def openapi(self) -> dict[str, Any]:
        return dict(self.request("GET", "/openapi.json").json())


def verify_webhook(signature: str, body: bytes, secret: str) -> bool:
    """SecuScan's documented receiver check: 'sha256=' + hex HMAC-SHA256 of the raw body, constant-time
    comparison of equal-length buffers (a length mismatch is a failure)."""
    expected = ("sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()).encode()
    given = signature.encode()
    return len(given) == len(expected) and hmac.compare_digest(given, expected)
