"""Build the Lambda deployment package: `dist/lambda.zip` plus `dist/api-routes.json`.

One zip serves all seven functions of `chalicelib/core/contract.py` (they differ by handler):
app.py, chalicelib/ (with its data files: the ASL, the DejaVu fonts under chalicelib/reports/fonts),
Chalice's runtime module (chalice/__init__.py and chalice/app.py only, as `chalice package` does) and
the runtime requirements from requirements.txt, installed as manylinux2014 CPython 3.11 wheels.
boto3, botocore and s3transfer are left out: the Lambda Python runtime provides them (see
docs/decisions.md; `--include-boto3` vendors the pinned ones instead). Everything is
precompiled (`compileall --invalidation-mode unchecked-hash`: no stat of the source at import, so the
read-only Lambda filesystem costs nothing) and zipped deterministically (sorted entries, fixed
timestamps), so an unchanged tree gives an unchanged `source_code_hash`.

Without access to a package index, the dependencies are copied from the running virtualenv instead,
with a warning: those wheels were chosen for this machine's glibc, not Amazon Linux's.

Prints a JSON report (sizes, sources) and writes it to dist/package.json.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.metadata as metadata
import json
import os
import py_compile
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "dist"
RUNTIME_PYTHON = (3, 11)
PLATFORMS = {"x86_64": "manylinux2014_x86_64", "arm64": "manylinux2014_aarch64"}
# Provided by the Lambda runtime; vendored only with --include-boto3.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore", "s3transfer"})
# Only its runtime module ships (chalice/__init__.py, chalice/app.py), not the CLI and its deps.
CHALICE = "chalice"
CHALICE_RUNTIME_FILES = ("__init__.py", "app.py")
# Never in the package, wherever they come from.
EXCLUDED_DIRS = frozenset({"__pycache__", "tests", "bench", ".mypy_cache", ".pytest_cache", ".ruff_cache"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")
FONT_FILES = ("DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSansMono.ttf")
FIXED_DATE = (1980, 1, 1, 0, 0, 0)
LAMBDA_TASK_ROOT = "/var/task"
ZIP_LIMIT_BYTES = 50 * 1024 * 1024  # direct upload (Terraform `filename`) limit
UNZIPPED_LIMIT_BYTES = 250 * 1024 * 1024  # function + layers, unzipped
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*==\s*([^\s;#]+)")


class PackageError(Exception):
    """The package cannot be built as asked."""


@dataclass
class Report:
    """What was built, for the JSON printed at the end."""

    zip_path: str = ""
    zip_bytes: int = 0
    unzipped_bytes: int = 0
    files: int = 0
    pyc_files: int = 0
    dependencies_source: str = ""
    dependencies: list[str] = field(default_factory=list)
    excluded: list[str] = field(default_factory=list)
    fonts_source: str = ""
    routes: int = 0
    warnings: list[str] = field(default_factory=list)


def canonical(name: str) -> str:
    """PEP 503 normalised distribution name."""
    return re.sub(r"[-_.]+", "-", name).lower()


def read_requirements(path: Path) -> list[tuple[str, str]]:
    """`(name, version)` of every `name==version` line; raises PackageError on an unpinned line."""
    pins: list[tuple[str, str]] = []
    for raw in path.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        match = _REQUIREMENT.match(line)
        if not match:
            raise PackageError(f"{path.name}: not a pinned requirement: {raw!r}")
        pins.append((match.group(1), match.group(3)))
    return pins


def split_requirements(pins: list[tuple[str, str]], include_boto3: bool) -> tuple[list[str], list[str]]:
    """(requirements to install, names left out) for the Lambda package."""
    install, left_out = [], []
    for name, version in pins:
        key = canonical(name)
        if key == CHALICE or (key in RUNTIME_PROVIDED and not include_boto3):
            left_out.append(f"{name}=={version}")
        else:
            install.append(f"{name}=={version}")
    return install, left_out


def pip_install(requirements: list[str], target: Path, arch: str) -> None:
    """Install manylinux CPython 3.11 wheels into `target`; raises PackageError when pip fails."""
    with tempfile.NamedTemporaryFile("w", suffix=".txt", delete=False) as handle:
        handle.write("\n".join(requirements) + "\n")
        req_file = handle.name
    command = [
        sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-compile",
        "--target", str(target), "--platform", PLATFORMS[arch], "--implementation", "cp",
        "--python-version", "3.11", "--only-binary=:all:", "-r", req_file,
    ]
    try:
        result = subprocess.run(command, capture_output=True, text=True, timeout=900, check=False)  # noqa: S603
    finally:
        os.unlink(req_file)
    if result.returncode != 0:
        tail = "\n".join(result.stderr.strip().splitlines()[-5:])
        raise PackageError(f"pip install failed ({result.returncode}): {tail}")


def _closure(requirements: list[str], skip: set[str]) -> list[metadata.Distribution]:
    """The installed distributions `requirements` need, transitively (markers evaluated, extras ignored)."""
    from packaging.requirements import Requirement

    seen: dict[str, metadata.Distribution] = {}
    todo = [Requirement(r) for r in requirements]
    while todo:
        req = todo.pop()
        key = canonical(req.name)
        if key in seen or key in skip:
            continue
        try:
            dist = metadata.distribution(req.name)
        except metadata.PackageNotFoundError as exc:
            raise PackageError(f"{req.name} is not installed in {sys.prefix}") from exc
        seen[key] = dist
        for text in dist.requires or []:
            dep = Requirement(text)
            if dep.marker is None or dep.marker.evaluate({"extra": ""}):
                todo.append(dep)
    return [seen[k] for k in sorted(seen)]


def copy_from_venv(requirements: list[str], target: Path, skip: set[str]) -> list[str]:
    """Copy the installed files of the requirements' closure into `target`; returns `name==version`s."""
    copied = []
    for dist in _closure(requirements, skip):
        base = Path(str(dist.locate_file("")))
        for entry in dist.files or []:
            parts = Path(entry).parts
            if entry.is_absolute() or ".." in parts or EXCLUDED_DIRS & set(parts) or parts[0] == "bin":
                continue
            source = base / entry
            if source.is_file() and not source.name.endswith(EXCLUDED_SUFFIXES):
                destination = target / entry
                destination.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, destination)
        copied.append(f"{dist.metadata['Name']}=={dist.version}")
    return copied


