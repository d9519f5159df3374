"""`make demo`: see a complete scan offline, in under a minute.

Starts the demo sites (the e2e test lab of tests/support/lab.py: a DNS zone, a test CA, `good.test`
configured the way every check wants and `bad.test` getting everything wrong, HTTPS on 443 and HTTP
on 80 of a random 127.X.Y.0/24) and the embedded stack (`python -m chalicelib.local` on free ports,
its data in a temporary directory so the user's own `PERIMETER_DATA_DIR` is untouched). Then it does
what a partner does through the public API with `requests`: creates one scan per domain, polls them
to the end, prints grade, score, readiness and findings, and downloads each PDF through the report
link (following the 302) into `demo-reports/<domain>.pdf`. Everything it started is stopped, also
on Ctrl-C, SIGTERM and errors.

Exit codes: 0 both scans complete and both PDFs written; 1 a scan or a download failed; 2 the demo
cannot run on this machine (ports 80/443 not bindable, loopback addresses missing); 130 interrupted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import urljoin, urlsplit

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a file (`python scripts/demo.py`): the repository's packages
    sys.path.insert(0, str(ROOT))

import requests  # noqa: E402

from tests.support.lab import Lab  # noqa: E402
from tests.support.stack import RunningStack, start_stack  # noqa: E402

DOMAINS = ("good.test", "bad.test")
TERMINAL = ("complete", "failed", "cancelled")
SEVERITY_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}
# Environment variable every process of the demo inherits: how leftovers are found (Linux /proc).
RUN_MARKER = "DEMO_RUN_ID"
# The partner's client; every address is loopback, so no proxy from the environment may see it.
HTTP = requests.Session()
HTTP.trust_env = False

PORTS_MESSAGE = """\
make demo cannot start its demo sites: it serves good.test and bad.test on ports 80 and 443 of
loopback addresses ({subnet}.10 and .20), the ports a real scan looks at, and this user may not
bind ports below 1024. Run it as root (`sudo make demo`), or let every user bind ports from 80 up
until the next reboot with `sudo sysctl net.ipv4.ip_unprivileged_port_start=80` and run `make demo`
again. Nothing was started and nothing was changed. ({error})"""

ADDRESS_MESSAGE = """\
make demo cannot start its demo sites on {subnet}.0/24 ({error}). The demo needs the whole
127.0.0.0/8 on the loopback interface (Linux has it; elsewhere add the addresses, for example
`sudo ifconfig lo0 alias {subnet}.10` and `.20` on macOS) and ports 80 and 443 free on them."""


class Interrupted(Exception):
    """SIGTERM or SIGINT arrived: unwind and stop everything."""


@dataclass
class Outcome:
    """What the demo saw of one domain."""

    domain: str
    scan: dict[str, Any] = field(default_factory=dict)
    findings: list[dict[str, Any]] = field(default_factory=list)
    pdf: Path | None = None
    error: str = ""


def main(argv: list[str] | None = None) -> int:
    """Run the demo; returns the exit code (see the module docstring)."""
    parser = argparse.ArgumentParser(prog="make demo", description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("demo-reports"), help="where the PDFs go (demo-reports/)")
    parser.add_argument("--timeout", type=float, default=90.0, help="seconds to wait for the scans (90)")
    args = parser.parse_args(argv)
    started = time.monotonic()
    previous = {sig: signal.signal(sig, _interrupt) for sig in (signal.SIGINT, signal.SIGTERM)}
    os.environ[RUN_MARKER] = uuid.uuid4().hex  # fresh: only what this run starts carries it
    try:
        with tempfile.TemporaryDirectory(prefix="perimeter-demo-") as temporary:
            code = _run(Path(temporary), args.out, args.timeout)
    except Interrupted:
        print("\nInterrupted: everything the demo started has been stopped.", flush=True)
        return 130
    except (RuntimeError, OSError, requests.RequestException) as exc:
        print(f"\nThe demo failed: {exc}", file=sys.stderr, flush=True)
        return 1
    finally:
        with _signals_ignored():
            _reap_leftovers()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if code != 2:
        print(f"Demo finished in {time.monotonic() - started:.1f} s.", flush=True)
    return code


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def _run(workdir: Path, out: Path, timeout: float) -> int:
    """Start the sites and the stack, scan, report; stops both whatever happens."""
    lab = Lab(workdir / "lab", standard_ports=True)
    (workdir / "lab").mkdir()
    print(f"Starting the demo sites on {lab.subnet}.0/24 (good.test, bad.test, their DNS zone)...", flush=True)
    try:
        with _running_lab(lab):
            print("Starting the embedded stack (data in a temporary directory)...", flush=True)
            data = workdir / "data"
            data.mkdir(mode=0o700)
            env = lab.stack_env(PERIMETER_DATA_DIR=str(data))
            with _running_stack(env) as stack:
                print(f"  API {stack.base_url}/v1, up in {stack.startup_seconds:.1f} s", flush=True)
                outcomes = _scan_all(stack, timeout)
                for outcome in outcomes:
                    _print_outcome(outcome)
                _download_all(stack, outcomes, out)
            print("Stopping...", flush=True)
    except _CannotRun as exc:
        print(str(exc), file=sys.stderr, flush=True)
        return 2
    failed = [o for o in outcomes if o.error]
    for outcome in failed:
        print(f"FAILED {outcome.domain}: {outcome.error}", file=sys.stderr, flush=True)
    if not failed:
        print("Next: `make run` and scan your own domains (README, \"Try it\"; needs internet).", flush=True)
    return 1 if failed else 0


class _CannotRun(Exception):
    """This machine cannot host the demo sites; the message says what to do."""


@contextlib.contextmanager
def _running_lab(lab: Lab) -> Iterator[Lab]:
    """The started lab, stopped on exit; raises _CannotRun when its addresses or ports cannot be bound."""
    try:
        lab.start()
    except PermissionError as exc:
        lab.stop()
        raise _CannotRun(PORTS_MESSAGE.format(subnet=lab.subnet, error=exc)) from exc
    except OSError as exc:
        lab.stop()
        raise _CannotRun(ADDRESS_MESSAGE.format(subnet=lab.subnet, error=exc)) from exc
    except BaseException:
        lab.stop()
        raise
    try:
        yield lab
    finally:
        lab.stop()


@contextlib.contextmanager
def _running_stack(env: dict[str, str]) -> Iterator[RunningStack]:
    """The started stack, stopped (SIGINT, then SIGKILL after 15 s) on exit; raises RuntimeError."""
    with _signals_deferred() as received:  # interrupted mid-start, start_stack would lose the process
        stack = start_stack(env, timeout=60.0)
    try:
        if received:
            raise Interrupted(signal.Signals(received[0]).name)
        yield stack
    finally:
        with _signals_ignored():  # a second Ctrl-C must not leave the stack half-stopped
            code = stack.stop()
        if code != 0:
            print(f"warning: the embedded stack exited with {code}:", file=sys.stderr)
            print("\n".join(stack.output[-20:]), file=sys.stderr, flush=True)


@contextlib.contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """Records SIGINT/SIGTERM arriving inside the block in the yielded list instead of raising."""
    received: list[int] = []
    previous = {sig: signal.signal(sig, lambda signum, _: received.append(signum))
                for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield received
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@contextlib.contextmanager
def _signals_ignored() -> Iterator[None]:
    previous = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _auth(stack: RunningStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.api_key}"}


def _scan_all(stack: RunningStack, timeout: float) -> list[Outcome]:
    """Create one scan per domain, poll them all to the end (a dot per poll), read their findings."""
    outcomes = [Outcome(domain) for domain in DOMAINS]
    urls: dict[str, str] = {}
    for outcome in outcomes:
        created = HTTP.post(f"{stack.base_url}/v1/scans", headers=_auth(stack), timeout=10,
                            json={"domain": outcome.domain, "tags": ["demo"]})
        if created.status_code != 202:
            outcome.error = f"POST /v1/scans answered {created.status_code}: {created.text[:300]}"
            continue
        urls[outcome.domain] = created.json()["status_url"]
    print(f"Scanning {' and '.join(urls)}", end="", flush=True)
    began = time.monotonic()
    pending = dict(urls)
    while pending and time.monotonic() - began < timeout:
        time.sleep(0.5)
        print(".", end="", flush=True)
        for domain, url in list(pending.items()):
            scan = HTTP.get(url, headers=_auth(stack), timeout=10).json()
            if scan.get("status") in TERMINAL:
                next(o for o in outcomes if o.domain == domain).scan = scan
                del pending[domain]
    print(f" done in {time.monotonic() - began:.1f} s" if not pending else " timed out", flush=True)
    for outcome in outcomes:
        if outcome.domain in pending:
            outcome.error = f"the scan did not end within {timeout:.0f} s"
        elif outcome.scan and outcome.scan["status"] != "complete":
            error = outcome.scan.get("error") or {}
            outcome.error = f"the scan ended {outcome.scan['status']}: {error.get('code')} {error.get('message')}"
        elif outcome.scan:
            outcome.findings = _findings(stack, outcome.scan["scan_token"])
    return outcomes


def _findings(stack: RunningStack, token: str) -> list[dict[str, Any]]:
    """Every finding of a scan, page by page."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    while True:
        params = {"limit": "100", **({"cursor": cursor} if cursor else {})}
        page = HTTP.get(f"{stack.base_url}/v1/scans/{token}/findings", headers=_auth(stack), params=params,
                        timeout=10).json()
        items.extend(page["items"])
        cursor = page.get("next_cursor")
        if not cursor:
            return items


