"""scripts/package.py: what the Lambda zip holds and leaves out, and the API routes file."""

from __future__ import annotations

import importlib.util
import json
import sys
import zipfile
from pathlib import Path
from types import ModuleType

import pytest

from tests.infra.terraform_config import ROOT


def _package_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("perimeter_package", ROOT / "scripts" / "package.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


package = _package_module()


@pytest.fixture(scope="module")
def app_only_zip(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("dist")
    code = package.main(["--app-only", "--output", str(out / "lambda.zip"), "--routes", str(out / "routes.json")])
    assert code == 0
    return out / "lambda.zip", out / "routes.json"


def test_package_holds_bytecode_for_app_and_every_chalicelib_module(app_only_zip: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(app_only_zip[0]).namelist())
    assert "app.py" in names and "__pycache__/app.cpython-311.pyc" in names
    sources = [n for n in names if n.startswith("chalicelib/") and n.endswith(".py")]
    assert len(sources) > 20
    for source in sources:
        folder, _, file = source.rpartition("/")
        assert f"{folder}/__pycache__/{file[:-3]}.cpython-311.pyc" in names, f"no .pyc for {source}"


def test_bytecode_is_unchecked_hash_based(app_only_zip: tuple[Path, Path]) -> None:
    archive = zipfile.ZipFile(app_only_zip[0])
    header = archive.read("chalicelib/core/__pycache__/contract.cpython-311.pyc")[:16]
    assert int.from_bytes(header[4:8], "little") == 0b01, "hash-based (bit 0) and unchecked (bit 1 clear)"


def test_package_has_no_tests_bench_or_local_caches(app_only_zip: tuple[Path, Path]) -> None:
    names = zipfile.ZipFile(app_only_zip[0]).namelist()
    for name in names:
        top = name.split("/")[0]
        assert top not in {"tests", "bench", "scripts", "infra", "docs", ".venv", "dist", "boto3", "botocore"}, name
        assert "/tests/" not in name and not name.startswith("tests/"), name
    assert not [n for n in names if n.endswith(".pyc") and "__pycache__" not in n]


def test_package_ships_chalice_runtime_asl_and_fonts(app_only_zip: tuple[Path, Path]) -> None:
    names = set(zipfile.ZipFile(app_only_zip[0]).namelist())
    assert {"chalice/__init__.py", "chalice/app.py"} <= names
    assert not [n for n in names if n.startswith("chalice/") and n.endswith(".py")
                and n not in {"chalice/__init__.py", "chalice/app.py"}], "only Chalice's runtime module"
    assert "chalicelib/pipeline/scan-pipeline.asl.json" in names
    for font in package.FONT_FILES:
        assert f"chalicelib/reports/fonts/{font}" in names


def test_package_is_deterministic(app_only_zip: tuple[Path, Path], tmp_path: Path) -> None:
    again = tmp_path / "lambda.zip"
    assert package.main(["--app-only", "--output", str(again), "--routes", str(tmp_path / "r.json")]) == 0
    assert again.read_bytes() == app_only_zip[0].read_bytes()


def test_routes_file_lists_every_chalice_route(app_only_zip: tuple[Path, Path]) -> None:
    import app

    routes = json.loads(app_only_zip[1].read_text())
    assert routes["paths"] == sorted(app.app.routes)
    assert "/v1/health" in routes["paths"]
    assert routes["methods"]["/v1/scans"] == sorted(app.app.routes["/v1/scans"])


def test_boto3_and_chalice_cli_are_left_out_of_the_requirements() -> None:
    pins = package.read_requirements(ROOT / "requirements.txt")
    install, left_out = package.split_requirements(pins, include_boto3=False)
    names = {package.canonical(r.split("==")[0]) for r in install}
    assert not names & {"boto3", "botocore", "s3transfer", "chalice"}
    assert {"pydantic", "fpdf2", "cryptography"} <= names
    assert {package.canonical(r.split("==")[0]) for r in left_out} >= {"boto3", "botocore", "chalice"}
    install_all, _ = package.split_requirements(pins, include_boto3=True)
    assert "boto3" in {package.canonical(r.split("==")[0]) for r in install_all}


def test_unpinned_requirement_is_refused(tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("pydantic>=2\n")
    with pytest.raises(package.PackageError, match="not a pinned requirement"):
        package.read_requirements(requirements)


def test_offline_fallback_copies_the_dependency_closure(tmp_path: Path) -> None:
    copied = package.copy_from_venv(["requests==2.34.2"], tmp_path, skip={"boto3", "botocore"})
    names = {package.canonical(c.split("==")[0]) for c in copied}
    assert names == {"requests", "urllib3", "idna", "certifi", "charset-normalizer"}
    assert (tmp_path / "requests" / "__init__.py").is_file()
    assert not list(tmp_path.rglob("*.pyc")), "bytecode is compiled later, for the package"
