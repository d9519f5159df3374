"""A fake HTTP layer for the SDK's unit tests, and API-shaped JSON."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import requests
from requests.structures import CaseInsensitiveDict

NOW = "2026-12-07T10:00:00Z"

def response(status: int, body: Any = None, headers: dict[str, str] | None = None, *,
             raw: bytes | None = None) -> requests.Response:
    """A real requests.Response with a JSON (or raw) body."""
    made = requests.Response()
    made.status_code = status
    content_type = "application/problem+json" if status >= 400 else "application/json"
    made.headers = CaseInsensitiveDict({"Content-Type": content_type, **(headers or {})})
    made._content = raw if raw is not None else (b"" if body is None else json.dumps(body).encode())
    return made


class FakeSession:
    """Answers queued responses (or raises queued exceptions) and records every request."""

    def __init__(self, answers: Iterable[requests.Response | Exception] = ()) -> None:
        self.answers = list(answers)
        self.calls: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.calls.append({"method": method, "url": url, **kwargs})
        if not self.answers:
            raise AssertionError(f"unexpected request {method} {url}")
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def finding_json(code: str, severity: str, signal: str = "web", **extra: Any) -> dict[str, Any]:
    """A finding as the API sends it."""
    return {"id": f"f-{code}", "signal": signal, "code": code, "severity": severity, "title": f"{code} title",
            "detail": "", "remediation": "", "cwe": None, "evidence": {}, **extra}


def scan_json(token: str = "scn_1", status: str = "complete", progress: int = 100, grade: str | None = "B",
              score: int | None = 80, findings: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    """A scan view as the API sends it."""
    found = findings or []
    return {
        "scan_token": token, "target": "example.com", "domain": "example.com", "scan_type": "posture",
        "name": None, "priority": "normal", "tags": [], "options": {"ports": None, "dkim_selectors": None,
                                                                      "service_detection": False},
        "template_id": None, "status": status, "progress": progress,
        "signals": {"web": {"status": "complete", "score": 10, "max_score": 20, "findings": found, "error": None,
                            "intel_version": None}} if found else {},
        "score": score, "grade": grade, "grade_label": "Good" if grade else None,
        "ready": None if score is None else score >= 65, "ready_threshold": 65, "scoring_version": "2026-12",
        "caps": [], "intel_version": None, "coverage": None, "findings_count": len(found), "timeout_seconds": 900,
        "created_at": NOW, "updated_at": NOW, "started_at": NOW, "completed_at": NOW if status == "complete" else None,
        "report_url": None, "error": None, **extra,
    }


def active_scan_json(token: str = "scn_c", scan_type: str = "container", counts: dict[str, int] | None = None,
                     fail_on: str = "high", passed: bool | None = None, sbom: bool = True,
                     findings: list[dict[str, Any]] | None = None, signal_status: str = "complete",
                     signal_error: str | None = None, **extra: Any) -> dict[str, Any]:
    """A complete webapp or container scan view: no score, severity counts, the server's gate, the SBOM link."""
    every = {"critical": 0, "high": 0, "medium": 0, "low": 0, "info": 0, **(counts or {})}
    rank = ["critical", "high", "medium", "low", "info"]
    failing = sum(n for s, n in every.items() if rank.index(s) <= rank.index(fail_on))
    target = "127.0.0.1:5000/team/app:1.0" if scan_type == "container" else "https://www.good.test/"
    signals = {scan_type: {"status": signal_status, "score": None, "max_score": 0, "findings": findings or [],
                           "error": signal_error, "intel_version": None}}
    return scan_json(token, grade=None, score=None, findings=findings, target=target, scan_type=scan_type,
                     signals=signals,
                     domain=None, severity_counts=every,
                     gate={"passed": failing == 0 if passed is None else passed, "fail_on": fail_on, "counts": every},
                     sbom_url=f"http://api.test/v1/scans/{token}/sbom" if sbom else None, **extra)


def target_json(target_id: str = "tgt_1", domain: str = "www.good.test", status: str = "pending",
                method: str | None = None) -> dict[str, Any]:
    """A target view as the API sends it."""
    token = "t0k3n"
    return {"target_id": target_id, "domain": domain, "status": status, "method": method,
            "covers_subdomains": method == "dns",
            "challenge": {"token": token, "dns": {"name": f"_perimeter-challenge.{domain}", "type": "TXT",
                                                  "value": f"perimeter-challenge={token}"},
                          "http": {"url": f"https://{domain}/.well-known/perimeter-challenge", "body": token}},
            "created_at": NOW, "verified_at": NOW if status == "verified" else None,
            "expires_at": "2027-03-07T10:00:00Z" if status == "verified" else None, "last_checked_at": None}