def installed_names(site: Path) -> list[str]:
    """`name==version` of every *.dist-info in `site`."""
    names = []
    for info in sorted(site.glob("*.dist-info")):
        meta = metadata.Distribution.at(info).metadata
        names.append(f"{meta['Name']}=={meta['Version']}")
    return names


def remove_runtime_provided(site: Path) -> list[str]:
    """Delete boto3/botocore/s3transfer if a dependency pulled them in; returns what was removed."""
    removed = []
    for info in sorted(site.glob("*.dist-info")):
        dist = metadata.Distribution.at(info)
        name = dist.metadata["Name"]
        if canonical(name) not in RUNTIME_PROVIDED:
            continue
        for entry in dist.files or []:
            path = site / entry
            if path.is_file():
                path.unlink()
        shutil.rmtree(info, ignore_errors=True)
        removed.append(f"{name}=={dist.version} (pulled in transitively; provided by the runtime)")
    for package in RUNTIME_PROVIDED:
        shutil.rmtree(site / package, ignore_errors=True)
    return removed


def prune(site: Path) -> list[str]:
    """Delete test suites and caches that wheels ship (e.g. certifi/tests); returns the removed dirs."""
    removed = []
    for path in sorted(site.rglob("*"), reverse=True):
        if path.is_dir() and path.name in EXCLUDED_DIRS:
            shutil.rmtree(path)
            removed.append(path.relative_to(site).as_posix() + "/")
    return sorted(r for r in removed if not r.endswith("__pycache__/"))


def add_chalice_runtime(build: Path) -> str:
    """Copy chalice/__init__.py and chalice/app.py of the installed (pinned) Chalice; returns its version."""
    import chalice

    source = Path(chalice.__file__).resolve().parent
    (build / CHALICE).mkdir(parents=True, exist_ok=True)
    for name in CHALICE_RUNTIME_FILES:
        shutil.copy2(source / name, build / CHALICE / name)
    return metadata.version(CHALICE)