def _print_outcome(outcome: Outcome) -> None:
    """The headline of a scan and its findings as a table, most severe first."""
    scan = outcome.scan
    if not scan:
        return
    score = "-" if scan.get("score") is None else f"{scan['score']}/100"
    ready = "yes" if scan.get("ready") else "no"
    print(f"\n{outcome.domain}: {scan['status']}, grade {scan.get('grade') or '-'}, score {score}, ready {ready}, "
          f"{len(outcome.findings)} findings", flush=True)
    if not outcome.findings:
        return
    rows = sorted(outcome.findings, key=lambda f: (SEVERITY_ORDER.get(f["severity"], 9), f["signal"], f["code"]))
    width = max(len(f["code"]) for f in rows)
    print(f"  {'SEVERITY':<9} {'SIGNAL':<11} {'CODE':<{width}}  TITLE")
    for f in rows:
        port = f.get("evidence", {}).get("port")
        title = f"{f['title']} ({port})" if port else f["title"]
        print(f"  {f['severity']:<9} {f['signal']:<11} {f['code']:<{width}}  {title}")
    sys.stdout.flush()


def _download_all(stack: RunningStack, outcomes: list[Outcome], out: Path) -> None:
    """Each complete scan's PDF, through GET /v1/scans/{token}/report and its 302, into out/<domain>.pdf."""
    done = [o for o in outcomes if o.scan.get("status") == "complete"]
    if not done:
        return
    out.mkdir(parents=True, exist_ok=True)
    print("\nReports:", flush=True)
    for outcome in done:
        target = out / f"{outcome.domain}.pdf"
        try:
            target.write_bytes(_download(stack, outcome.scan["scan_token"]))
        except (requests.RequestException, RuntimeError) as exc:
            outcome.error = f"report download: {exc}"
            continue
        outcome.pdf = target
        print(f"  {target} ({target.stat().st_size // 1024} KiB)", flush=True)


