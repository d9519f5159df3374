"""`make demo` (scripts/demo.py): the offline tour of a complete scan, run end to end as a newcomer would."""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from types import ModuleType

import certifi
import pytest

from tests.support.lab import Lab

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "demo.py"
MARK = "DEMO_TEST_MARK"  # inherited by every process the demo starts: how leftovers are found


def load_demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("perimeter_demo", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def marked_processes(mark: str) -> list[str]:
    """Live processes (Linux /proc) whose environment carries MARK=mark."""
    found = []
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            environ = (entry / "environ").read_bytes().split(b"\0")
            comm = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if state != "Z" and f"{MARK}={mark}".encode() in environ:
            found.append(f"{entry.name} {comm}")
    return found


def section(output: str, domain: str) -> str:
    """The headline and findings table the demo printed for one domain."""
    match = re.search(rf"^{re.escape(domain)}: .*?(?=^\S|\Z)", output, re.M | re.S)
    assert match, output
    return match.group(0)


@pytest.mark.e2e
@pytest.mark.slow
def test_demo_scans_both_sites_prints_grades_and_findings_writes_pdfs_and_leaves_no_process(
        tmp_path: Path) -> None:
    mark = uuid.uuid4().hex
    out = tmp_path / "reports"
    # A REQUESTS_CA_BUNDLE of the user's (common on managed machines) must not hide the lab CA.
    env = {**os.environ, MARK: mark, "REQUESTS_CA_BUNDLE": certifi.where()}
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(SCRIPT), "--out", str(out)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    text = done.stdout + done.stderr
    if done.returncode == 2 and "cannot start its demo sites" in done.stderr:
        pytest.skip(f"the demo sites need ports 80/443 on loopback (run as root): {done.stderr[:300]}")
    assert done.returncode == 0, text

    good, bad = section(done.stdout, "good.test"), section(done.stdout, "bad.test")
    assert re.match(r"good\.test: complete, grade A, score (9\d|100)/100, ready yes", good), good
    assert re.match(r"bad\.test: complete, grade F, score \d+/100, ready no", bad), bad
    for line in filter(None, bad.splitlines()[1:]):
        assert re.match(r"  (SEVERITY|critical|high|medium|low|info) ", line), line
    for severity, code in (("critical", "cert-expired"), ("high", "spf-plus-all"), ("high", "domain-listed"),
                           ("high", "credentials-exposed"), ("medium", "no-https-redirect")):
        assert re.search(rf"^  {severity} +\w+ +{code} +\S", bad, re.M), (code, bad)
    # good.test is served with a certificate of the lab CA: its HTTPS is fetched and verified.
    assert "https-unavailable" not in good and "mta-sts-policy-unreachable" not in good, good

    for domain in ("good.test", "bad.test"):
        pdf = out / f"{domain}.pdf"
        assert pdf.read_bytes().startswith(b"%PDF-"), domain
        assert str(pdf) in done.stdout
    assert re.search(r"^Demo finished in \d+\.\d s\.$", done.stdout, re.M), done.stdout
    assert elapsed < 60, f"the demo took {elapsed:.1f} s"
    assert "outlived" not in done.stderr and "warning" not in done.stderr, done.stderr
    assert marked_processes(mark) == []


def unprivileged_command() -> list[str]:
    """A prefix that runs the demo without the right to bind ports below 1024; skips where none exists."""
    start = Path("/proc/sys/net/ipv4/ip_unprivileged_port_start")
    if os.geteuid() != 0:
        if start.exists() and int(start.read_text()) > 80:
            return []
        pytest.skip("this user may bind ports 80/443")
    if not shutil.which("setpriv"):
        pytest.skip("setpriv (util-linux) is needed to drop CAP_NET_BIND_SERVICE")
    return ["setpriv", "--bounding-set=-net_bind_service", "--inh-caps=-net_bind_service"]


def test_a_user_who_may_not_bind_ports_80_and_443_is_told_how_to_run_the_demo(tmp_path: Path) -> None:
    prefix = unprivileged_command()
    mark = uuid.uuid4().hex
    done = subprocess.run([*prefix, sys.executable, str(SCRIPT), "--out", str(tmp_path / "reports")],
                          cwd=tmp_path, env={**os.environ, MARK: mark}, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    message = " ".join(done.stderr.split())
    assert "may not bind ports below 1024" in message and "`sudo make demo`" in message, done.stderr
    assert "`sudo sysctl net.ipv4.ip_unprivileged_port_start=80`" in message, done.stderr
    assert "Traceback" not in done.stderr and "Starting the embedded stack" not in done.stdout
    assert not (tmp_path / "reports").exists() and marked_processes(mark) == []


def test_without_ports_80_and_443_the_demo_says_how_to_run_it_and_starts_nothing(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEMO_RUN_ID", "unit")  # main() sets its own; restored afterwards
    demo = load_demo()
    stopped: list[bool] = []

    def refuse(self: Lab) -> Lab:
        raise PermissionError(13, "Permission denied")

    def no_stack(*args: object, **kwargs: object) -> None:
        raise AssertionError("no stack may start when the demo sites cannot")

    monkeypatch.setattr(Lab, "start", refuse)
    monkeypatch.setattr(Lab, "stop", lambda self: stopped.append(True))
    monkeypatch.setattr(demo, "start_stack", no_stack)
    code = demo.main(["--out", str(tmp_path / "reports")])
    err = capsys.readouterr().err
    assert code == 2
    message = " ".join(err.split())
    assert "ports below 1024" in message and "sudo make demo" in message, err
    assert "sysctl net.ipv4.ip_unprivileged_port_start=80" in message, err
    assert stopped and not (tmp_path / "reports").exists()


class FakeResponse:
    def __init__(self, status: int, body: object = None, headers: dict[str, str] | None = None,
                 content: bytes = b"", url: str = "") -> None:
        self.status_code, self.body, self.headers, self.content, self.url = status, body, headers or {}, content, url
        self.text = str(body)

    def json(self) -> object:
        return self.body


class FakeAPI:
    """The partner API as the demo sees it: good.test completes, bad.test fails."""

    base = "http://127.0.0.1:9"

    def __init__(self) -> None:
        self.calls: list[tuple[str, bool]] = []

    def post(self, url: str, **kwargs: object) -> FakeResponse:
        domain = kwargs["json"]["domain"]  # type: ignore[index]
        return FakeResponse(202, {"status_url": f"{self.base}/v1/scans/{domain}"})

    def get(self, url: str, **kwargs: object) -> FakeResponse:
        self.calls.append((url, "Authorization" in (kwargs.get("headers") or {})))  # type: ignore[operator]
        if url.endswith("/v1/scans/good.test"):
            return FakeResponse(200, {"status": "complete", "scan_token": "good.test", "grade": "A", "score": 99,
                                      "ready": True})
        if url.endswith("/v1/scans/bad.test"):
            return FakeResponse(200, {"status": "failed", "scan_token": "bad.test", "score": None, "grade": None,
                                      "error": {"code": "scanner-crashed", "message": "the network task crashed"}})
        if url.endswith("/findings"):
            return FakeResponse(200, {"items": [], "next_cursor": None})
        if url.endswith("/report"):
            return FakeResponse(302, "", {"Location": "/files/good.pdf"}, url=url)
        if url.endswith("/files/good.pdf"):
            return FakeResponse(200, content=b"%PDF-1.7 demo", headers={"Content-Type": "application/pdf"})
        raise AssertionError(url)


def test_a_failed_scan_is_named_the_demo_exits_1_and_everything_is_stopped(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("DEMO_RUN_ID", "unit")
    demo = load_demo()
    api, stopped = FakeAPI(), []

    class Stack:
        base_url, api_key, startup_seconds, output = FakeAPI.base, "key", 0.1, ["last line"]

        def stop(self) -> int:
            stopped.append("stack")
            return 0

    monkeypatch.setattr(Lab, "start", lambda self: self)
    monkeypatch.setattr(Lab, "stop", lambda self: stopped.append("lab"))
    monkeypatch.setattr(Lab, "stack_env", lambda self, **extra: extra)
    monkeypatch.setattr(demo, "start_stack", lambda env, timeout: Stack())
    monkeypatch.setattr(demo, "HTTP", api)
    code = demo.main(["--out", str(tmp_path / "reports")])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAILED bad.test: the scan ended failed: scanner-crashed the network task crashed" in captured.err
    assert "good.test: complete, grade A, score 99/100, ready yes, 0 findings" in captured.out
    assert (tmp_path / "reports" / "good.test.pdf").read_bytes() == b"%PDF-1.7 demo"
    assert not (tmp_path / "reports" / "bad.test.pdf").exists()
    # The relative Location, resolved against the link: the API's own origin, so the key goes along.
    assert (f"{FakeAPI.base}/files/good.pdf", True) in api.calls
    assert stopped == ["stack", "lab"]