def _app_files(root: Path) -> list[Path]:
    """app.py and every file under chalicelib/, minus caches and compiled files (relative paths)."""
    files = [Path("app.py")]
    for path in sorted((root / "chalicelib").rglob("*")):
        rel = path.relative_to(root)
        if path.is_file() and not EXCLUDED_DIRS & set(rel.parts) and not path.name.endswith(EXCLUDED_SUFFIXES):
            files.append(rel)
    return files


def add_app(root: Path, build: Path) -> None:
    """Copy app.py and chalicelib/ into the build tree."""
    for rel in _app_files(root):
        destination = build / rel
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / rel, destination)


def ensure_fonts(build: Path, allow_missing: bool) -> str:
    """Make sure the DejaVu faces the PDF needs are in chalicelib/reports/fonts; returns where they came from.

    The repository's own copies win; otherwise the system's (fonts-dejavu-core) are copied in, because
    the Lambda runtime has no fonts. Raises PackageError when neither has them, unless allowed.
    """
    fonts = build / "chalicelib" / "reports" / "fonts"
    if all((fonts / name).is_file() for name in FONT_FILES):
        return "chalicelib/reports/fonts"
    from chalicelib.reports.pdf import FONT_DIRS

    for directory in FONT_DIRS[1:]:
        if all((directory / name).is_file() for name in FONT_FILES):
            fonts.mkdir(parents=True, exist_ok=True)
            for name in FONT_FILES:
                shutil.copy2(directory / name, fonts / name)
            return str(directory)
    if allow_missing:
        return "missing"
    raise PackageError(f"DejaVu fonts ({', '.join(FONT_FILES)}) not found; render_report would fail on Lambda")


def api_routes(root: Path) -> dict[str, object]:
    """The Chalice routes of app.py: `{"paths": [...], "methods": {path: [...]}}` for API Gateway."""
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    import app as application

    routes = application.app.routes
    return {"paths": sorted(routes), "methods": {path: sorted(routes[path]) for path in sorted(routes)}}


def compile_tree(build: Path) -> None:
    """Precompile every .py in the tree for CPython 3.11; raises PackageError on a syntax error."""
    if sys.version_info[:2] != RUNTIME_PYTHON:
        raise PackageError(f"compile with Python {RUNTIME_PYTHON[0]}.{RUNTIME_PYTHON[1]} (the Lambda runtime), "
                           f"not {sys.version_info[0]}.{sys.version_info[1]}")
    # ddir: tracebacks (and the bytes of every .pyc) name the files where Lambda unpacks them.
    ok = compileall.compile_dir(str(build), quiet=1, workers=1, ddir=LAMBDA_TASK_ROOT,
                                invalidation_mode=py_compile.PycInvalidationMode.UNCHECKED_HASH)
    if not ok:
        raise PackageError("compileall reported errors")


def write_zip(build: Path, destination: Path) -> tuple[int, int, int]:
    """Zip the tree deterministically; returns (files, .pyc files, unzipped bytes)."""
    entries = sorted(p for p in build.rglob("*") if p.is_file())
    destination.parent.mkdir(parents=True, exist_ok=True)
    tmp = destination.with_suffix(".zip.tmp")
    unzipped = pyc = 0
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for path in entries:
            info = zipfile.ZipInfo(path.relative_to(build).as_posix(), date_time=FIXED_DATE)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            data = path.read_bytes()
            archive.writestr(info, data, compresslevel=9)
            unzipped += len(data)
            pyc += path.suffix == ".pyc"
    tmp.replace(destination)
    return len(entries), pyc, unzipped


