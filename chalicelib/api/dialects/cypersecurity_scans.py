"""CyperSecurity's scan types as Perimeter scans: `nmap` a ports scan, `zap` and `sqlmap` webapp scans.

`zap` runs the built-in engine and wapiti (spider and active tests, as ZAP does), `sqlmap` the sqlmap engine
alone; both need proof of control of the host (ScanService's gate). Each type takes only its own options.
"""

from __future__ import annotations

from typing import Any

from chalicelib.api.dialects import cypersecurity_models as m
from chalicelib.api.http import validate
from chalicelib.core.errors import Unprocessable, Unsupported
from chalicelib.scans.commands import CreateScan
from chalicelib.scans.models import Scan, ScanType

SCAN_TYPES: dict[str, ScanType] = {"nmap": ScanType.PORTS, "zap": ScanType.WEBAPP, "sqlmap": ScanType.WEBAPP}
ENGINES: dict[str, tuple[str, ...]] = {"zap": ("builtin", "wapiti"), "sqlmap": ("sqlmap",)}  # webapp engines
OPTIONS_OF: dict[str, frozenset[str]] = {"nmap": frozenset({"ports", "service_detection", "os_detection"}),
                                         "zap": frozenset({"spider", "active_scan"}), "sqlmap": frozenset()}
IGNORED_OPTIONS = {"os_detection": "Perimeter does no OS fingerprinting; the option is ignored."}


def type_name(scan: Scan) -> str:
    """CyperSecurity's `type`: nmap (ports), sqlmap (a webapp scan running sqlmap alone), zap (any other webapp
    scan); Perimeter's name for the types CyperSecurity has no word for."""
    if scan.scan_type is ScanType.PORTS:
        return "nmap"
    if scan.scan_type is ScanType.WEBAPP:
        engines = scan.options.webapp.engines if scan.options.webapp else None
        return "sqlmap" if engines == ENGINES["sqlmap"] else "zap"
    return scan.scan_type.value


def to_command(body: m.CreateScanIn) -> tuple[CreateScan, list[m.IgnoredOption]]:
    """The Perimeter scan a CyperSecurity request asks for; raises Unsupported or Unprocessable naming the value."""
    if body.type not in SCAN_TYPES:
        raise Unprocessable(f"Unknown scan type {body.type!r}; one of {', '.join(SCAN_TYPES)}.", field="type",
                            value=body.type)
    given = sorted(body.options.model_fields_set | set(body.options.model_extra or {}))
    unknown = [name for name in given if name not in OPTIONS_OF[body.type]]
    if unknown:
        raise Unsupported(f"Option {unknown[0]!r} is not supported by Perimeter for {body.type} scans; supported: "
                          f"{', '.join(sorted(OPTIONS_OF[body.type])) or 'none'}.", field=f"options.{unknown[0]}",
                          value=unknown[0])
    if body.type != "nmap":
        return validate(CreateScan, {"target": body.target, "scan_type": ScanType.WEBAPP.value,
                                     "options": {"webapp": webapp_options(body)}}), []
    warnings = [m.IgnoredOption(field=f"options.{name}", message=text) for name, text in IGNORED_OPTIONS.items()
                if getattr(body.options, name)]
    options: dict[str, Any] = {"service_detection": body.options.service_detection}
    if body.options.ports is not None:
        options["ports"] = body.options.ports
    return validate(CreateScan, {"target": body.target, "scan_type": ScanType.PORTS.value, "options": options}), \
        warnings


def webapp_options(body: m.CreateScanIn) -> dict[str, Any]:
    """`options.webapp` of a zap or sqlmap scan: its engines; `spider: false` keeps to the start page (zap).
    Raises Unsupported for `active_scan: false` (Perimeter has no passive-only web application scan)."""
    if body.options.active_scan is False:
        raise Unsupported("active_scan: false is not supported: a zap scan on Perimeter always tests the pages it "
                          "finds; leave the option out.", field="options.active_scan", value=False)
    return {"engines": list(ENGINES[body.type]), **({"max_depth": 0} if body.options.spider is False else {})}
