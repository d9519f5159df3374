""".github/actions/perimeter-gate: its inputs reach the CLI as flags the CLI has, and its gate step works.

The step scripts are run with bash as GitHub would (inputs as env, GITHUB_OUTPUT, RUNNER_TEMP); the
flags they build are checked against the SDK's own argparse parser (clients/python) when the SDK is in
the tree, and always against the documented flag list.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

from tests.support.stack import RunningStack, start_stack

ROOT = Path(__file__).resolve().parents[2]
ACTION = ROOT / ".github" / "actions" / "perimeter-gate" / "action.yml"
SDK_SRC = ROOT / "clients" / "python" / "src"
INPUTS = {"domain", "api-key", "base-url", "fail-under", "fail-on", "junit", "timeout", "scan-type", "ports",
          "severity", "ignore-unfixed", "registry-username", "registry-password", "sbom", "install"}
# The `perimeter scan` flags the SDK documents (clients/python, its README and `perimeter scan --help`).
DOCUMENTED = {"--wait", "--timeout", "--no-progress", "--json", "--junit", "--summary", "--fail-under",
              "--fail-on", "--type", "--ports", "--api-key", "--base-url", "--name", "--tag", "--pdf",
              "--severity", "--ignore-unfixed", "--scanners", "--platform", "--registry-user",
              "--registry-password-env", "--rate-limit", "--max-requests"}
EXPR = re.compile(r"^\$\{\{ inputs\.([a-z-]+) \}\}$")


def action() -> dict[str, Any]:
    return dict(yaml.safe_load(ACTION.read_text()))


def step(name: str) -> dict[str, Any]:
    return next(s for s in action()["runs"]["steps"] if s.get("id") == name or s.get("name") == name)


def step_env(entry: dict[str, Any], inputs: dict[str, str]) -> dict[str, str]:
    """The step's env with `${{ inputs.x }}` resolved from `inputs` and the action's defaults."""
    declared = action()["inputs"]
    resolved = {}
    for var, value in entry.get("env", {}).items():
        match = EXPR.match(str(value))
        assert match, f"{var}: only ${{{{ inputs.NAME }}}} is expected, not {value!r}"
        name = match.group(1)
        resolved[var] = inputs.get(name, str(declared[name].get("default", "")))
    return resolved


def run_gate(tmp_path: Path, inputs: dict[str, str], path: str) -> tuple[int, dict[str, str], Path]:
    """Run the gate step with bash; (exit code, GITHUB_OUTPUT as a dict, the temp dir)."""
    entry = step("gate")
    out = tmp_path / "github-output"
    out.write_text("")
    env = {"PATH": path, "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(out),
           "GITHUB_STEP_SUMMARY": str(tmp_path / "step-summary.md"), **step_env(entry, inputs)}
    result = subprocess.run(["bash", "-c", entry["run"]], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=300, check=False)
    outputs = dict(line.split("=", 1) for line in out.read_text().splitlines() if "=" in line)
    (tmp_path / "stderr.txt").write_text(result.stderr)
    return result.returncode, outputs, tmp_path


def fake_cli(tmp_path: Path, code: int, scan: Any) -> str:
    """A `perimeter` on PATH that records its argv, prints `scan` as JSON and exits `code`."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "perimeter"
    script.write_text(f"#!/bin/sh\nprintf '%s\\n' \"$@\" > {tmp_path}/argv\necho '{json.dumps(scan)}'\nexit {code}\n")
    script.chmod(0o755)
    return f"{bin_dir}:/usr/bin:/bin"


def sdk_parser_accepts(argv: list[str]) -> str | None:
    """Parse argv with the SDK's own parser: what it read, or None when it refused (skips without the SDK)."""
    if not (SDK_SRC / "perimeter_client" / "cli.py").exists():
        pytest.skip("clients/python (the SDK) is not in this tree yet")
    code = ("import sys; from perimeter_client.cli import build_parser; "
            "a = build_parser().parse_args(sys.argv[1:]); print(a.command, a.fail_under, a.fail_on, a.timeout)")
    result = subprocess.run([sys.executable, "-c", code, *argv], env={**os.environ, "PYTHONPATH": str(SDK_SRC)},
                            capture_output=True, text=True, timeout=60, check=False)
    return result.stdout.strip() if result.returncode == 0 else None


