"""A CyperSecurity client written from its public API documentation, the way its examples integrate.

Every call sends `X-API-Key` and JSON, reads `id` and sends `type`; errors are the nested
`{"error": {"code", "message", "details"}}` object. Only the base URL (and the key) differ from a
client of the vendor itself. The transport is pluggable: `requests` for a live server (following the
report download's redirect, as requests does by default), or Chalice's test client in-process.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.contract.clients.wire import Reply, Transport


class CyperSecurityError(Exception):
    """An error answer: the HTTP status and the nested error object."""

    def __init__(self, reply: Reply) -> None:
        self.status = reply.status
        self.headers = reply.headers
        document = reply.json()
        self.code: str = document["error"]["code"]
        self.message: str = document["error"]["message"]
        self.details: dict[str, Any] = document["error"].get("details", {})
        super().__init__(f"{self.status} {self.code}: {self.message}")


@dataclass
class CyperSecurityClient:
    """`CyperSecurityClient(BASE_URL, API_KEY, transport)`: BASE_URL is what a partner changes."""

    base_url: str
    api_key: str
    transport: Transport
    last: Reply | None = field(default=None, repr=False)

    def _call(self, method: str, path: str, body: Any = None, query: Mapping[str, Any] | None = None) -> Reply:
        headers = {"X-API-Key": self.api_key, "Content-Type": "application/json"}
        params = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.base_url.rstrip("/") + path + (f"?{urlencode(params)}" if params else "")
        reply = self.transport(method, url, headers, json.dumps(body).encode() if body is not None else b"")
        self.last = reply
        if reply.status >= 400:
            raise CyperSecurityError(reply)
        return reply

    # Scans
    def list_scans(self, limit: int | None = None, offset: int | None = None, status: str | None = None) -> Any:
        return self._call("GET", "/scans", query={"limit": limit, "offset": offset, "status": status}).json()

    def create_scan(self, target: str, type: str, options: Mapping[str, Any] | None = None) -> Any:
        body: dict[str, Any] = {"target": target, "type": type}
        if options is not None:
            body["options"] = dict(options)
        return self._call("POST", "/scans", body).json()

    def get_scan(self, scan_id: str) -> Any:
        return self._call("GET", f"/scans/{scan_id}").json()

    # Reports
    def generate_report(self, scan_id: str, format: str = "pdf", type: str = "technical") -> Any:
        return self._call("POST", f"/scans/{scan_id}/report", {"format": format, "type": type}).json()

    def download_report(self, report_id: str) -> Reply:
        return self._call("GET", f"/reports/{report_id}/download")

    # Webhooks
    def list_webhooks(self) -> Any:
        return self._call("GET", "/webhooks").json()

    def create_webhook(self, url: str, events: list[str], secret: str, **extra: Any) -> Any:
        return self._call("POST", "/webhooks", {"url": url, "events": events, "secret": secret, **extra}).json()

    # Organization and team
    def get_organization(self) -> Any:
        return self._call("GET", "/organization").json()

    def update_organization(self, name: str, industry: str) -> Any:
        return self._call("PATCH", "/organization", {"name": name, "industry": industry}).json()

    def list_team_members(self, limit: int | None = None, offset: int | None = None) -> Any:
        return self._call("GET", "/team/members", query={"limit": limit, "offset": offset}).json()

    def invite_member(self, email: str, role: str = "member") -> Any:
        return self._call("POST", "/team/members", {"email": email, "role": role}).json()


def verify_webhook(payload: Any, signature: str, secret: str) -> bool:
    """The Python verification the vendor documents: HMAC-SHA256 hex of the parsed payload re-serialised
    with sorted keys, compared in constant time."""
    canonical = json.dumps(payload, sort_keys=True).encode("utf-8")
    mac = hmac.new(secret.encode("utf-8"), canonical, hashlib.sha256).hexdigest()
    return hmac.compare_digest(signature, mac)


# The Node verification the vendor documents, in our own words: parse the body, HMAC-SHA256 (hex) of
# JSON.stringify of the parsed payload, constant-time compare. argv: secret, signature; stdin: raw body.
NODE_VERIFY = r"""
const { createHmac, timingSafeEqual } = require('node:crypto');
let raw = '';
process.stdin.on('data', (chunk) => { raw += chunk; });
process.stdin.on('end', () => {
  const [secret, signature] = process.argv.slice(1);
  const payload = JSON.parse(raw);
  const mac = createHmac('sha256', secret).update(JSON.stringify(payload)).digest('hex');
  const a = Buffer.from(mac), b = Buffer.from(signature);
  process.stdout.write(a.length === b.length && timingSafeEqual(a, b) ? 'valid' : 'invalid');
});
"""


def verify_webhook_node(body: bytes, signature: str, secret: str) -> bool:
    """Run the Node verification logic with `node -e` on the raw body; True when it accepts it."""
    import subprocess

    done = subprocess.run(["node", "-e", NODE_VERIFY, secret, signature], input=body, capture_output=True,
                          timeout=30, check=True)
    return done.stdout == b"valid"
