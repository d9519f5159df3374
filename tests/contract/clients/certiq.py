"""A CertIQ API v1 client written from CertIQ's public documentation, the way its integrations use the API.

Bearer key on every request, `POST scans {"domain"}`, poll `GET scans/:token` every few seconds until
`complete` (raise on `failed`), then fetch the PDF from `report` the way the documented `curl -o`
does: one GET, no redirect followed, the body saved as it came. Errors are `{"error": "..."}`.
The transport is pluggable: `requests` against a running server, or Chalice's test client.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tests.contract.clients import wire
from tests.contract.clients.wire import Reply, Transport


class CertiqError(Exception):
    """A non-2xx answer: its status and CertIQ's `error` message."""

    def __init__(self, reply: Reply) -> None:
        try:
            message = str(reply.json().get("error"))
        except (ValueError, AttributeError):
            message = reply.body[:200].decode(errors="replace")
        super().__init__(f"{reply.status}: {message}")
        self.reply = reply
        self.status = reply.status
        self.message = message


class CertiqClient:
    """CertIQ's create-and-poll loop and report download."""

    def __init__(self, base_url: str, api_key: str, transport: Transport, *, poll_seconds: float = 5.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.transport = transport
        self.poll_seconds = poll_seconds

    def request(self, method: str, path: str, payload: Any = None, *, headers: dict[str, str] | None = None,
                raw: bytes | None = None) -> Reply:
        """One call relative to the base URL, with the Bearer key."""
        sent = {"Authorization": f"Bearer {self.api_key}", **(headers or {})}
        body = raw
        if payload is not None:
            sent["Content-Type"] = "application/json"
            body = json.dumps(payload).encode()
        return self.transport(method, f"{self.base_url}/{path.lstrip('/')}", sent, body)

    def _ok(self, reply: Reply) -> Any:
        if not 200 <= reply.status < 300:
            raise CertiqError(reply)
        return reply.json()

    def create_scan(self, domain: str) -> dict[str, Any]:
        """POST scans: the 202 body (scan_token, status, status_url, ...)."""
        return dict(self._ok(self.request("POST", "scans", {"domain": domain})))

    def get_scan(self, token: str) -> dict[str, Any]:
        """GET scans/:token."""
        return dict(self._ok(self.request("GET", f"scans/{token}")))

    def wait(self, token: str, timeout: float = 120.0) -> dict[str, Any]:
        """Poll until `complete`; raises RuntimeError on `failed` and TimeoutError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            current = self.get_scan(token)
            state = current["status"]
            if state == "complete":
                return current
            if state == "failed":
                raise RuntimeError(f"scan failed: {current}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"scan still {state} after {timeout} s")
            time.sleep(self.poll_seconds)

    def download_report(self, token: str) -> bytes:
        """GET scans/:token/report as `curl -o report.pdf` does (no -L): the body of that one answer."""
        reply = self.request("GET", f"scans/{token}/report", headers={"Accept": "*/*"})
        if reply.status >= 400:
            raise CertiqError(reply)
        return reply.body


def requests_transport(timeout: float = 10.0) -> Transport:
    """A transport on `requests` that never follows redirects (curl without -L)."""
    return wire.requests_transport(timeout=timeout)


chalice_transport = wire.chalice_transport


# -- the receiver's side: CertIQ's three verification snippets, each reimplemented -------------------

SIGNATURE_HEADER = "X-CertIQ-Signature"

# Node, as CertIQ's Express snippet does it: HMAC-SHA256 hex of the raw body bytes, "sha256=" prefix,
# Buffer length check then crypto.timingSafeEqual, then JSON.parse of the UTF-8 body. Exit 0 accepts.
NODE_VERIFIER = """
const crypto = require("node:crypto");
const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  const raw = Buffer.concat(chunks);
  const sig = process.env.SIG || "";
  const expected = "sha256=" + crypto.createHmac("sha256", process.env.SECRET).update(raw).digest("hex");
  const a = Buffer.from(sig), b = Buffer.from(expected);
  if (a.length !== b.length || !crypto.timingSafeEqual(a, b)) { process.exit(1); }
  const payload = JSON.parse(raw.toString("utf8"));
  process.stdout.write(JSON.stringify(payload));
});
"""


def verify_like_python(secret: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    """CertIQ's Flask snippet: compare_digest of the header with sha256=<hex>; raises ValueError when refused."""
    import hashlib
    import hmac

    signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        raise ValueError("401: signature mismatch")
    return dict(json.loads(raw))


def verify_like_ruby(secret: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    """CertIQ's Rack snippet: OpenSSL::HMAC.hexdigest("SHA256", secret, raw_body) and secure_compare.

    ActiveSupport's secure_compare compares the SHA-256 of both strings in constant time (any length);
    `.to_s` makes a missing header an empty string. Raises ValueError when refused.
    """
    import hashlib
    import hmac

    signature = str(next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), ""))
    expected = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(hashlib.sha256(signature.encode()).digest(), hashlib.sha256(expected.encode()).digest()):
        raise ValueError("401: signature mismatch")
    return dict(json.loads(raw))


def verify_like_node(secret: str, headers: dict[str, str], raw: bytes) -> dict[str, Any]:
    """CertIQ's Express snippet's logic run by `node -e`; raises ValueError when refused."""
    import os
    import subprocess

    signature = next((v for k, v in headers.items() if k.lower() == SIGNATURE_HEADER.lower()), "")
    done = subprocess.run(["node", "-e", NODE_VERIFIER], input=raw, capture_output=True, timeout=30, check=False,
                          env={"PATH": os.environ.get("PATH", ""), "SECRET": secret, "SIG": signature})
    if done.returncode != 0:
        raise ValueError(f"401: node refused ({done.returncode}): {done.stderr.decode()[:200]}")
    return dict(json.loads(done.stdout))


VERIFIERS = (verify_like_ruby, verify_like_node, verify_like_python)
