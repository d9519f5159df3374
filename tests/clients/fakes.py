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
