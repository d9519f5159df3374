"""Signal `web`: HTTP security headers, cookie flags, HTTPS redirect, and sensitive files.

Both http:// and https:// of the target are fetched with `fetch()`, so every hop goes only to
guard-allowed addresses; a redirect to a refused host is reported, not followed. The sensitive
paths (`sensitive_files`) are requested on one of them: HTTPS when it answered, else HTTP.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass
from typing import Any

from chalicelib.scanners.base import Catalog, CheckSkipped, FindingSpec, ScanContext, safe_check
from chalicelib.scanners.fetch import FetchError, FetchResult, Hop, fetch
from chalicelib.scanners.sensitive_files import sensitive_file_findings
from chalicelib.scans.models import Finding, Severity, SignalKey

HSTS_MIN_MAX_AGE = 15552000  # 180 days
SECURITY_HEADERS = ("Strict-Transport-Security", "Content-Security-Policy", "X-Frame-Options",
                    "X-Content-Type-Options", "Referrer-Policy", "Permissions-Policy", "Server", "X-Powered-By")

CATALOG = Catalog(SignalKey.WEB, {
    "no-https-redirect": FindingSpec(Severity.MEDIUM, "HTTP does not redirect to HTTPS",
                                     "Answer every http:// request with a 301 to the https:// URL.", "CWE-319"),
    "https-unavailable": FindingSpec(Severity.MEDIUM, "HTTPS could not be fetched with a verified certificate",
                                     "Serve HTTPS with a valid, trusted certificate for this name.", "CWE-295"),
    "hsts-missing": FindingSpec(Severity.MEDIUM, "No Strict-Transport-Security header",
                                "Send `Strict-Transport-Security: max-age=31536000; includeSubDomains`.", "CWE-319"),
    "hsts-short-max-age": FindingSpec(Severity.LOW, "HSTS max-age is under 180 days",
                                      "Raise max-age to at least 15552000 (one year is usual).", "CWE-319"),
    "csp-missing": FindingSpec(Severity.MEDIUM, "No Content-Security-Policy header",
                               "Define a Content-Security-Policy, starting with `default-src 'self'`.", "CWE-693"),
    "csp-unsafe-inline": FindingSpec(Severity.LOW, "Content-Security-Policy allows 'unsafe-inline' scripts",
                                     "Use nonces or hashes instead of 'unsafe-inline'.", "CWE-693"),
    "clickjacking-unprotected": FindingSpec(Severity.MEDIUM, "Pages can be framed by any site",
                                            "Send `X-Frame-Options: DENY` or CSP `frame-ancestors 'none'`.",
                                            "CWE-1021"),
    "xcto-missing": FindingSpec(Severity.LOW, "No `X-Content-Type-Options: nosniff`",
                                "Send `X-Content-Type-Options: nosniff`.", "CWE-693"),
    "referrer-policy-missing": FindingSpec(Severity.LOW, "No safe Referrer-Policy",
                                           "Send `Referrer-Policy: strict-origin-when-cross-origin` or stricter.",
                                           "CWE-200"),
    "cookie-not-secure": FindingSpec(Severity.MEDIUM, "Cookie set without the Secure flag",
                                     "Add `Secure` to every cookie.", "CWE-614"),
    "cookie-not-httponly": FindingSpec(Severity.LOW, "Cookie set without the HttpOnly flag",
                                       "Add `HttpOnly` to cookies scripts do not need.", "CWE-1004"),
    "cookie-no-samesite": FindingSpec(Severity.LOW, "Cookie set without a SameSite attribute",
                                      "Add `SameSite=Lax` (or Strict).", "CWE-1275"),
    "server-version-disclosed": FindingSpec(Severity.INFO, "Server software version disclosed",
                                            "Remove version numbers from Server and X-Powered-By.", "CWE-200"),
    "redirect-not-followed": FindingSpec(Severity.INFO, "A redirect was not followed"),
    "headers-observed": FindingSpec(Severity.INFO, "HTTP response observed"),
})


@dataclass(frozen=True)
class Cookie:
    """A Set-Cookie header's name and flags."""

    name: str
    secure: bool
    httponly: bool
    samesite: str | None
    raw: str


def parse_set_cookie(header: str) -> Cookie:
    """Parse one Set-Cookie header value (name and attribute flags)."""
    first, *attributes = [p.strip() for p in header.split(";")]
    flags: dict[str, str] = {}
    for attribute in attributes:
        key, _, value = attribute.partition("=")
        flags[key.strip().lower()] = value.strip()
    return Cookie(name=first.partition("=")[0].strip(), secure="secure" in flags, httponly="httponly" in flags,
                  samesite=flags.get("samesite") or None, raw=header[:300])


def hsts_max_age(value: str) -> int | None:
    """The max-age of an HSTS header, or None when absent or malformed."""
    match = re.search(r"max-age\s*=\s*\"?(\d+)\"?", value, re.IGNORECASE)
    return int(match.group(1)) if match else None


def csp_directives(value: str) -> dict[str, list[str]]:
    """{directive: sources} of a CSP header (first occurrence wins)."""
    directives: dict[str, list[str]] = {}
    for part in value.split(";"):
        tokens = part.split()
        if tokens:
            directives.setdefault(tokens[0].lower(), [t.lower() for t in tokens[1:]])
    return directives