def test_the_action_is_composite_with_the_inputs_and_outputs_the_docs_name() -> None:
    doc = action()
    assert doc["runs"]["using"] == "composite"
    assert set(doc["inputs"]) == INPUTS
    assert {n for n, i in doc["inputs"].items() if i.get("required")} == {"domain", "api-key", "base-url"}
    assert set(doc["outputs"]) == {"grade", "score", "scan-token", "exit-code", "summary", "sbom"}
    for name, output in doc["outputs"].items():
        assert output["value"] == f"${{{{ steps.gate.outputs.{name} }}}}"
    for entry in doc["runs"]["steps"]:
        assert entry["shell"] == "bash"
        assert "${{" not in entry["run"], "inputs reach scripts as env, never spliced into the script"
    used = {EXPR.match(v).group(1) for v in step("gate")["env"].values()}  # type: ignore[union-attr]
    assert used | {"install"} == INPUTS
    assert "clients/python" in step("Install the Perimeter CLI")["run"]


@pytest.mark.parametrize(("inputs", "expected"), [
    ({"domain": "example.com", "fail-under": "B", "fail-on": "medium", "junit": "j.xml", "timeout": "600"},
     {"scan": "example.com", "--timeout": "600", "--fail-under": "B", "--fail-on": "medium", "--junit": "j.xml"}),
    ({"domain": "example.com", "fail-on": ""}, {"scan": "example.com", "--timeout": "900",
                                               "--junit": "perimeter-junit.xml"}),
    ({"domain": "127.0.0.1", "scan-type": "ports", "ports": "22,80"},
     {"--type": "ports", "--ports": "22,80", "--fail-on": "high"}),
])
def test_inputs_become_cli_flags_the_cli_has(tmp_path: Path, inputs: dict[str, str], expected: dict[str, str]) -> None:
    code, outputs, _ = run_gate(tmp_path, inputs, fake_cli(tmp_path, 0, {"scan_token": "t1", "grade": "B",
                                                                         "score": 81}))
    assert code == 0, (tmp_path / "stderr.txt").read_text()
    argv = (tmp_path / "argv").read_text().splitlines()
    assert argv[0] == "scan" and "--wait" in argv and "--json" in argv
    for flag, value in expected.items():
        assert argv[argv.index(flag) + 1] == value, (flag, argv)
    if "fail-under" not in inputs:
        assert "--fail-under" not in argv
    if inputs.get("fail-on") == "":
        assert "--fail-on" not in argv
    assert {a for a in argv if a.startswith("--")} <= DOCUMENTED
    assert outputs == {"grade": "B", "score": "81", "scan-token": "t1", "exit-code": "0",
                       "summary": f"{tmp_path}/perimeter-summary.md", "sbom": ""}


def test_the_sdk_parser_accepts_every_flag_the_action_builds(tmp_path: Path) -> None:
    inputs = {"domain": "127.0.0.1", "fail-under": "B", "fail-on": "low", "junit": "j.xml", "timeout": "60",
              "scan-type": "ports", "ports": "22,80"}
    assert run_gate(tmp_path, inputs, fake_cli(tmp_path, 0, {}))[0] == 0
    argv = (tmp_path / "argv").read_text().splitlines()
    assert sdk_parser_accepts(argv) == "scan B low 60.0"
    assert sdk_parser_accepts([*argv, "--no-such-flag"]) is None


