"""Cert-IX `options` for each `scanType`, as Perimeter's scan options and back (docs/migrating.md, Cert-IX).

`nmap` options are the ports scan's own; `trivy` options (`scanners`, `severity` in trivy's upper case,
`ignoreUnfixed`) are a container scan's `options.container`; `zap` options are a webapp scan's
`options.webapp` politeness and budgets in camelCase (Cert-IX documents none; these are Perimeter's), and
a `zap` scan runs the built-in engine plus wapiti. An option another scan type has, or nobody has, is
answered UNSUPPORTED_OPTION naming it; values are then validated by the native models.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.alias_generators import to_camel

from chalicelib.core.errors import Unsupported
from chalicelib.scans.models import ContainerOptions, ScanOptions, ScanType, WebappOptions

# Cert-IX option -> Perimeter's field, per scan type (the field sits under `options.<section>` when given).
NMAP: dict[str, str] = {"ports": "ports", "timing": "timing", "serviceDetection": "service_detection"}
TRIVY: dict[str, str] = {"scanners": "scanners", "severity": "severity", "ignoreUnfixed": "ignore_unfixed"}
ZAP: dict[str, str] = {to_camel(name): name for name in WebappOptions.model_fields if name != "engines"}
BY_TYPE: dict[ScanType, tuple[dict[str, str], str | None]] = {
    ScanType.PORTS: (NMAP, None), ScanType.CONTAINER: (TRIVY, "container"), ScanType.WEBAPP: (ZAP, "webapp")}
ZAP_ENGINES: tuple[str, ...] = ("builtin", "wapiti")  # ZAP spiders and actively scans; sqlmap is another tool
TRIVY_SCANNERS = frozenset({"vuln", "misconfig", "secret"})
UNRATED = "UNKNOWN"  # trivy's level for a vulnerability without a rating; Perimeter rates those medium


def _unsupported(names: list[str], kind: str, table: dict[str, str]) -> Unsupported:
    return Unsupported(f"option(s) {', '.join(names)} not supported for {kind} scans; supported: "
                       f"{', '.join(table) or 'none'}.", field=f"options.{names[0]}", value=names[0])


def _severities(given: Any) -> Any:
    """trivy's severity list in Perimeter's words (`CRITICAL` -> `critical`), UNKNOWN left out."""
    if not isinstance(given, list):
        return given  # the native model names the type error
    words = [s.lower() if isinstance(s, str) else s for s in given if not (isinstance(s, str) and s.upper() == UNRATED)]
    if given and not words:
        raise Unsupported("severity [UNKNOWN] alone is not supported: Perimeter rates a vulnerability without a "
                          "rating as medium, so list MEDIUM to see those.", field="options.severity", value=UNRATED)
    return words


def to_perimeter(kind: ScanType, vendor: str, given: dict[str, Any] | None) -> dict[str, Any]:
    """Perimeter's `options` for a Cert-IX `options` object of a `vendor` scanType; raises Unsupported."""
    table, section = BY_TYPE.get(kind, ({}, None))
    given = {k: v for k, v in (given or {}).items() if v is not None}
    unknown = sorted(set(given) - set(table))
    if unknown:
        raise _unsupported(unknown, vendor, table)
    values = {table[name]: value for name, value in given.items()}
    if kind is ScanType.CONTAINER:
        if "severity" in values:
            values["severity"] = _severities(values["severity"])
        scanners = values.get("scanners")
        odd = [s for s in scanners if s not in TRIVY_SCANNERS] if isinstance(scanners, list) else []
        if odd:
            raise Unsupported(f"scanner {odd[0]!r} is not supported; one of {', '.join(sorted(TRIVY_SCANNERS))}.",
                              field="options.scanners", value=odd[0])
    if kind is ScanType.WEBAPP:
        values = {"engines": list(ZAP_ENGINES), **values}
    if section is None:
        return values
    return {section: values} if values else {}


def _camel(section: BaseModel | None, names: dict[str, str]) -> dict[str, Any]:
    if section is None:
        return {}
    dumped = section.model_dump(mode="json", exclude_none=True)
    return {vendor: dumped[ours] for vendor, ours in names.items() if ours in dumped}


def to_vendor(kind: ScanType, options: ScanOptions) -> dict[str, Any]:
    """A stored scan's (or template's) options in Cert-IX's words for its type; unset ones left out."""
    extra: dict[str, Any] = {"failOn": options.fail_on.value} if options.fail_on is not None else {}
    if kind is ScanType.CONTAINER:
        container = options.container or ContainerOptions()
        view = _camel(container, TRIVY)
        if "severity" in view:
            view["severity"] = [s.upper() for s in view["severity"]]
        if container.platform:
            view["platform"] = container.platform
        return {**view, **extra}
    if kind is ScanType.WEBAPP:
        webapp = options.webapp or WebappOptions()
        engines = {"engines": list(webapp.engines)} if webapp.engines else {}
        return {**_camel(webapp, ZAP), **engines, **extra}
    names = {"service_detection": "serviceDetection", "dkim_selectors": "dkimSelectors"}
    return {names.get(k, k): v for k, v in options.model_dump(mode="json", exclude_none=True).items()
            if not (k == "service_detection" and v is False) and k not in ("webapp", "container")}
