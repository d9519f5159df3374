"""A local HIBP-compatible breach API: /api/v3/breacheddomain/{domain} and /api/v3/breach/{name}.

Requests without the right `hibp-api-key` get 401, like the real service; unknown domains get 404.
"""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

from tests.support.httpserver import LocalHTTPServer, Response

JSON = [("Content-Type", "application/json")]


class BreachAPI:
    """The data behind the fake API and a server to serve it."""

    def __init__(self, api_key: str, domains: dict[str, dict[str, list[str]]], breaches: dict[str, dict[str, Any]],
                 host: str = "127.0.0.1") -> None:
        self.api_key = api_key
        self.domains = domains
        self.breaches = breaches
        self.server = LocalHTTPServer(host, default=self._route)

    def _route(self, path: str, headers: dict[str, str]) -> Response:
        parts = [urllib.parse.unquote(p) for p in path.split("?")[0].strip("/").split("/")]
        if parts[:2] != ["api", "v3"] or len(parts) != 4:
            return Response(404, JSON, b"{}")
        if parts[2] == "breach":
            breach = self.breaches.get(parts[3])
            return Response(200, JSON, json.dumps(breach).encode()) if breach else Response(404, JSON, b"{}")
        if parts[2] != "breacheddomain":
            return Response(404, JSON, b"{}")
        if headers.get("hibp-api-key") != self.api_key:
            return Response(401, JSON, b'{"statusCode": 401, "message": "Access denied due to invalid hibp-api-key."}')
        found = self.domains.get(parts[3])
        return Response(200, JSON, json.dumps(found).encode()) if found else Response(404, JSON, b"")

    @property
    def url(self) -> str:
        """The base URL (PERIMETER_BREACH_API_URL)."""
        return f"http://{self.server.host}:{self.server.port}"

    def start(self) -> BreachAPI:
        """Start serving."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()
