"""wapiti and sqlmap as separate programs (GPL: run, never imported), behind EngineProxy.

Each runs in its own process group with HOME in a private temp dir, its proxies pointed at a closed
port (anything it tries to reach other than our proxy fails), our User-Agent, and its own politeness
options. The runner polls every POLL seconds and kills the whole group (SIGKILL) at once when the
scan is cancelled, the time budget ends or the request budget is spent. `terminate_all()` kills every
group still running (for a task that is about to exit). Findings are parsed from the tools' output
files and mapped to our codes.
"""

from __future__ import annotations

import contextlib
import csv
import json
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from chalicelib.scanners.webapp.client import USER_AGENT, WebClient
from chalicelib.scanners.webapp.findings import make, redact_text, redact_url
from chalicelib.scanners.webapp.proxy import EngineProxy
from chalicelib.scans.models import Finding

POLL = 0.1
WAPITI_MODULES = "sql,blindsql,xss,permanentxss,file,exec,redirect"  # no ssrf/xxe (external endpoints), no nikto
WAPITI_CODES = {"SQL Injection": "sql-injection", "Blind SQL Injection": "sql-injection",
                "Cross Site Scripting": "xss-reflected", "Path Traversal": "path-traversal",
                "Open Redirect": "open-redirect", "Command execution": "command-injection"}
_LIVE: set[subprocess.Popen[bytes]] = set()
_LIVE_LOCK = threading.Lock()


@dataclass
class EngineRun:
    """One engine's outcome: whether it ran, how it ended, what it found."""

    name: str
    available: bool
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0
    ended: str = "not run"  # finished, cancelled, deadline, budget, failed: <why>, not installed
    exit_code: int | None = None
    log_tail: str | None = None  # the end of the tool's output when it did not finish cleanly

    def summary(self) -> dict[str, Any]:
        """The coverage line of this engine."""
        return {"engine": self.name, "available": self.available, "ended": self.ended,
                "seconds": round(self.seconds, 2), "findings": len(self.findings), "exit_code": self.exit_code,
                "log_tail": self.log_tail}


def available(name: str) -> bool:
    """True when the program is on PATH."""
    return shutil.which(name) is not None


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=2)


def terminate_all() -> int:
    """Kill every engine process group still running; returns how many there were."""
    with _LIVE_LOCK:
        live = list(_LIVE)
    for proc in live:
        _kill(proc)
    return len(live)


def _environment(home: Path, proxy: EngineProxy) -> dict[str, str]:
    dead = f"http://{proxy.host}:1"  # nothing listens there: a request that bypasses our proxy fails
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "http_proxy": dead, "https_proxy": dead, "HTTP_PROXY": dead, "HTTPS_PROXY": dead, "ALL_PROXY": dead,
            "no_proxy": proxy.host, "NO_PROXY": proxy.host, "PYTHONDONTWRITEBYTECODE": "1"}


def supervise(argv: list[str], *, home: Path, proxy: EngineProxy, client: WebClient,
              on_start: Callable[[subprocess.Popen[bytes]], None] | None = None) -> tuple[str, int | None]:
    """Run `argv` in its own process group until it exits or must stop; returns (how it ended, exit code).

    Raises OSError when the program cannot start.
    """
    log = (home / "engine.log").open("wb")
    proc = subprocess.Popen(argv, cwd=home,  # noqa: S603 - fixed argv built here, no shell
                            env=_environment(home, proxy), stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)
    with _LIVE_LOCK:
        _LIVE.add(proc)
    if on_start:
        on_start(proc)
    ended = "finished"
    try:
        while proc.poll() is None:
            if client.cancelled.wait(POLL):
                ended = "cancelled"
            elif client.remaining_time() <= 0:
                ended = "deadline"
            elif client.sent >= client.limits.max_requests:
                ended = "budget"
            else:
                continue
            break
    finally:
        _kill(proc)  # the group: a finished tool's stray children go too
        with _LIVE_LOCK:
            _LIVE.discard(proc)
        log.close()
    return ended, proc.returncode


def _request_excerpt(proxy: EngineProxy, text: str) -> str:
    return redact_text(proxy.to_origin(text))[:800]


def parse_wapiti(report: dict[str, Any], proxy: EngineProxy) -> list[Finding]:
    """Our findings from a wapiti JSON report (categories we map; the rest ignored)."""
    findings = []
    for category, entries in (report.get("vulnerabilities") or {}).items():
        code = WAPITI_CODES.get(category)
        if code is None:
            continue
        for entry in entries or []:
            info = str(entry.get("info", ""))
            found = "xss-stored" if code == "xss-reflected" and "stored" in info.lower() else code
            path = str(entry.get("path", "/"))
            url = proxy.client.origin.base + (path if path.startswith("/") else urllib.parse.urlsplit(path).path)
            parameter = str(entry.get("parameter") or "") or None
            findings.append(make(found, url=url, parameter=parameter, detail=redact_text(info)[:300], evidence={
                "engine": "wapiti", "method": entry.get("method"), "url": redact_url(url), "parameter": parameter,
                "category": category, "request": _request_excerpt(proxy, str(entry.get("http_request", "")))}))
    return findings


