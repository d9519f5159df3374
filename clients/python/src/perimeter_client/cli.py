"""`perimeter`: the Perimeter API from a shell or a CI job.

  perimeter scan example.com --wait --pdf report.pdf --fail-under B --fail-on high --junit j.xml --summary s.md
  perimeter scan --type container registry.example.com/app:1.2 --fail-on high [--severity high,critical]
      [--ignore-unfixed] [--registry-user U --registry-password-env VAR]
  perimeter scan --type webapp https://www.example.com/ --fail-on high   (a verified target: `targets add`)
  perimeter sbom TOKEN -o sbom.cdx.json | perimeter targets add|verify|list|get|delete
  perimeter scan get TOKEN | perimeter scans list | perimeter findings TOKEN --severity high
  perimeter report TOKEN -o report.pdf | perimeter webhooks list|create|delete|test
  perimeter verify-webhook --secret whsec_... --body body.json --header 'webhook-id: ...' ...

Exit codes: 0 pass, 1 gate failed (or verify-webhook, targets verify: not verified), 2 usage error (bad
arguments, no API key), 3 API or auth error, 4 scan failed, cancelled or timed out.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any, Callable, TextIO

from perimeter_client import ci, cli_active
from perimeter_client.cli_active import Usage, dump
from perimeter_client.client import Client
from perimeter_client.errors import (
    APIError,
    ConfigurationError,
    ScanFailedError,
    TransportError,
    WaitTimeoutError,
    WebhookVerificationError,
)
from perimeter_client.models import SEVERITIES, Finding, Scan, severity_rank
from perimeter_client.webhooks import verify_webhook

ClientFactory = Callable[[argparse.Namespace, Mapping[str, str]], Client]


def _checked(check: Callable[[str], str]) -> Callable[[str], str]:
    def parse(value: str) -> str:
        try:
            return check(value)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    return parse


GRADE, SEVERITY = _checked(ci.check_grade), _checked(ci.check_severity)


def _common() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--api-key", help="default: $PERIMETER_API_KEY")
    common.add_argument("--base-url", help="default: $PERIMETER_BASE_URL, else http://127.0.0.1:8000")
    common.add_argument("--json", action="store_true", help="print JSON (the API's own) instead of text")
    return common


def _gate_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wait", action="store_true", help="wait until the scan ends (implied by the gates)")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to wait (default 900)")
    parser.add_argument("--no-progress", action="store_true", help="no progress on stderr while waiting")
    parser.add_argument("--pdf", type=Path, help="save the PDF report here once complete")
    parser.add_argument("--fail-under", type=GRADE, metavar="GRADE",
                        help="exit 1 when the grade is worse than GRADE (A-F) or missing")
    parser.add_argument("--fail-on", type=SEVERITY, metavar="SEVERITY",
                        help=f"exit 1 when any finding is SEVERITY or worse ({', '.join(SEVERITIES)})")
    parser.add_argument("--junit", type=Path, help="write JUnit XML (gates and flagged findings)")
    parser.add_argument("--summary", type=Path, help="write a Markdown summary (also appended to "
                                                     "$GITHUB_STEP_SUMMARY when set)")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    common = _common()
    parser = argparse.ArgumentParser(prog="perimeter", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    scan = sub.add_parser("scan", parents=[common], help="start a scan (`scan get TOKEN` reads one)")
    scan.add_argument("target", help="domain (posture scan) or, with --type, a domain or public IP; a URL for "
                                     "webapp, an image reference naming its registry for container")
    scan.add_argument("--type", dest="scan_type",
                      choices=("posture", "ports", "tls", "mail", "web", "webapp", "container"))
    scan.add_argument("--name")
    scan.add_argument("--tag", action="append", dest="tags", help="repeatable")
    scan.add_argument("--ports", help="nmap port syntax for the scan signal, e.g. 22,80,443 or top-100")
    cli_active.add_scan_options(scan)
    _gate_options(scan)
    get = sub.add_parser("scan-get", parents=[common], help="read a scan (also `scan get TOKEN`)")
    get.add_argument("token")
    _gate_options(get)
    scans = sub.add_parser("scans", parents=[common], help="`scans list`")
    scans.add_argument("action", choices=("list",))
    scans.add_argument("--status")
    scans.add_argument("--type", dest="scan_type")
    scans.add_argument("--tag")
    scans.add_argument("--limit", type=int, default=20, help="at most this many scans (default 20)")
    findings = sub.add_parser("findings", parents=[common], help="a scan's findings")
    findings.add_argument("token")
    findings.add_argument("--severity", type=SEVERITY, help="this severity or worse")
    findings.add_argument("--signal")
    findings.add_argument("--cwe")
    report = sub.add_parser("report", parents=[common], help="download a complete scan's report")
    report.add_argument("token")
    report.add_argument("--format", choices=("pdf", "json"), default="pdf")
    report.add_argument("-o", "--output", help="file to write (default TOKEN.pdf / TOKEN.json; - for stdout)")
    hooks = sub.add_parser("webhooks", parents=[common], help="webhook endpoints: list, create, delete, test")
    hooks.add_argument("action", choices=("list", "create", "delete", "test"))
    hooks.add_argument("arg", nargs="?", help="the URL (create) or the webhook id (delete, test)")
    hooks.add_argument("--event", action="append", dest="events", help="repeatable; default every event (*)")
    hooks.add_argument("--description", default="")
    cli_active.add_parsers(sub, common)
    verify = sub.add_parser("verify-webhook", help="verify a delivery's signature (exit 0 valid, 1 not)")
    verify.add_argument("--secret", action="append", dest="secrets",
                        help="repeatable (rotation); default: $PERIMETER_WEBHOOK_SECRET")
    verify.add_argument("--body", default="-", help="file with the raw body; - for stdin (default)")
    verify.add_argument("-H", "--header", action="append", default=[], dest="headers", metavar="'NAME: VALUE'")
    verify.add_argument("--json", action="store_true", help="print the verified event as JSON")
    return parser


def _client(args: argparse.Namespace, env: Mapping[str, str]) -> Client:
    return Client(args.api_key, args.base_url, env=env)


def _write_scan(scan: Scan, out: TextIO) -> None:
    out.write(f"scan {scan.scan_token}  {scan.target}  {scan.status} {scan.progress}%\n")
    if scan.grade is not None:
        out.write(f"grade {scan.grade} ({scan.grade_label or ''}) score {scan.score}/100  "
                  f"ready {'yes' if scan.ready else 'no'}\n")
    counts = {s: sum(1 for f in scan.findings if f.severity == s) for s in SEVERITIES}
    if scan.findings:
        out.write("findings: " + ", ".join(f"{n} {s}" for s, n in counts.items() if n) + "\n")
    for cap in scan.caps:
        out.write(f"cap: max {cap.max_grade}: {cap.reason}\n")
    cli_active.write_active(scan, out)
    if scan.error is not None:
        out.write(f"error: {scan.error.code}: {scan.error.message}\n")


def _findings_at_least(client: Client, token: str, severity: str, **filters: Any) -> list[Finding]:
    """Findings of `severity` or worse, most severe first (one filtered listing per severity)."""
    found: list[Finding] = []
    for level in SEVERITIES[: severity_rank(severity) + 1]:
        found.extend(client.iter_findings(token, severity=level, page_size=200, **filters))
    return found


def _publish(args: argparse.Namespace, env: Mapping[str, str], junit: str | None, summary: str) -> None:
    if junit is not None and args.junit is not None:
        args.junit.write_text(junit, encoding="utf-8")
    if args.summary is not None:
        args.summary.write_text(summary, encoding="utf-8")
    step = env.get("GITHUB_STEP_SUMMARY")
    if step:
        with open(step, "a", encoding="utf-8") as handle:
            handle.write(summary)


def _result(client: Client, token: str, args: argparse.Namespace, env: Mapping[str, str], out: TextIO,
            err: TextIO) -> int:
    """Wait if asked, then report, download and gate; the exit code."""
    gated = args.fail_under is not None or args.fail_on is not None
    if args.wait or gated or args.pdf is not None:
        progress = None if args.no_progress else ci.ProgressBar(err)
        try:
            scan = client.wait(token, timeout=args.timeout, on_progress=progress)
        except (ScanFailedError, WaitTimeoutError) as exc:
            err.write(f"perimeter: {exc}\n")
            why = str(exc)[len(f"scan {exc.scan.scan_token} "):]
            failed = ci.Gate("scan completed", False, why)
            junit = ci.junit_xml(ci.Verdict(exc.scan, gates=[failed]))
            _publish(args, env, junit, ci.failure_summary(exc.scan, why))
            if args.json:
                dump(exc.scan.raw, out)
            return ci.EXIT_SCAN
    else:
        scan = client.get_scan(token)
    if args.json:
        dump(scan.raw, out)
    else:
        _write_scan(scan, out)
    if not scan.terminal:
        return ci.EXIT_OK
    if args.pdf is not None:
        args.pdf.write_bytes(client.download_report(token, "pdf"))
        err.write(f"perimeter: report saved to {args.pdf}\n")
    if not (gated or args.junit or args.summary or env.get("GITHUB_STEP_SUMMARY")):
        return ci.EXIT_OK
    listed = _findings_at_least(client, token, args.fail_on or "high")
    verdict = ci.evaluate(scan, listed, fail_under=args.fail_under, fail_on=args.fail_on)
    _publish(args, env, ci.junit_xml(verdict), ci.markdown_summary(verdict))
    for gate in verdict.gates:
        err.write(f"perimeter: gate {gate.name}: {'pass' if gate.passed else 'FAIL'} ({gate.message})\n")
    return verdict.exit_code


def _scan(client: Client, args: argparse.Namespace, env: Mapping[str, str], out: TextIO, err: TextIO) -> int:
    posture = args.scan_type in (None, "posture")
    options = cli_active.scan_options(args, env)
    created = client.create_scan(args.target if posture else None, target=None if posture else args.target,
                                 scan_type=args.scan_type, name=args.name, tags=args.tags, options=options)
    err.write(f"perimeter: scan {created.scan_token} {created.status}\n")
    return _result(client, created.scan_token, args, env, out, err)


def _scans(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.limit < 1:
        raise Usage("--limit must be at least 1")
    scans: list[Scan] = []
    for scan in client.iter_scans(status=args.status, scan_type=args.scan_type, tag=args.tag,
                                  page_size=min(args.limit, 100)):
        scans.append(scan)
        if len(scans) >= args.limit:
            break
    if args.json:
        dump([s.raw for s in scans], out)
    for scan in [] if args.json else scans:
        grade = f"{scan.grade} {scan.score}" if scan.grade else "-"
        out.write(f"{scan.scan_token}  {scan.created_at.isoformat()}  {scan.status:<9} {grade:<6} {scan.target}\n")
    return ci.EXIT_OK


def _findings(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    filters = {"signal": args.signal, "cwe": args.cwe}
    if args.severity:
        found = _findings_at_least(client, args.token, args.severity, **filters)
    else:
        found = list(client.iter_findings(args.token, page_size=200, **filters))
    if args.json:
        dump([f.raw for f in found], out)
    for f in [] if args.json else found:
        out.write(f"{f.severity:<8} {f.signal:<10} {f.code:<32} {f.title}\n")
    return ci.EXIT_OK


def _report(client: Client, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    data = client.download_report(args.token, args.format)
    return cli_active.save_bytes(data, args.output, f"{args.token}.{args.format}", "", out, err)


def _webhooks(client: Client, args: argparse.Namespace, out: TextIO) -> int:
    if args.action != "list" and not args.arg:
        raise Usage(f"webhooks {args.action} needs {'a URL' if args.action == 'create' else 'a webhook id'}")
    if args.action == "list":
        hooks = list(client.iter_webhooks())
        if args.json:
            dump([h.raw for h in hooks], out)
        for h in [] if args.json else hooks:
            out.write(f"{h.webhook_id}  {h.status:<8} {','.join(h.events):<20} {h.url}\n")
    elif args.action == "create":
        hook = client.create_webhook(args.arg, args.events or ["*"], args.description)
        if args.json:
            dump({**hook.raw, "secret": hook.secret}, out)
        else:
            out.write(f"{hook.webhook_id}  {hook.url}\nsecret (shown once, store it now): {hook.secret}\n")
    elif args.action == "delete":
        client.delete_webhook(args.arg)
        out.write("{}\n" if args.json else f"deleted {args.arg}\n")
    else:
        queued = client.test_webhook(args.arg)
        if args.json:
            dump(queued.raw, out)
        else:
            out.write(f"queued {queued.event} delivery {queued.delivery_id} ({queued.status})\n")
    return ci.EXIT_OK


def _verify(args: argparse.Namespace, env: Mapping[str, str], stdin: IO[bytes], out: TextIO, err: TextIO) -> int:
    secrets = args.secrets or ([env["PERIMETER_WEBHOOK_SECRET"]] if env.get("PERIMETER_WEBHOOK_SECRET") else [])
    if not secrets:
        raise Usage("no secret: pass --secret or set PERIMETER_WEBHOOK_SECRET")
    headers: dict[str, str] = {}
    for line in args.headers:
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            raise Usage(f"--header takes 'NAME: VALUE', not {line!r}")
        headers[name.strip()] = value.strip()
    body = stdin.read() if args.body == "-" else Path(args.body).read_bytes()
    try:
        event = verify_webhook(secrets, headers, body)
    except (WebhookVerificationError, ValueError) as exc:
        err.write(f"perimeter: not verified: {exc}\n")
        return ci.EXIT_GATE
    if args.json:
        dump(event, out)
    else:
        out.write(f"verified {event.get('event', 'event')} {event.get('id', '')}\n")
    return ci.EXIT_OK


def _dispatch(args: argparse.Namespace, env: Mapping[str, str], make: ClientFactory, stdin: IO[bytes] | None,
              out: TextIO, err: TextIO) -> int:
    if args.command == "verify-webhook":
        return _verify(args, env, stdin if stdin is not None else sys.stdin.buffer, out, err)
    client = make(args, env)
    if args.command == "scan":
        return _scan(client, args, env, out, err)
    if args.command == "scan-get":
        return _result(client, args.token, args, env, out, err)
    if args.command == "scans":
        return _scans(client, args, out)
    if args.command == "findings":
        return _findings(client, args, out)
    if args.command == "report":
        return _report(client, args, out, err)
    if args.command == "sbom":
        return cli_active.sbom(client, args, out, err)
    if args.command == "targets":
        return cli_active.targets(client, args, out, err)
    return _webhooks(client, args, out)


def main(argv: Sequence[str] | None = None, *, env: Mapping[str, str] | None = None, stdin: IO[bytes] | None = None,
         stdout: TextIO | None = None, stderr: TextIO | None = None, client_factory: ClientFactory = _client) -> int:
    """Run the CLI; returns the exit code (see the module docstring)."""
    out, err = stdout or sys.stdout, stderr or sys.stderr
    environ = os.environ if env is None else env
    words = list(sys.argv[1:] if argv is None else argv)
    if len(words) >= 2 and words[0] in ("scan", "scans") and words[1] == "get":
        words = ["scan-get", *words[2:]]  # `scan get TOKEN` and `scans get TOKEN`
    try:
        args = build_parser().parse_args(words)
    except SystemExit as exc:  # argparse printed the usage
        return int(exc.code or 0) and ci.EXIT_USAGE
    try:
        return _dispatch(args, environ, client_factory, stdin, out, err)
    except (Usage, ConfigurationError) as exc:
        err.write(f"perimeter: {exc}\n")
        return ci.EXIT_USAGE
    except APIError as exc:
        err.write(f"perimeter: API error {exc.status} {exc.code}: {exc.detail}\n")
        return ci.EXIT_API
    except TransportError as exc:
        err.write(f"perimeter: cannot reach the API: {exc}\n")
        return ci.EXIT_API
    except OSError as exc:
        err.write(f"perimeter: {exc}\n")
        return ci.EXIT_USAGE
