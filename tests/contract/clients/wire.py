"""What every dialect test client shares: one HTTP answer (`Reply`) and the two transports that carry a
request, to a running server with `requests` or in-process through Chalice's test client."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests


@dataclass
class Reply:
    """One HTTP answer."""

    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON; raises ValueError."""
        return json.loads(self.body)

    def header(self, name: str) -> str | None:
        """A header, case-insensitively."""
        return next((v for k, v in self.headers.items() if k.lower() == name.lower()), None)


# (method, URL, or a path for the Chalice transport, headers, body) -> Reply
Transport = Callable[[str, str, Mapping[str, str], bytes | None], Reply]


def requests_transport(*, follow_redirects: bool = False, timeout: float = 15.0) -> Transport:
    """Requests to a running server; redirects are followed only when asked (curl without -L by default)."""
    session = requests.Session()

    def send(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Reply:
        answer = session.request(method, url, headers=dict(headers), data=body or None, timeout=timeout,
                                 allow_redirects=follow_redirects)
        return Reply(answer.status_code, dict(answer.headers), answer.content)
    return send


def chalice_transport(client: Any) -> Transport:
    """Chalice's test client (`chalice.test.Client`): a URL's path and query go to the app in-process."""
    def send(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> Reply:
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        answer = client.http.request(method, target, headers=dict(headers), body=body or b"")
        return Reply(answer.status_code, {k: str(v) for k, v in answer.headers.items()}, answer.body or b"")
    return send
