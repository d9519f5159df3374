"""The TypeScript client's toolchain: node and the pinned tsc (scripts/setup.sh installs it into .tools)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENT = ROOT / "clients" / "typescript"
TSC = ROOT / ".tools" / "node_modules" / ".bin" / "tsc"


def toolchain() -> tuple[str, Path]:
    """(node, tsc); skips when either is missing."""
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (apt-get install nodejs npm; then scripts/setup.sh)")
    if not TSC.exists():
        pytest.skip("typescript is not installed in .tools (scripts/setup.sh installs it where npm exists)")
    return node, TSC


def compile_client(out: Path, project: Path = CLIENT) -> subprocess.CompletedProcess[str]:
    """`tsc -p project --outDir out/dist`, with out/package.json making the output ES modules."""
    _, tsc = toolchain()
    out.mkdir(parents=True, exist_ok=True)
    (out / "package.json").write_text(json.dumps({"type": "module"}))
    return subprocess.run([str(tsc), "-p", str(project), "--outDir", str(out / "dist")],
                          capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="session")
def built_client(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed client compiled once per session; the path of its dist/index.js."""
    out = tmp_path_factory.mktemp("ts-client")
    result = compile_client(out)
    assert result.returncode == 0, result.stdout + result.stderr
    return out / "dist" / "index.js"