def _download(stack: RunningStack, token: str) -> bytes:
    """The PDF behind the report link, following its 302 as `curl -L` does: the API key goes along
    only when the Location is on the API's own origin. Raises RuntimeError."""
    link = HTTP.get(f"{stack.base_url}/v1/scans/{token}/report", headers=_auth(stack), timeout=10,
                    allow_redirects=False)
    if link.status_code != 302 or "Location" not in link.headers:
        raise RuntimeError(f"GET .../report answered {link.status_code}: {link.text[:300]}")
    location = urljoin(link.url, link.headers["Location"])
    same_origin = urlsplit(location)[:2] == urlsplit(stack.base_url)[:2]
    pdf = HTTP.get(location, headers=_auth(stack) if same_origin else {}, timeout=30)
    if pdf.status_code != 200 or not pdf.content.startswith(b"%PDF"):
        raise RuntimeError(f"the report link answered {pdf.status_code} {pdf.headers.get('Content-Type')}")
    return pdf.content


def _leftovers(marker: str) -> list[int]:
    """Live processes (Linux /proc) other than this one that carry the demo's marker in their environment."""
    found = []
    needle = f"{RUN_MARKER}={marker}".encode()
    for entry in Path("/proc").glob("[0-9]*"):
        if int(entry.name) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            if (entry / "stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                continue
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
    return found


def _reap_leftovers(grace: float = 5.0) -> None:
    """Wait for the stack's processes to go; kill and name any that stay (they should not)."""
    marker = os.environ[RUN_MARKER]
    if not Path("/proc/self/environ").exists():
        return
    deadline = time.monotonic() + grace
    while (pids := _leftovers(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    if pids:
        print(f"warning: {len(pids)} process(es) of the stack outlived it and were killed: {pids}",
              file=sys.stderr, flush=True)


if __name__ == "__main__":
    sys.exit(main())
