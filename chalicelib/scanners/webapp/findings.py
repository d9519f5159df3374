"""The `webapp` signal's finding codes, and evidence that never carries a secret.

Evidence holds the request (method, URL, parameter, payload) and a bounded response excerpt; cookie
values, authorisation headers and secret-looking parameters (password, token, key, session...) are
replaced by `[redacted]` before anything is stored.
"""

from __future__ import annotations

import re
import urllib.parse
from typing import Any

from chalicelib.scanners.base import Catalog, FindingSpec
from chalicelib.scans.models import Finding, Severity, SignalKey

REDACTED = "[redacted]"
EXCERPT_CHARS = 300
SECRET_NAME = re.compile(r"pass|pwd|secret|token|key|session|sess|auth|csrf|xsrf|cookie|credential|otp|pin$",
                         re.IGNORECASE)
SECRET_TEXT = [
    (re.compile(r"(?i)((?:set-)?cookie:\s*[^=\s;]+=)[^;\r\n]*"), r"\1" + REDACTED),
    (re.compile(r"(?i)(authorization:\s*\w+\s+)\S+"), r"\1" + REDACTED),
    (re.compile(r"(?i)((?:password|passwd|pwd|secret|token|api[_-]?key|session[_-]?id)[\"']?\s*[:=]\s*[\"']?)"
                r"[^\"'&\s<;,]+"), r"\1" + REDACTED),
]

CATALOG = Catalog(SignalKey.WEBAPP, {
    "sql-injection": FindingSpec(Severity.CRITICAL, "SQL injection",
                                 "Use parameterised queries; never build SQL from request values.", "CWE-89"),
    "xss-reflected": FindingSpec(Severity.HIGH, "Reflected cross-site scripting",
                                 "Encode output for its HTML context; add a strict Content-Security-Policy.", "CWE-79"),
    "xss-stored": FindingSpec(Severity.HIGH, "Stored cross-site scripting",
                              "Encode stored values when rendering them; validate input.", "CWE-79"),
    "path-traversal": FindingSpec(Severity.HIGH, "Path traversal / file disclosure",
                                  "Map request values to an allow-list of files; never join them into paths.",
                                  "CWE-22"),
    "open-redirect": FindingSpec(Severity.MEDIUM, "Open redirect",
                                 "Redirect only to relative paths or an allow-list of hosts.", "CWE-601"),
    "template-injection": FindingSpec(Severity.CRITICAL, "Server-side template injection",
                                      "Never render request values as templates; pass them as data.", "CWE-1336"),
    "command-injection": FindingSpec(Severity.CRITICAL, "OS command injection",
                                     "Call programs without a shell and with fixed arguments.", "CWE-78"),
    "ssrf-indicator": FindingSpec(Severity.MEDIUM, "The server fetches URLs given in a parameter",
                                  "Fetch only allow-listed destinations; block internal addresses.", "CWE-918"),
    "outdated-js-library": FindingSpec(Severity.MEDIUM, "JavaScript library with known vulnerabilities",
                                       "Upgrade the library to a fixed release.", "CWE-1395"),
    "information-leak": FindingSpec(Severity.LOW, "Internal information disclosed in a response",
                                    "Show generic error pages; log details server-side only.", "CWE-209"),
    "cookie-insecure": FindingSpec(Severity.MEDIUM, "Session cookie without Secure or HttpOnly",
                                   "Set Secure and HttpOnly on session cookies.", "CWE-614"),
    "mixed-content": FindingSpec(Severity.LOW, "HTTPS page loads resources over HTTP",
                                 "Load every sub-resource over HTTPS.", "CWE-319"),
    "robots-disallowed": FindingSpec(Severity.INFO, "Paths listed as disallowed in robots.txt"),
    "offsite-redirect": FindingSpec(Severity.INFO, "A redirect to another host was recorded, not followed"),
    "forms-skipped": FindingSpec(Severity.INFO, "Forms that look destructive were not submitted"),
    "webapp-coverage": FindingSpec(Severity.INFO, "What the web application scan covered"),
})


def redact_text(text: str) -> str:
    """`text` with cookie values, authorisation credentials and secret-looking assignments replaced."""
    for pattern, replacement in SECRET_TEXT:
        text = pattern.sub(replacement, text)
    return text


def redact_url(url: str) -> str:
    """`url` with the values of secret-looking query parameters replaced."""
    parts = urllib.parse.urlsplit(url)
    if not parts.query:
        return url
    query = [(k, REDACTED if SECRET_NAME.search(k) else v)
             for k, v in urllib.parse.parse_qsl(parts.query, keep_blank_values=True)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query, safe="[]")))


def excerpt(text: str, needle: str | None = None, width: int = EXCERPT_CHARS) -> str:
    """At most `width` characters of `text` around `needle` (or its start), redacted."""
    start = 0
    if needle:
        at = text.find(needle)
        if at >= 0:
            start = max(at - width // 3, 0)
    return redact_text(text[start:start + width])


def request_evidence(method: str, url: str, parameter: str | None = None, payload: str | None = None,
                     body: str | None = None) -> dict[str, Any]:
    """The request part of a finding's evidence, redacted."""
    evidence: dict[str, Any] = {"method": method, "url": redact_url(url)[:500]}
    if parameter is not None:
        evidence["parameter"] = parameter
        evidence["payload"] = REDACTED if SECRET_NAME.search(parameter) else payload
    if body is not None:
        evidence["body"] = redact_url("?" + body)[1:][:500]
    return evidence


def make(code: str, *, url: str, parameter: str | None = None, detail: str = "",
         evidence: dict[str, Any] | None = None, severity: Severity | None = None, **intel: Any) -> Finding:
    """A webapp finding keyed by (code, URL without query, parameter): the dedupe key of every engine."""
    bare = urllib.parse.urlsplit(url)._replace(query="", fragment="").geturl()
    return CATALOG.make(code, key=f"{bare}|{parameter or ''}", detail=detail, evidence=evidence,
                        severity=severity, **intel)
