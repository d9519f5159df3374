"""The container signal's finding codes and how matches, secrets and the config become findings.

Codes are few; severity carries the rest (a vulnerability's CVSS, raised to at least high when the
CVE is in CISA KEV). The `severity` option drops findings below it; `ignore_unfixed` drops
vulnerabilities no released version fixes.
"""

from __future__ import annotations

from collections.abc import Sequence

from chalicelib.scanners.base import Catalog, FindingSpec, ScanContext
from chalicelib.scanners.container import secrets
from chalicelib.scanners.container.image import Image
from chalicelib.scanners.container.inventory import Inventory
from chalicelib.scanners.container.layers import FileView
from chalicelib.scanners.container.options import SEVERITY_RANK, ContainerOptions
from chalicelib.scanners.container.vulns import Match
from chalicelib.scanners.intel.findings import intel_for
from chalicelib.scans.models import Finding, Severity, SignalKey

CATALOG = Catalog(SignalKey.CONTAINER, {
    "vulnerable-package": FindingSpec(
        Severity.MEDIUM, "A package in the image has a known vulnerability",
        "Rebuild the image on an updated base and upgrade the package to the fixed version.", "CWE-1395"),
    "secret-in-image": FindingSpec(
        Severity.HIGH, "A secret is stored in the image's files",
        "Remove the secret from the image (and from every layer: rebuild), revoke and rotate it, and pass "
        "secrets at run time (a secret store or mounted file).", "CWE-798"),
    "secret-in-env": FindingSpec(
        Severity.HIGH, "A secret is set in the image's environment",
        "Do not bake secrets into ENV: anyone who can pull the image reads them. Rotate it and inject it at "
        "run time.", "CWE-526"),
    "image-runs-as-root": FindingSpec(
        Severity.MEDIUM, "The image runs as root",
        "Set a non-root USER in the image so a compromised process does not hold root in the container.",
        "CWE-250"),
    "image-add-from-url": FindingSpec(
        Severity.LOW, "The image was built with ADD from a URL",
        "Download with a pinned checksum (or COPY a verified file) instead of ADD <url>.", "CWE-494"),
    "image-sshd-installed": FindingSpec(
        Severity.MEDIUM, "An SSH server is installed in the image",
        "Remove the SSH server; use the orchestrator's exec for access.", "CWE-1125"),
})
CODES = tuple(CATALOG.specs)
_KEV_FLOOR = Severity.HIGH
_SECRET_SEVERITY = {"private-key": Severity.HIGH, "aws-access-key-id": Severity.HIGH,
                    "github-token": Severity.HIGH, "slack-token": Severity.HIGH,
                    "env-file-password": Severity.MEDIUM}
_SECRET_CWE = {"private-key": "CWE-321"}


def _rank(severity: Severity | str) -> int:
    return SEVERITY_RANK[str(severity)]


def vulnerability_finding(match: Match, ctx: ScanContext) -> Finding:
    """One finding for a (package, vulnerability) pair, KEV-flagged from the intel data."""
    component = match.component
    kev_entry = intel_for(ctx).kev.get(match.cve or "")
    severity = Severity(match.severity)
    if kev_entry is not None and _rank(severity) < _rank(_KEV_FLOOR):
        severity = _KEV_FLOOR
    label = match.cve or match.osv_id
    fix = f" Fixed in {match.fixed}." if match.fixed else " No fixed version is available yet."
    detail = f"{component.name} {component.version} is affected by {label}" + (
        f" ({match.summary})" if match.summary else "") + "." + fix
    evidence = {"osv_id": match.osv_id, "aliases": list(match.aliases), "package": component.name,
                "installed_version": component.version, "fixed_version": match.fixed, "purl": component.purl,
                "ecosystem": component.ecosystem, "layer": component.layer, "path": component.path,
                "cvss_score": match.cvss_score, "cvss_vector": match.cvss_vector}
    return CATALOG.make("vulnerable-package", key=f"{component.purl}|{match.osv_id}", detail=detail,
                        evidence=evidence, severity=severity, product=component.name, version=component.version,
                        cve=match.cve, kev=kev_entry is not None,
                        ransomware=(kev_entry or {}).get("knownRansomwareCampaignUse") == "Known" or None)


def secret_findings(view: FileView) -> list[Finding]:
    """One finding per redacted secret found in a live file."""
    out = []
    for path, entry, hits in view.results("secret"):
        for hit in hits:
            assert isinstance(hit, secrets.SecretHit)
            out.append(CATALOG.make(
                "secret-in-image", key=f"{path}|{hit.kind}|{hit.fingerprint}",
                detail=f"/{path} line {hit.line} holds a {hit.kind.replace('-', ' ')}.",
                severity=_SECRET_SEVERITY.get(hit.kind, Severity.HIGH),
                evidence={"path": f"/{path}", "kind": hit.kind, "line": hit.line, "fingerprint": hit.fingerprint,
                          "layer": view.layer_digest(entry), "redacted": True}))
            if hit.kind in _SECRET_CWE:
                out[-1] = out[-1].model_copy(update={"cwe": _SECRET_CWE[hit.kind]})
    return out


def config_findings(image: Image, view: FileView, inventory: Inventory) -> list[Finding]:
    """Misconfiguration of the image config: root user, secrets in ENV, ADD from URL, an SSH server."""
    out = []
    for name, print_ in secrets.env_secrets(image.config):
        out.append(CATALOG.make("secret-in-env", key=name, detail=f"ENV {name} holds a secret value.",
                                evidence={"variable": name, "fingerprint": print_, "redacted": True}))
    if secrets.runs_as_root(image.config):
        user = str((image.config.get("config") or {}).get("User") or "")
        out.append(CATALOG.make("image-runs-as-root", detail="The image config sets " + (
            f"USER {user}." if user else "no USER, so its processes run as root."), evidence={"user": user}))
    urls = secrets.added_urls(image.config)
    if urls:
        out.append(CATALOG.make("image-add-from-url", detail=f"{len(urls)} build step(s) used ADD <url>.",
                                evidence={"sources": urls[:10]}))
    sshd = [p for p in secrets.SSHD_PATHS if p in view.files]
    packages = sorted({c.name for c in inventory.components if c.name in ("openssh-server", "dropbear")})
    if sshd or packages:
        out.append(CATALOG.make("image-sshd-installed", detail="An SSH server is in the image.",
                                evidence={"paths": [f"/{p}" for p in sshd], "packages": packages}))
    return out


def image_findings(image: Image, view: FileView, inventory: Inventory, matches: Sequence[Match],
                   options: ContainerOptions, ctx: ScanContext) -> list[Finding]:
    """Every finding the options ask for, at or above the minimum severity."""
    findings: list[Finding] = []
    if "vuln" in options.scanners:
        findings += [vulnerability_finding(m, ctx) for m in matches
                     if not (options.ignore_unfixed and m.fixed is None)]
    if "secret" in options.scanners:
        findings += secret_findings(view)
    if "misconfig" in options.scanners:
        findings += config_findings(image, view, inventory)
    floor = SEVERITY_RANK[options.severity]
    return [f for f in findings if _rank(f.severity) >= floor]
