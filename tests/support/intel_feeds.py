"""Fake intel feeds (KEV JSON, endoflife.date API v0, release-data) served from a loopback HTTP server.

Built from the packaged bundle, so a refresh from them reproduces it; `extra_kev` adds entries.
"""

from __future__ import annotations

import json
import random
from importlib import resources
from typing import Any

from tests.support.httpserver import LocalHTTPServer, Response

DATA = resources.files("chalicelib.scanners.intel").joinpath("data")


def _packaged(name: str) -> Any:
    return json.loads(DATA.joinpath(name).read_bytes())


def _json(doc: Any) -> Response:
    return Response(200, [("Content-Type", "application/json")], json.dumps(doc).encode())


class IntelFeeds:
    """A loopback server with /kev.json, /eol/<product>.json (API v0 cycles) and /rel/<product>.json."""

    def __init__(self, extra_kev: list[dict[str, Any]] | None = None, kev_body: bytes | None = None) -> None:
        kev = _packaged("kev.json")
        kev = {**kev, "dateReleased": "2026-12-06T12:00:00.000Z",
               "vulnerabilities": kev["vulnerabilities"] + list(extra_kev or [])}
        self.kev = Response(200, [("Content-Type", "application/json")], kev_body or json.dumps(kev).encode())
        self.eol = _packaged("endoflife.json")["products"]
        self.releases = _packaged("release-dates.json")["products"]
        host = f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"
        self.server = LocalHTTPServer(host, routes={"/kev.json": self.kev}, default=self._product)

    def _product(self, path: str, headers: dict[str, str]) -> Response:
        kind, _, name = path.strip("/").partition("/")
        name = name.removesuffix(".json")
        if kind == "eol" and name in self.eol:  # endoflife.date API v0: a list of cycles with `cycle`
            cycles = [{"cycle": c["releaseCycle"], "releaseDate": c["releaseDate"], "eol": c["eol"],
                       "latest": c["latest"], "latestReleaseDate": c["latestReleaseDate"], "lts": c.get("lts")}
                      for c in self.eol[name]["releases"]]
            return _json(cycles)
        if kind == "rel" and name in self.releases:  # release-data: versions with their dates
            return _json({"versions": {v: {"name": v, "date": d} for v, d in self.releases[name].items()}})
        return Response(404, [], b"not found")

    def start(self) -> IntelFeeds:
        """Serve."""
        self.server.start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        self.server.stop()

    def env(self) -> dict[str, str]:
        """The PERIMETER_INTEL_* feed settings pointing here (and the loopback exemption they need)."""
        base = f"http://{self.server.host}:{self.server.port}"
        return {"PERIMETER_INTEL_KEV_URL": f"{base}/kev.json", "PERIMETER_INTEL_EOL_URL": base + "/eol/{product}.json",
                "PERIMETER_INTEL_RELEASES_URL": base + "/rel/{product}.json",
                "PERIMETER_ALLOW_PRIVATE_TARGETS": "127.0.0.0/8"}
