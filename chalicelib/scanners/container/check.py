"""The `container` signal: pull an image (or read an OCI archive), inventory it, match OSV, look for secrets
and misconfiguration; the CycloneDX SBOM goes in `SignalResult.attachments["sbom"]`.

`run(target, ctx)` is the registered check and never raises. What it needs beyond the usual context
it reads from the ScanContext: the scan's `options.container` and the fields the scanner task sets (each
optional): `registry_credentials` (opened from the sealed password by the scanner task),
`osv` (OsvData), `ecr_credentials` (region -> RegistryCredentials) and `container_archive_root` (the
only directory `oci-archive:` paths may name). `scan_image` takes them explicitly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from chalicelib.core.clock import utcnow
from chalicelib.scanners.base import CheckFailed, CheckSkipped, ScanContext, scope_ids
from chalicelib.scanners.container.archive import read_oci_archive_file
from chalicelib.scanners.container.findings import image_findings
from chalicelib.scanners.container.image import Image, ImageError, Limits
from chalicelib.scanners.container.inventory import INVENTORY_READERS, build_inventory
from chalicelib.scanners.container.layers import Reader, walk_layers
from chalicelib.scanners.container.options import ContainerOptions, RegistryCredentials, SeverityName
from chalicelib.scanners.container.reference import ArchiveReference, BadReference, parse_reference
from chalicelib.scanners.container.registry import RegistryClient
from chalicelib.scanners.container.sbom import build_sbom
from chalicelib.scanners.container.secrets import SecretReader
from chalicelib.scanners.container.vulns import Match, match_components
from chalicelib.scanners.intel.osv import OsvData
from chalicelib.scans.models import ScanOptions, SignalKey, SignalResult, SignalStatus
from chalicelib.scans.scoring import MAX_SCORES

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ContainerSetup:
    """What a container scan needs besides the ScanContext."""

    options: ContainerOptions = field(default_factory=ContainerOptions)
    credentials: RegistryCredentials | None = field(default=None, repr=False)
    osv: OsvData = field(default_factory=OsvData)
    ecr_credentials: Callable[[str], RegistryCredentials] | None = field(default=None, repr=False)
    archive_root: Path | None = None
    limits: Limits = field(default_factory=Limits)

    @classmethod
    def from_context(cls, ctx: ScanContext) -> ContainerSetup:
        """The setup carried by the context's optional container fields (defaults where unset)."""
        osv = ctx.osv
        root = ctx.container_archive_root
        return cls(options=check_options(ctx.scan_options),
                   credentials=ctx.registry_credentials if isinstance(ctx.registry_credentials,
                                                                      RegistryCredentials) else None,
                   osv=osv if isinstance(osv, OsvData) else OsvData(),
                   ecr_credentials=ctx.ecr_credentials,
                   archive_root=Path(root) if root else None)


_LEAST_FIRST = ("low", "medium", "high", "critical")


def check_options(scan_options: ScanOptions | None) -> ContainerOptions:
    """The check's options from the scan's `options.container`: the least severe of the listed severities is the
    lowest reported (`[critical, high]` reports high and above); defaults when absent."""
    given = scan_options.container if scan_options is not None else None
    if given is None:
        return ContainerOptions()
    listed = [s.value for s in given.severity or () if s.value in _LEAST_FIRST]
    lowest = min(listed, key=_LEAST_FIRST.index) if listed else "low"
    return ContainerOptions(severity=cast(SeverityName, lowest), ignore_unfixed=given.ignore_unfixed,
                            scanners=given.scanners, platform=given.platform or "linux/amd64")


def _archive_path(ref: ArchiveReference, root: Path | None) -> Path:
    """The archive's path inside `root`; raises CheckSkipped when archives are not allowed or it escapes."""
    if root is None:
        raise CheckSkipped("oci-archive targets are read only from the scanner's archive directory, and none is set")
    base = root.resolve()
    candidate = (base / ref.path.lstrip("/")).resolve()
    if not candidate.is_relative_to(base):
        raise CheckSkipped(f"oci-archive path {ref.path!r} is outside the archive directory")
    return candidate


def load_image(target: str, ctx: ScanContext, setup: ContainerSetup) -> Image:
    """The image `target` names, verified; raises CheckSkipped (refused target), CheckFailed (unreadable)."""
    try:
        ref = parse_reference(target)
    except BadReference as exc:
        raise CheckSkipped(f"not an image reference: {exc}") from None
    try:
        if isinstance(ref, ArchiveReference):
            return read_oci_archive_file(_archive_path(ref, setup.archive_root), platform=setup.options.platform,
                                         limits=setup.limits)
        client = RegistryClient(ref, ctx, credentials=setup.credentials, ecr=setup.ecr_credentials,
                                limits=setup.limits, timeout=max(ctx.http_timeout, 15.0))
        return client.pull(setup.options.platform)
    except ImageError as exc:
        raise CheckFailed(f"image {target}: {exc}") from None


def _readers(options: ContainerOptions) -> list[Reader]:
    readers: list[Reader] = list(INVENTORY_READERS)
    if "secret" in options.scanners:
        readers.append(SecretReader())
    return readers


def analyse(image: Image, name: str, ctx: ScanContext, setup: ContainerSetup) -> tuple[list[Any], dict[str, Any],
                                                                                         list[str]]:
    """Findings, the SBOM and notes for a loaded image (library entry point: no network)."""
    view = walk_layers(image.layers, _readers(setup.options), setup.limits)
    inventory = build_inventory(view)
    notes = image.notes + view.notes + inventory.notes
    matches: list[Match] = []
    if "vuln" in setup.options.scanners:
        matches, match_notes = match_components(inventory.components, setup.osv.records)
        notes += match_notes
        wanted = {c.ecosystem for c in inventory.components if c.ecosystem}
        missing = sorted(wanted - setup.osv.ecosystems)
        if missing:
            notes.append("no OSV data for " + ", ".join(missing) + ": those packages were not matched")
    findings = image_findings(image, view, inventory, matches, setup.options, ctx)
    sbom = build_sbom(image, name, inventory, matches, now=utcnow())
    return findings, sbom, notes


def scan_image(target: str, ctx: ScanContext, setup: ContainerSetup) -> SignalResult:
    """The container signal for `target`; never raises (not_tested / error with the reason)."""
    maximum = MAX_SCORES[SignalKey.CONTAINER]
    try:
        image = load_image(target, ctx, setup)
        findings, sbom, notes = analyse(image, target, ctx, setup)
    except CheckSkipped as exc:
        return SignalResult(status=SignalStatus.NOT_TESTED, max_score=maximum, error=str(exc))
    except CheckFailed as exc:
        return SignalResult(status=SignalStatus.ERROR, max_score=maximum, error=str(exc))
    except Exception as exc:
        log.exception("container check crashed")
        return SignalResult(status=SignalStatus.ERROR, max_score=maximum, error=f"{type(exc).__name__}: {exc}")
    sbom.setdefault("metadata", {}).setdefault("properties", []).extend(
        {"name": "perimeter:note", "value": note[:500]} for note in notes[:50])
    return SignalResult(status=SignalStatus.COMPLETE, max_score=maximum, findings=scope_ids(target, findings),
                        intel_version=f"osv.{setup.osv.version}" if setup.osv.version else None,
                        attachments={"sbom": sbom})


def run(target: str, ctx: ScanContext) -> SignalResult:
    """The registered check: `scan_image` with the setup the context carries."""
    return scan_image(target, ctx, ContainerSetup.from_context(ctx))