def parse_sqlmap(output: Path, proxy: EngineProxy) -> list[Finding]:
    """sql-injection findings from sqlmap's results CSV files (Target URL, Place, Parameter, Technique(s))."""
    findings = []
    for path in output.rglob("results-*.csv"):
        with path.open(newline="", errors="replace") as handle:
            for row in csv.DictReader(handle):
                target = proxy.to_origin((row.get("Target URL") or "").strip())
                parameter = (row.get("Parameter") or "").strip() or None
                if not target or not parameter:
                    continue
                findings.append(make("sql-injection", url=target, parameter=parameter, detail="Confirmed by sqlmap.",
                                     evidence={"engine": "sqlmap", "method": (row.get("Place") or "").strip(),
                                               "url": redact_url(target), "parameter": parameter,
                                               "techniques": (row.get("Technique(s)") or "").strip(),
                                               "note": (row.get("Note(s)") or "").strip()[:200] or None}))
    return findings


def wapiti_argv(proxy: EngineProxy, start_path: str, out: Path, home: Path, depth: int, seconds: float) -> list[str]:
    """wapiti's command line: our modules, scope the start folder, polite limits, JSON report."""
    argv = ["wapiti", "-u", proxy.base + start_path, "--scope", "folder", "-m", WAPITI_MODULES,
            "-d", str(depth), "--max-links-per-page", "50", "--max-files-per-dir", "50",
            "--max-scan-time", f"{max(seconds / 3, 5):.0f}", "--max-attack-time", f"{max(seconds / 8, 5):.0f}",
            "-t", "5", "-A", USER_AGENT, "-f", "json", "-o", str(out), "--flush-session",
            "--store-session", str(home / "session"), "--store-config", str(home / "config"),
            "--no-bugreport", "-v", "0"]
    # Not `-x`: wapiti 3.0.4's wildcard_translate builds a regex Python 3.11 refuses (re.error, exit 1).
    # The proxy refuses the excluded paths (403) instead, which holds for every engine.
    return argv


def sqlmap_argv(proxy: EngineProxy, start_path: str, out: Path, depth: int, rate: float) -> list[str]:
    """sqlmap's command line: crawl from the start URL with forms, level 1, risk 1, delayed requests."""
    return ["sqlmap", "-u", proxy.base + start_path, "--batch", f"--crawl={min(depth, 3)}", "--forms",
            "--level", "1", "--risk", "1", "--delay", f"{1.0 / rate:.2f}", "--timeout", "10", "--retries", "0",
            "--threads", "1", "--user-agent", USER_AGENT, "--output-dir", str(out), "--disable-coloring",
            "--smart", "--skip-waf", "--answers", "follow=N,quit=N"]


def run_engine(name: str, client: WebClient, *, start_path: str, depth: int, excluded: list[str],
               on_start: Callable[[subprocess.Popen[bytes]], None] | None = None) -> EngineRun:
    """Run one engine behind a fresh EngineProxy and parse its findings; never raises."""
    run = EngineRun(name, available(name))
    if not run.available:
        run.ended = "not installed"
        return run
    started = time.monotonic()
    proxy = EngineProxy(client, excluded)
    with tempfile.TemporaryDirectory(prefix=f"perimeter-{name}-") as tmp:
        home = Path(tmp)
        try:
            proxy.start()
            if name == "wapiti":
                report = home / "report.json"
                argv = wapiti_argv(proxy, start_path, report, home, depth, client.remaining_time())
            else:
                report = home / "out"
                argv = sqlmap_argv(proxy, start_path, report, depth, client.limits.rate)
            run.ended, run.exit_code = supervise(argv, home=home, proxy=proxy, client=client, on_start=on_start)
            if run.exit_code not in (0, None) or run.ended != "finished":
                tail = (home / "engine.log").read_bytes()[-600:].decode("utf-8", "replace")
                run.log_tail = redact_text(proxy.to_origin(tail)).strip() or None
            if name == "wapiti" and report.exists():
                run.findings = parse_wapiti(json.loads(report.read_text(errors="replace")), proxy)
            elif name == "sqlmap":
                run.findings = parse_sqlmap(report, proxy)
        except (OSError, ValueError) as exc:
            run.ended = f"failed: {type(exc).__name__}: {redact_text(str(exc))[:200]}"
        finally:
            proxy.stop()
    run.seconds = time.monotonic() - started
    if run.ended == "finished" and run.exit_code not in (0, None):
        run.ended = f"finished with exit code {run.exit_code}"
    return run
