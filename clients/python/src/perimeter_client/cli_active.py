"""The CLI's active-scan parts: `scan --type container|webapp` options, `perimeter sbom`, `perimeter targets`.

A registry password is read from the environment variable `--registry-password-env` names (never from
the command line, where `ps` and shell history would show it) and is never printed.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any, TextIO

from perimeter_client import ci
from perimeter_client.client import Client
from perimeter_client.errors import ValidationError
from perimeter_client.models import SEVERITIES, Scan
from perimeter_client.options import CONTAINER_SCANNERS, ContainerOptions, RegistryAuth, WebappOptions
from perimeter_client.resources import Target

ACTIVE = ("container", "webapp")
CONTAINER_FLAGS = ("severity", "ignore_unfixed", "scanners", "platform", "registry_user", "registry_password_env")
WEBAPP_FLAGS = ("rate_limit", "max_requests")


class Usage(Exception):
    """A usage error found after parsing (exit 2)."""


def dump(data: Any, out: TextIO) -> None:
    """Print JSON, indented, keys sorted."""
    out.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def add_scan_options(scan: argparse.ArgumentParser) -> None:
    """The `scan` flags of container and webapp scans."""
    image = scan.add_argument_group("container scans (--type container REGISTRY/PATH:TAG)")
    image.add_argument("--severity", help=f"report only these severities, comma-separated ({','.join(SEVERITIES)})")
    image.add_argument("--ignore-unfixed", action="store_true", help="leave out vulnerabilities with no fix")
    image.add_argument("--scanners", help=f"comma-separated, some of {','.join(CONTAINER_SCANNERS)}")
    image.add_argument("--platform", help="os/arch[/variant] of a multi-platform image, e.g. linux/amd64")
    image.add_argument("--registry-user", help="user name for a private registry")
    image.add_argument("--registry-password-env", metavar="VAR",
                       help="environment variable holding the registry password (never on the command line)")
    web = scan.add_argument_group("webapp scans (--type webapp URL, on a verified target)")
    web.add_argument("--rate-limit", type=float, help="requests per second sent to the site (server default 10)")
    web.add_argument("--max-requests", type=int, help="total requests sent to the site (server default 2000)")


def add_parsers(sub: Any, common: argparse.ArgumentParser) -> None:
    """The `sbom` and `targets` subcommands."""
    sbom = sub.add_parser("sbom", parents=[common], help="download a complete container scan's CycloneDX SBOM")
    sbom.add_argument("token")
    sbom.add_argument("-o", "--output", help="file to write (default TOKEN.cdx.json; - for stdout)")
    targets = sub.add_parser("targets", parents=[common],
                             help="domains proven for webapp scans: add, verify, list, get, delete")
    targets.add_argument("action", choices=("add", "verify", "list", "get", "delete"))
    targets.add_argument("arg", nargs="?", help="the domain (add) or the target id (verify, get, delete)")


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v.strip() for v in value.split(",") if v.strip()]


def scan_options(args: argparse.Namespace, env: Mapping[str, str]) -> dict[str, Any] | None:
    """The `options` of the scan `scan` asked for; raises Usage for flags of another scan type."""
    kind = args.scan_type
    given = {name for name in CONTAINER_FLAGS + WEBAPP_FLAGS if getattr(args, name) not in (None, False)}
    foreign = given - set(CONTAINER_FLAGS if kind == "container" else WEBAPP_FLAGS if kind == "webapp" else ())
    if foreign:
        flags = ", ".join(sorted("--" + f.replace("_", "-") for f in foreign))
        raise Usage(f"{flags}: not options of a {kind or 'posture'} scan")
    if args.ports and kind in ACTIVE:
        raise Usage(f"--ports: not an option of a {kind} scan")
    if kind in ACTIVE and args.fail_under is not None:
        raise Usage(f"--fail-under: {kind} scans have no grade; gate them with --fail-on SEVERITY")
    try:
        if kind == "container":
            return ContainerOptions(severity=_split(args.severity), ignore_unfixed=args.ignore_unfixed or None,
                                    scanners=_split(args.scanners), platform=args.platform,
                                    registry_auth=_registry_auth(args, env), fail_on=args.fail_on).to_options() or None
        if kind == "webapp":
            return WebappOptions(rate_limit=args.rate_limit, max_requests=args.max_requests,
                                 fail_on=args.fail_on).to_options() or None
    except ValueError as exc:
        raise Usage(str(exc)) from None
    return {"ports": args.ports} if args.ports else None


def _registry_auth(args: argparse.Namespace, env: Mapping[str, str]) -> RegistryAuth | None:
    if args.registry_user is None and args.registry_password_env is None:
        return None
    if not args.registry_user or not args.registry_password_env:
        raise Usage("--registry-user and --registry-password-env go together")
    password = env.get(args.registry_password_env, "")
    if not password:
        raise Usage(f"--registry-password-env: ${args.registry_password_env} is not set or empty")
    return RegistryAuth(args.registry_user, password)


def write_active(scan: Scan, out: TextIO) -> None:
    """The lines a webapp or container scan adds to `perimeter scan`'s text output."""
    if scan.gate is None:
        return
    out.write("severities: " + ", ".join(f"{scan.severity_counts.get(s, 0)} {s}" for s in SEVERITIES) + "\n")
    state = {True: "passed", False: "FAILED", None: "pending"}[scan.gate.passed]
    out.write(f"server gate (fail on {scan.gate.fail_on}): {state}\n")
    if scan.sbom_url:
        out.write(f"sbom: perimeter sbom {scan.scan_token} -o sbom.cdx.json\n")


