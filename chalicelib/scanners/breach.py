"""Signal `breach`: accounts of the domain in known credential breaches, from an HIBP-compatible API.

`GET {base}/api/v3/breacheddomain/{domain}` (header `hibp-api-key`) lists breached aliases; each breach
named is then described by `GET {base}/api/v3/breach/{name}` to tell password breaches apart.
The API is operator-configured (PERIMETER_BREACH_API_URL), not user-supplied, so it is not guarded.
"""

from __future__ import annotations

import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from chalicelib.net.guard import parse_ip
from chalicelib.net.http import ca_bundle
from chalicelib.scanners.base import Catalog, CheckFailed, CheckSkipped, FindingSpec, ScanContext, safe_check
from chalicelib.scans.models import Finding, Severity, SignalKey

USER_AGENT = "Perimeter-Scanner/0.1"
MAX_BREACH_DETAILS = 20
CREDENTIAL_CLASSES = frozenset({"passwords", "password hints", "auth tokens", "historical passwords"})

CATALOG = Catalog(SignalKey.BREACH, {
    "credentials-exposed": FindingSpec(
        Severity.HIGH, "Accounts of the domain appear in a breach that exposed passwords",
        "Force a password reset for the listed accounts, check for reuse, and enforce MFA.", "CWE-522"),
    "accounts-exposed": FindingSpec(
        Severity.MEDIUM, "Accounts of the domain appear in a data breach",
        "Warn the listed users about targeted phishing; review what the breach exposed."),
})


class BreachClient:
    """A small HIBP v3 client for the breached-domain and breach-detail endpoints."""

    def __init__(self, base_url: str, api_key: str | None, timeout: float = 10.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout = timeout

    def _get(self, path: str) -> requests.Response:
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json"}
        if self.api_key:
            headers["hibp-api-key"] = self.api_key
        with requests.Session() as session:
            session.trust_env = False
            try:
                return session.get(f"{self.base_url}{path}", headers=headers, timeout=self.timeout,
                                   verify=ca_bundle(), allow_redirects=False)
            except requests.RequestException as exc:
                raise CheckFailed(f"breach API unreachable: {type(exc).__name__}") from None

    def breached_domain(self, domain: str) -> dict[str, list[str]]:
        """{alias: [breach names]} for the domain ({} when none); raises CheckFailed."""
        response = self._get(f"/api/v3/breacheddomain/{urllib.parse.quote(domain)}")
        if response.status_code == 404:
            return {}
        if response.status_code in (401, 403):
            raise CheckFailed(f"breach API refused the request (HTTP {response.status_code}): check the API key "
                              "and that the domain is verified for it.")
        if response.status_code == 429:
            raise CheckFailed(f"breach API rate limit (retry after {response.headers.get('retry-after', '?')} s).")
        if response.status_code != 200:
            raise CheckFailed(f"breach API answered HTTP {response.status_code}.")
        try:
            data = response.json()
        except ValueError:
            raise CheckFailed("breach API returned non-JSON.") from None
        if not isinstance(data, dict):
            raise CheckFailed("breach API returned an unexpected shape.")
        return {str(alias): sorted({str(b) for b in breaches}) for alias, breaches in data.items()
                if isinstance(breaches, list)}

    def breach(self, name: str) -> dict[str, Any] | None:
        """The breach record, or None when unknown, unreachable or unreadable (details are optional)."""
        try:
            response = self._get(f"/api/v3/breach/{urllib.parse.quote(name)}")
        except CheckFailed:
            return None
        if response.status_code != 200:
            return None
        try:
            data = response.json()
        except ValueError:
            return None
        return data if isinstance(data, dict) else None


def findings_for(domain: str, aliases: dict[str, list[str]],
                 details: dict[str, dict[str, Any] | None]) -> list[Finding]:
    """One finding per breach, listing the domain's aliases in it; password breaches rank higher."""
    by_breach: dict[str, list[str]] = {}
    for alias, names in aliases.items():
        for name in names:
            by_breach.setdefault(name, []).append(f"{alias}@{domain}")
    findings = []
    for name in sorted(by_breach):
        detail = details.get(name) or {}
        classes = [str(c) for c in detail.get("DataClasses", [])]
        credentials = any(c.lower() in CREDENTIAL_CLASSES for c in classes)
        accounts = sorted(by_breach[name])
        evidence = {"breach": name, "accounts": accounts, "account_count": len(accounts),
                    "breach_date": detail.get("BreachDate"), "data_classes": classes,
                    "title": detail.get("Title", name)}
        code = "credentials-exposed" if credentials else "accounts-exposed"
        findings.append(CATALOG.make(code, key=name, evidence=evidence,
                                     detail=f"{len(accounts)} account(s) in the {name} breach."))
    return findings


def _check(target: str, ctx: ScanContext) -> list[Finding]:
    if not ctx.breach_api_url:
        raise CheckSkipped("no breach API configured (PERIMETER_BREACH_API_URL).")
    if parse_ip(target) is not None:
        raise CheckSkipped("breach exposure needs a domain, not an IP address.")
    domain = target.rstrip(".").lower()
    client = BreachClient(ctx.breach_api_url, ctx.breach_api_key, ctx.breach_timeout)
    aliases = client.breached_domain(domain)
    names = sorted({n for breaches in aliases.values() for n in breaches})
    with ThreadPoolExecutor(max_workers=8) as pool:
        described = list(pool.map(client.breach, names[:MAX_BREACH_DETAILS]))
    details = dict(zip(names[:MAX_BREACH_DETAILS], described, strict=True))
    return findings_for(domain, aliases, details)


run = safe_check(SignalKey.BREACH)(_check)
