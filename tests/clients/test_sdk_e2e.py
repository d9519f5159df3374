"""The SDK and the `perimeter` CLI against the embedded stack scanning the loopback lab (good.test, bad.test),
an OCI registry on loopback serving the sample image (container scans, with the handwritten OSV fixture as
the stack's OSV data) and the targets API.

The CLI runs as a subprocess (`python -m perimeter_client`) with this checkout's SDK on PYTHONPATH,
so exit codes and files are checked the way a CI job sees them.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from perimeter_client import (
    Client,
    ContainerOptions,
    NotFoundError,
    RegistryAuth,
    Scan,
    ValidationError,
    verify_webhook,
)

from tests.clients.conftest import SDK_SRC
from tests.e2e.conftest import E2E_PORTS
from tests.support.lab import Lab, standard_lab
from tests.support.oci import OciRegistry, sample_image
from tests.support.osv_fixture import sample_records, write_osv
from tests.support.stack import ROOT, RunningStack, start_stack

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    yield from standard_lab(Path(tmp_path_factory.mktemp("sdk-lab")), "the SDK e2e lab")


@pytest.fixture(scope="module")
def stack(lab: Lab, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStack]:
    intel = tmp_path_factory.mktemp("sdk-intel")
    write_osv(intel, sample_records())  # the OSV data container scans match against
    running = start_stack(lab.stack_env(PERIMETER_SCAN_PORTS=E2E_PORTS, PERIMETER_RATE_LIMIT="100000",
                                        PERIMETER_INTEL_DIR=str(intel)))
    yield running
    assert running.stop() == 0, "\n".join(running.output[-40:])


@pytest.fixture(scope="module")
def client(stack: RunningStack) -> Client:
    return Client(stack.api_key, stack.base_url, env={})


@dataclass
class Ran:
    """A finished CLI run."""

    returncode: int
    stdout: str
    stderr: str


def cli(stack: RunningStack, *args: str, key: str | None = None, extra_env: dict[str, str] | None = None,
        stdin: bytes | None = None) -> Ran:
    env = {"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(SDK_SRC),
           "PERIMETER_API_KEY": stack.api_key if key is None else key, "PERIMETER_BASE_URL": stack.base_url,
           **(extra_env or {})}
    done = subprocess.run([sys.executable, "-m", "perimeter_client", *args], env=env, cwd=ROOT, timeout=180,
                          capture_output=True, input=stdin, check=False)
    return Ran(done.returncode, done.stdout.decode(), done.stderr.decode())


@pytest.fixture(scope="module")
def bad_scan(client: Client) -> Scan:
    created = client.create_scan("bad.test")
    return client.wait(created.scan_token, timeout=120, min_interval=0.2)


def test_the_sdk_creates_a_scan_and_waits_with_progress(client: Client, stack: RunningStack) -> None:
    created = client.create_scan("good.test", tags=["sdk-e2e"])
    seen: list[tuple[str, int]] = []
    scan = client.wait(created.scan_token, timeout=120, min_interval=0.2,
                       on_progress=lambda s: seen.append((s.status, s.progress)))
    assert scan.status == "complete" and scan.grade == "A", "\n".join(stack.output[-20:])
    assert seen[-1] == ("complete", 100) and len(seen) >= 2
    assert set(scan.signals) == {"scan", "breach", "reputation", "mail", "layer", "web"}
    every = list(client.iter_findings(scan.scan_token, page_size=2))  # several pages
    assert len(every) == scan.findings_count == len({f.id for f in every})
    tagged = [s.scan_token for s in client.iter_scans(tag="sdk-e2e", page_size=1)]
    assert tagged == [scan.scan_token]


def test_cli_scan_with_gates_fails_a_bad_domain_and_writes_junit_and_summary(stack: RunningStack,
                                                                            tmp_path: Path) -> None:
    step = tmp_path / "step-summary.md"
    done = cli(stack, "scan", "bad.test", "--wait", "--fail-under", "A", "--fail-on", "high",
               "--junit", str(tmp_path / "junit.xml"), "--summary", str(tmp_path / "summary.md"),
               extra_env={"GITHUB_STEP_SUMMARY": str(step)})
    assert done.returncode == 1, done.stderr
    assert "scan " in done.stderr and "%" in done.stderr  # plain progress lines: stderr is not a TTY
    suite = ET.parse(tmp_path / "junit.xml").getroot().find("testsuite")
    assert suite is not None
    cases = {c.get("name", ""): c for c in suite.findall("testcase")}
    assert cases["grade A or better"].find("failure") is not None
    flagged = [n for n in cases if n.startswith(("critical:", "high:"))]
    assert flagged and int(suite.get("failures", "0")) == len(flagged) + 2
    summary = (tmp_path / "summary.md").read_text()
    assert summary.startswith("## Perimeter: bad.test: FAILED") and "Grade **F**" in summary
    assert step.read_text() == summary


def test_cli_scan_passes_a_good_domain_and_saves_the_pdf(stack: RunningStack, tmp_path: Path) -> None:
    done = cli(stack, "scan", "good.test", "--wait", "--fail-under", "A", "--junit", str(tmp_path / "j.xml"),
               "--summary", str(tmp_path / "s.md"), "--pdf", str(tmp_path / "report.pdf"), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["grade"] == "A"
    assert (tmp_path / "report.pdf").read_bytes().startswith(b"%PDF-")
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and suite.get("failures") == "0"
    assert "passed" in (tmp_path / "s.md").read_text().splitlines()[0]


def test_cli_findings_severity_is_that_severity_or_worse(stack: RunningStack, client: Client,
                                                         bad_scan: Scan) -> None:
    done = cli(stack, "findings", bad_scan.scan_token, "--severity", "high", "--json")
    assert done.returncode == 0, done.stderr
    listed = json.loads(done.stdout)
    expected = [f.id for f in bad_scan.findings if f.severity in ("critical", "high")]
    assert listed and sorted(f["id"] for f in listed) == sorted(expected)
    assert {f["severity"] for f in listed} <= {"critical", "high"}


def test_cli_report_download_follows_the_redirect(stack: RunningStack, client: Client, bad_scan: Scan,
                                                  tmp_path: Path) -> None:
    out = tmp_path / "report.json"
    done = cli(stack, "report", bad_scan.scan_token, "--format", "json", "-o", str(out))
    assert done.returncode == 0, done.stderr
    link = client.report_link(bad_scan.scan_token, "json")
    assert hashlib.sha256(out.read_bytes()).hexdigest() == link.sha256
    assert bad_scan.scan_token in out.read_text()


class Receiver:
    """A loopback webhook receiver recording raw bodies and headers."""

    def __init__(self) -> None:
        got: list[tuple[dict[str, str], bytes]] = []
        self.got = got

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                got.append((dict(self.headers.items()), self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


def test_cli_webhooks_create_test_verify_delete(stack: RunningStack, client: Client, tmp_path: Path) -> None:
    receiver = Receiver()
    try:
        created = cli(stack, "webhooks", "create", receiver.url, "--event", "webhook.test", "--json")
        assert created.returncode == 0, created.stderr
        hook = json.loads(created.stdout)
        assert hook["secret"].startswith("whsec_")
        listed = cli(stack, "webhooks", "list", "--json")
        assert hook["webhook_id"] in {h["webhook_id"] for h in json.loads(listed.stdout)}
        tested = cli(stack, "webhooks", "test", hook["webhook_id"], "--json")
        assert tested.returncode == 0 and json.loads(tested.stdout)["event"] == "webhook.test", tested.stderr
        deadline = time.monotonic() + 30
        while not receiver.got and time.monotonic() < deadline:
            time.sleep(0.1)
        assert receiver.got, "\n".join(stack.output[-20:])
        headers, body = receiver.got[0]
        assert verify_webhook(hook["secret"], headers, body)["event"] == "webhook.test"
        (tmp_path / "body.json").write_bytes(body)
        flags = [x for name in ("webhook-id", "webhook-timestamp", "webhook-signature", "X-Perimeter-Signature")
                 for x in ("-H", f"{name}: {headers[name]}")]
        ok = cli(stack, "verify-webhook", "--secret", hook["secret"], "--body", str(tmp_path / "body.json"), *flags)
        assert ok.returncode == 0, ok.stderr
        forged = cli(stack, "verify-webhook", "--secret", hook["secret"], *flags, stdin=body + b" ")
        assert forged.returncode == 1
        assert cli(stack, "webhooks", "delete", hook["webhook_id"]).returncode == 0
        with pytest.raises(NotFoundError):
            client.get_webhook(hook["webhook_id"])
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()


def test_cli_exit_codes_for_auth_errors_and_timeouts(stack: RunningStack, client: Client) -> None:
    denied = cli(stack, "scans", "list", key="pk_not_a_real_key_0123456789")
    assert denied.returncode == 3 and "401" in denied.stderr
    late = cli(stack, "scan", "good.test", "--wait", "--timeout", "0")
    assert late.returncode == 4 and "still" in late.stderr
    token = late.stderr.split("perimeter: scan ", 1)[1].split()[0]
    client.cancel_scan(token)  # not left running
    listed = cli(stack, "scans", "list", "--limit", "3")
    assert listed.returncode == 0
    assert len(listed.stdout.splitlines()) == min(3, len(list(client.iter_scans())))
    assert token in listed.stdout.splitlines()[0]  # newest first


@pytest.fixture
def registry() -> Iterator[OciRegistry]:
    server = OciRegistry("team/app", sample_image(), auth="basic").start()  # on a random 127.X.Y.Z
    try:
        yield server
    finally:
        server.stop()


def test_a_container_scan_through_the_sdk_gates_on_the_servers_counts_and_serves_the_sbom(
        client: Client, stack: RunningStack, registry: OciRegistry) -> None:
    options = ContainerOptions(registry_auth=RegistryAuth(registry.username, registry.password), fail_on="high")
    created = client.create_scan(target=registry.reference, options=options, tags=["sdk-container"])
    assert created.self_assessment_url is None
    scan = client.wait(created.scan_token, timeout=180, min_interval=0.2)
    assert (scan.status, scan.scan_type, scan.grade) == ("complete", "container", None), \
        "\n".join(stack.output[-30:])
    assert scan.gate is not None and (scan.gate.passed, scan.gate.fail_on) == (False, "high")
    assert scan.severity_counts["high"] >= 1 and scan.count_at_least("high") == scan.gate.counts["high"] + \
        scan.gate.counts["critical"]
    assert scan.options["container"]["registry_auth"] == {"username": registry.username}
    assert registry.password not in json.dumps(scan.raw)
    assert scan.sbom_url is not None and scan.sbom_url.endswith(f"/v1/scans/{scan.scan_token}/sbom")
    sbom = client.get_sbom(scan.scan_token)
    assert sbom["bomFormat"] == "CycloneDX"
    assert sbom["metadata"]["component"]["version"] == registry.image.manifest_digest
    assert "CVE-2014-0160" in json.dumps(sbom.get("vulnerabilities", []))
    assert registry.password not in json.dumps(sbom)
    cves = {f.cve for f in client.iter_findings(scan.scan_token, severity="high")}
    assert "CVE-2014-0160" in cves


def test_cli_container_scan_fails_on_high_and_saves_the_sbom(stack: RunningStack, registry: OciRegistry,
                                                            tmp_path: Path) -> None:
    secret = {"REG_PW": registry.password}
    done = cli(stack, "scan", "--type", "container", registry.reference, "--registry-user", registry.username,
               "--registry-password-env", "REG_PW", "--fail-on", "high", "--junit", str(tmp_path / "j.xml"),
               "--summary", str(tmp_path / "s.md"), extra_env=secret)
    assert done.returncode == 1, done.stderr + "\n".join(stack.output[-30:])
    assert registry.password not in done.stdout + done.stderr + (tmp_path / "s.md").read_text()
    assert "server gate failed" in done.stderr and "server gate (fail on high): FAILED" in done.stdout
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite is not None and int(suite.get("failures", "0")) >= 2  # the gate and at least one high finding
    token = done.stderr.split("perimeter: scan ", 1)[1].split()[0]
    passing = cli(stack, "scan", "get", token, "--fail-on", "critical")
    assert passing.returncode == 0, passing.stderr  # the sample image has nothing critical
    sbom = cli(stack, "sbom", token, "-o", str(tmp_path / "sbom.cdx.json"))
    assert sbom.returncode == 0, sbom.stderr
    assert json.loads((tmp_path / "sbom.cdx.json").read_text())["bomFormat"] == "CycloneDX"
    # Without credentials the registry refuses the pull: the scan completes with an errored signal and no
    # findings; the server's gate fails it with the reason, and so does the CLI.
    missing = cli(stack, "scan", "--type", "container", registry.reference, "--fail-on", "high")
    assert missing.returncode == 1 and "not tested (container error:" in missing.stderr, missing.stderr
    untested = cli(stack, "scan", "get", missing.stderr.split("perimeter: scan ", 1)[1].split()[0], "--json")
    gate = json.loads(untested.stdout)["gate"]
    assert gate["passed"] is False and set(gate["not_checked"]) == {"container"}, gate


def test_a_target_is_registered_refused_verification_and_deleted(client: Client, stack: RunningStack) -> None:
    target = client.create_target("https://www.good.test/shop")
    assert (target.domain, target.status, target.verified) == ("www.good.test", "pending", False)
    assert target.challenge.dns.name == "_perimeter-challenge.www.good.test"
    assert target.challenge.dns.value.endswith(target.challenge.token)
    assert target.target_id in {t.target_id for t in client.iter_targets(page_size=1)}
    with pytest.raises(ValidationError) as refused:
        client.verify_target(target.target_id)  # nothing is published: neither check finds the token
    assert refused.value.status == 422 and refused.value.code == "target-verification-failed"
    assert refused.value.problem["checks"]["http"]["status"] == 404
    done = cli(stack, "targets", "verify", target.target_id)
    assert done.returncode == 1 and "not verified" in done.stderr
    assert client.get_target(target.target_id).status == "pending"
    assert cli(stack, "targets", "delete", target.target_id).returncode == 0
    with pytest.raises(NotFoundError):
        client.get_target(target.target_id)