def _dependencies(args: argparse.Namespace, site: Path, report: Report) -> None:
    """Fill `site` with the third-party packages; records the source in the report."""
    pins = read_requirements(args.requirements)
    install, left_out = split_requirements(pins, args.include_boto3)
    report.excluded = [*left_out, "tests/", "bench/", "scripts/", "infra/", "docs/"]
    if args.app_only:
        report.dependencies_source = "none (--app-only)"
        return
    skip = {CHALICE} | (set() if args.include_boto3 else set(RUNTIME_PROVIDED))
    if not args.offline:
        try:
            pip_install(install, site, args.arch)
            report.dependencies_source = f"pip ({PLATFORMS[args.arch]}, cp311, --only-binary=:all:)"
            report.dependencies = installed_names(site)
            report.excluded += prune(site)
            if not args.include_boto3:
                report.excluded += remove_runtime_provided(site)
            return
        except PackageError as exc:
            report.warnings.append(f"{exc}; falling back to the local virtualenv")
            shutil.rmtree(site, ignore_errors=True)
            site.mkdir(parents=True)
    warning = (f"WARNING: dependencies copied from {sys.prefix} (no package index): its binary wheels match this "
               f"machine, not necessarily Amazon Linux ({PLATFORMS[args.arch]}); rebuild online before deploying.")
    print(warning, file=sys.stderr)
    report.warnings.append(warning)
    report.dependencies_source = f"local virtualenv {sys.prefix}"
    report.dependencies = copy_from_venv(install, site, skip)


def build(args: argparse.Namespace) -> Report:
    """Build the zip and the routes file as `args` say; raises PackageError."""
    report = Report()
    with tempfile.TemporaryDirectory(prefix="perimeter-package-") as tmp:
        tree = Path(tmp) / "build"
        tree.mkdir()
        _dependencies(args, tree, report)
        report.dependencies.append(f"chalice=={add_chalice_runtime(tree)} (runtime module only)")
        add_app(args.root, tree)
        report.fonts_source = ensure_fonts(tree, args.allow_missing_fonts)
        compile_tree(tree)
        report.files, report.pyc_files, report.unzipped_bytes = write_zip(tree, args.output)
    routes = api_routes(args.root)
    args.routes.parent.mkdir(parents=True, exist_ok=True)
    args.routes.write_text(json.dumps(routes, indent=2) + "\n")
    report.routes = len(routes["paths"])  # type: ignore[arg-type]
    report.zip_path = str(args.output)
    report.zip_bytes = args.output.stat().st_size
    if report.unzipped_bytes > UNZIPPED_LIMIT_BYTES:
        raise PackageError(f"unzipped size {report.unzipped_bytes} exceeds Lambda's {UNZIPPED_LIMIT_BYTES}")
    if report.zip_bytes > ZIP_LIMIT_BYTES:
        report.warnings.append("zip exceeds 50 MB: upload it through S3 (aws_lambda_function s3_bucket/s3_key)")
    return report


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--output", type=Path, default=DIST / "lambda.zip", help="the zip to write")
    parser.add_argument("--routes", type=Path, default=DIST / "api-routes.json", help="the routes file to write")
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements.txt")
    parser.add_argument("--root", type=Path, default=ROOT, help="the repository (app.py, chalicelib/)")
    parser.add_argument("--arch", choices=sorted(PLATFORMS), default="x86_64",
                        help="Lambda architecture (Terraform var.lambda_architecture)")
    parser.add_argument("--offline", action="store_true", help="copy dependencies from this virtualenv")
    parser.add_argument("--app-only", action="store_true", help="no third-party packages (tests)")
    parser.add_argument("--include-boto3", action="store_true", help="vendor the pinned boto3/botocore")
    parser.add_argument("--allow-missing-fonts", action="store_true", help="build even without DejaVu fonts")
    return parser


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: builds, prints the JSON report; exit 1 with a message on PackageError."""
    args = _parser().parse_args(argv)
    args.root = args.root.resolve()
    try:
        report = build(args)
    except PackageError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 1
    text = json.dumps({
        "zip": report.zip_path, "zip_bytes": report.zip_bytes, "zip_mb": round(report.zip_bytes / 2**20, 2),
        "unzipped_bytes": report.unzipped_bytes, "unzipped_mb": round(report.unzipped_bytes / 2**20, 2),
        "files": report.files, "pyc_files": report.pyc_files, "api_routes": report.routes,
        "dependencies_source": report.dependencies_source, "dependencies": report.dependencies,
        "excluded": report.excluded, "fonts_source": report.fonts_source, "warnings": report.warnings,
        "limits": {"zip_bytes": ZIP_LIMIT_BYTES, "unzipped_bytes": UNZIPPED_LIMIT_BYTES},
    }, indent=2)
    args.output.with_name("package.json").write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