def test_container_inputs_keep_the_password_in_the_environment_and_fetch_the_sbom(tmp_path: Path) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    scan = {"scan_token": "t3", "grade": None, "score": None, "sbom_url": "http://api.test/v1/scans/t3/sbom"}
    (bin_dir / "perimeter").write_text(  # records every call and the password it can read, exits 1 (gate failed)
        f"#!/bin/sh\n{{ printf '%s\\n' \"$@\"; echo ---; }} >> {tmp_path}/argv\n"
        f"printf '%s' \"$INPUT_REGISTRY_PASSWORD\" > {tmp_path}/seen-password\n"
        f"if [ \"$1\" = sbom ]; then echo '{{}}' > \"$4\"; exit 0; fi\necho '{json.dumps(scan)}'\nexit 1\n")
    (bin_dir / "perimeter").chmod(0o755)
    inputs = {"domain": "ghcr.io/org/app:abc123", "scan-type": "container", "severity": "high,critical",
              "ignore-unfixed": "true", "registry-username": "ci-bot", "registry-password": "p4ss-w0rd-secret",
              "sbom": str(tmp_path / "bom.json")}
    code, outputs, _ = run_gate(tmp_path, inputs, f"{bin_dir}:/usr/bin:/bin")
    assert code == 1, (tmp_path / "stderr.txt").read_text()
    scan_argv, sbom_argv = [c.strip().splitlines() for c in (tmp_path / "argv").read_text().split("---")[:2]]
    for flag, value in {"--type": "container", "--severity": "high,critical", "--registry-user": "ci-bot",
                        "--registry-password-env": "INPUT_REGISTRY_PASSWORD", "--fail-on": "high"}.items():
        assert scan_argv[scan_argv.index(flag) + 1] == value, (flag, scan_argv)
    assert "--ignore-unfixed" in scan_argv and "p4ss-w0rd-secret" not in (tmp_path / "argv").read_text()
    assert (tmp_path / "seen-password").read_text() == "p4ss-w0rd-secret"
    assert {a for a in scan_argv if a.startswith("--")} <= DOCUMENTED
    assert sbom_argv == ["sbom", "t3", "-o", str(tmp_path / "bom.json")]
    assert outputs["sbom"] == str(tmp_path / "bom.json") and outputs["exit-code"] == "1"
    assert sdk_parser_accepts(scan_argv) == "scan None high 900.0"


@pytest.mark.parametrize("cli_code", [1, 3, 4])
def test_the_cli_exit_code_fails_the_step_and_outputs_survive(tmp_path: Path, cli_code: int) -> None:
    scan: Any = {"scan_token": "t2", "grade": None, "score": None} if cli_code != 3 else []
    code, outputs, _ = run_gate(tmp_path, {"domain": "example.com"}, fake_cli(tmp_path, cli_code, scan))
    assert code == cli_code
    assert outputs["exit-code"] == str(cli_code)
    assert outputs["grade"] == "" and outputs["score"] == ""
    assert outputs["scan-token"] == ("t2" if cli_code != 3 else "")


@pytest.fixture(scope="module")
def stack() -> Iterator[RunningStack]:
    if not (SDK_SRC / "perimeter_client" / "cli.py").exists():
        pytest.skip("clients/python (the SDK) is not in this tree yet")
    running = start_stack({"PERIMETER_ALLOW_PRIVATE_TARGETS": "127.0.0.0/8", "PERIMETER_RATE_LIMIT": "100000"})
    yield running
    assert running.stop() == 0, "\n".join(running.output[-40:])


@pytest.mark.e2e
@pytest.mark.slow
def test_the_gate_step_with_the_real_cli_against_the_stack(stack: RunningStack, tmp_path: Path) -> None:
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    port = str(listener.getsockname()[1])
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "perimeter").write_text(f"#!/bin/sh\nPYTHONPATH={SDK_SRC} exec {sys.executable} -m perimeter_client "
                                       "\"$@\"\n")
    (bin_dir / "perimeter").chmod(0o755)
    path = f"{bin_dir}:/usr/bin:/bin"
    common = {"domain": "127.0.0.1", "api-key": stack.api_key, "base-url": stack.base_url, "scan-type": "ports",
              "ports": port, "timeout": "120", "junit": str(tmp_path / "junit.xml")}
    try:
        (tmp_path / "pass").mkdir()
        passed, outputs, _ = run_gate(tmp_path / "pass", common, path)
        assert passed == 0, (tmp_path / "pass" / "stderr.txt").read_text()
        assert re.fullmatch(r"\S+", outputs["scan-token"]) and outputs["exit-code"] == "0"
        assert "<testsuite" in (tmp_path / "junit.xml").read_text()
        assert (tmp_path / "pass" / "step-summary.md").read_text().strip()
        (tmp_path / "fail").mkdir()
        failed, outputs, _ = run_gate(tmp_path / "fail", {**common, "fail-on": "info"}, path)
        assert failed == 1, (tmp_path / "fail" / "stderr.txt").read_text()
        assert outputs["exit-code"] == "1" and outputs["scan-token"]
        (tmp_path / "bad-key").mkdir()
        denied, outputs, _ = run_gate(tmp_path / "bad-key", {**common, "api-key": "pk_wrong"}, path)
        assert denied == 3 and outputs["scan-token"] == "", (tmp_path / "bad-key" / "stderr.txt").read_text()
    finally:
        listener.close()