def save_bytes(data: bytes, output: str | None, default: str, what: str, out: TextIO, err: TextIO) -> int:
    """Write downloaded bytes to `output` (`-`: stdout's byte stream; None: `default`); raises Usage when stdout
    takes no bytes."""
    if output == "-":
        binary: IO[bytes] | None = getattr(out, "buffer", None)
        if binary is None:
            raise Usage("this output stream takes no bytes: use -o FILE")
        binary.write(data)
        binary.flush()
    else:
        path = Path(output or default)
        path.write_bytes(data)
        err.write(f"perimeter: {what}{len(data)} bytes saved to {path}\n")
    return ci.EXIT_OK


def sbom(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`perimeter sbom TOKEN [-o FILE|-]`: the SBOM's bytes, checked against their SHA-256."""
    return save_bytes(client.download_sbom(args.token), args.output, f"{args.token}.cdx.json", "SBOM, ", out, err)


def _write_target(target: Target, out: TextIO) -> None:
    proven = f" by {target.method}" if target.method else ""
    until = f" until {target.expires_at.isoformat()}" if target.expires_at else ""
    out.write(f"{target.target_id}  {target.domain}  {target.status}{proven}{until}\n")


def targets(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """`perimeter targets add|verify|list|get|delete`; `verify` exits 1 when the challenge is not found."""
    if args.action != "list" and not args.arg:
        raise Usage(f"targets {args.action} needs {'a domain' if args.action == 'add' else 'a target id'}")
    if args.action == "list":
        found = list(client.iter_targets(page_size=100))
        if args.json:
            dump([t.raw for t in found], out)
        for target in [] if args.json else found:
            _write_target(target, out)
        return ci.EXIT_OK
    if args.action == "delete":
        client.delete_target(args.arg)
        out.write("{}\n" if args.json else f"deleted {args.arg}\n")
        return ci.EXIT_OK
    if args.action == "verify":
        return _verify_target(client, args, out, err)
    target = client.create_target(args.arg) if args.action == "add" else client.get_target(args.arg)
    _show_target(target, args.json, out)
    return ci.EXIT_OK


def _verify_target(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    """Verify now: exit 0 verified, 1 when neither challenge is published (what each check saw on stderr)."""
    try:
        target = client.verify_target(args.arg)
    except ValidationError as exc:
        if exc.code != "target-verification-failed":
            raise
        err.write(f"perimeter: not verified: {exc.detail}\n")
        for name, seen in (exc.problem.get("checks") or {}).items():
            err.write(f"perimeter:   {name}: {json.dumps(seen, sort_keys=True)}\n")
        if args.json:
            dump(exc.problem, out)
        return ci.EXIT_GATE
    _show_target(target, args.json, out)
    return ci.EXIT_OK


def _show_target(target: Target, as_json: bool, out: TextIO) -> None:
    if as_json:
        dump(target.raw, out)
        return
    _write_target(target, out)
    if not target.verified:
        out.write(f"prove control, then `perimeter targets verify {target.target_id}`, by either:\n"
                  f"  DNS TXT  {target.challenge.dns.name}  \"{target.challenge.dns.value}\"  (covers subdomains)\n"
                  f"  HTTPS    {target.challenge.http.url}  answering exactly: {target.challenge.http.body}\n")