def header_findings(hop: Hop, tls: bool) -> list[Finding]:
    """Findings for the security headers of a final response (HSTS only counts over HTTPS)."""
    url = hop.url
    evidence: dict[str, Any] = {"url": url, "status": hop.status}
    findings: list[Finding] = []
    if tls:
        hsts = hop.header("Strict-Transport-Security")
        age = hsts_max_age(hsts) if hsts else None
        if hsts is None or age is None:
            findings.append(CATALOG.make("hsts-missing", key=url, evidence={**evidence, "header": hsts}))
        elif age < HSTS_MIN_MAX_AGE:
            findings.append(CATALOG.make("hsts-short-max-age", key=url, evidence={**evidence, "header": hsts},
                                         detail=f"max-age={age}."))
    csp = hop.header("Content-Security-Policy")
    directives = csp_directives(csp) if csp else {}
    if csp is None:
        findings.append(CATALOG.make("csp-missing", key=url, evidence=evidence))
    else:
        scripts = directives.get("script-src", directives.get("default-src", []))
        if "'unsafe-inline'" in scripts:
            findings.append(CATALOG.make("csp-unsafe-inline", key=url, evidence={**evidence, "header": csp}))
    xfo = (hop.header("X-Frame-Options") or "").strip().upper()
    if xfo not in ("DENY", "SAMEORIGIN") and "frame-ancestors" not in directives:
        findings.append(CATALOG.make("clickjacking-unprotected", key=url, evidence={**evidence, "header": xfo or None}))
    if (hop.header("X-Content-Type-Options") or "").strip().lower() != "nosniff":
        findings.append(CATALOG.make("xcto-missing", key=url, evidence=evidence))
    referrer = (hop.header("Referrer-Policy") or "").strip().lower()
    if not referrer or referrer.split(",")[-1].strip() in ("unsafe-url", "no-referrer-when-downgrade"):
        findings.append(CATALOG.make("referrer-policy-missing", key=url,
                                     evidence={**evidence, "header": referrer or None}))
    disclosed = [f"{name}: {value}" for name in ("Server", "X-Powered-By")
                 if (value := hop.header(name)) and re.search(r"\d", value)]
    if disclosed:
        findings.append(CATALOG.make("server-version-disclosed", key=url, evidence={**evidence, "headers": disclosed}))
    return findings


def cookie_findings(hops: list[Hop]) -> list[Finding]:
    """Findings for every cookie set along the redirect chain, one per (flag, cookie name)."""
    findings: dict[str, Finding] = {}
    for hop in hops:
        for header in hop.header_all("Set-Cookie"):
            cookie = parse_set_cookie(header)
            evidence = {"url": hop.url, "cookie": cookie.name, "set_cookie": cookie.raw}
            checks = (("cookie-not-secure", cookie.secure), ("cookie-not-httponly", cookie.httponly),
                      ("cookie-no-samesite", cookie.samesite is not None))
            for code, ok in checks:
                if not ok:
                    finding = CATALOG.make(code, key=cookie.name, evidence=evidence, detail=f"Cookie {cookie.name}.")
                    findings.setdefault(finding.id, finding)
    return list(findings.values())


def reaches_https(result: FetchResult) -> bool:
    """True when the chain redirects to an https:// URL (followed or not)."""
    for hop in result.hops:
        location = hop.header("Location")
        if (hop.status in (301, 302, 303, 307, 308) and location
                and urllib.parse.urljoin(hop.url, location).lower().startswith("https://")):
            return True
    return False


def _url(scheme: str, host: str, port: int) -> str:
    default = 80 if scheme == "http" else 443
    netloc = f"[{host}]" if ":" in host else host
    return f"{scheme}://{netloc}/" if port == default else f"{scheme}://{netloc}:{port}/"


def _check(target: str, ctx: ScanContext) -> list[Finding]:
    host = target.rstrip(".").lower().strip("[]")
    findings: list[Finding] = []
    errors: list[str] = []
    results: dict[str, FetchResult] = {}
    https_error: FetchError | None = None
    for scheme, port in (("http", ctx.http_port), ("https", ctx.https_port)):
        try:
            results[scheme] = fetch(_url(scheme, host, port), ctx)
        except FetchError as exc:  # CheckSkipped / CheckFailed (guard, DNS) end the check
            errors.append(str(exc))
            if scheme == "https" and exc.tls:
                https_error = exc
    if not results and https_error is None:
        raise CheckSkipped("no web server answered: " + "; ".join(errors))
    if https_error is not None:
        findings.append(CATALOG.make("https-unavailable", key=host, detail=str(https_error),
                                     evidence={"url": _url("https", host, ctx.https_port), "error": str(https_error)}))
    plain = results.get("http")
    if plain is not None and not reaches_https(plain):
        findings.append(CATALOG.make("no-https-redirect", key=host, evidence={
            "url": plain.hops[0].url, "status": plain.hops[0].status, "location": plain.hops[0].header("Location")}))
    chosen = results.get("https") or plain
    if chosen is None:
        return findings
    for result in results.values():
        if result.stopped:
            findings.append(CATALOG.make("redirect-not-followed", key=result.hops[0].url, detail=result.stopped,
                                         evidence={"from": result.final.url, "reason": result.stopped}))
    findings += header_findings(chosen.final, tls=chosen is results.get("https"))
    findings += cookie_findings([h for r in results.values() for h in r.hops])
    findings += sensitive_file_findings(chosen.hops[0].url, ctx)
    observed = {name: chosen.final.header(name) for name in SECURITY_HEADERS if chosen.final.header(name)}
    findings.append(CATALOG.make("headers-observed", key=chosen.final.url, evidence={
        "url": chosen.final.url, "status": chosen.final.status, "headers": observed,
        "chain": [f"{h.status} {h.url}" for r in results.values() for h in r.hops]}))
    return findings


run = safe_check(SignalKey.WEB)(_check)
