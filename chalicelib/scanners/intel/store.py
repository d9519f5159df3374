"""Where the intel comes from: the packaged bundle, a refreshed one in a directory or the reports bucket.

Layout of a refresh (directory `PERIMETER_INTEL_DIR` or key prefix `PERIMETER_INTEL_S3_PREFIX` in the
reports bucket): `<root>/<intel_version>/{manifest.json,kev.json,endoflife.json,release-dates.json}`
and a pointer `<root>/latest.json` (`{"intel_version": ...}`). The newest valid version among the
packaged copy and the configured refreshes wins; a copy whose digests or shapes do not check out is
skipped with a warning. The packaged copy must load (it ships with the code; a test checks it).
"""

from __future__ import annotations

import functools
import json
import logging
import threading
from collections.abc import Callable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from chalicelib.core.objects import ObjectMissing, ObjectStore
from chalicelib.scanners.intel.build import (
    FEED_FILES,
    MANIFEST,
    Bundle,
    BundleError,
    digest,
    parse_intel_version,
)
from chalicelib.scanners.intel.model import Intel

log = logging.getLogger(__name__)

LATEST = "latest.json"
MAX_FILE_BYTES = 8 * 1024 * 1024
Reader = Callable[[str], bytes]


def _packaged(name: str) -> bytes:
    return resources.files("chalicelib.scanners.intel").joinpath("data").joinpath(name).read_bytes()


@functools.cache
def code_tables() -> tuple[dict[str, Any], dict[str, Any]]:
    """products.json and rules.json (shipped with the code, never refreshed)."""
    return json.loads(_packaged("products.json")), json.loads(_packaged("rules.json"))


def read_bundle(read: Reader) -> tuple[dict[str, Any], Bundle]:
    """Manifest and bundle through `read(name)`, every digest checked; raises BundleError."""
    try:
        manifest = json.loads(read(MANIFEST))
        if parse_intel_version(str(manifest.get("intel_version"))) is None:
            raise BundleError(f"manifest: bad intel_version {manifest.get('intel_version')!r}")
        docs: dict[str, Any] = {}
        for name in FEED_FILES:
            body = read(name)
            expected = manifest["files"][name]["sha256"]
            if len(body) > MAX_FILE_BYTES or digest(body) != expected:
                raise BundleError(f"{name}: sha256 does not match the manifest")
            docs[name] = json.loads(body)
    except (OSError, ObjectMissing, ValueError, KeyError, TypeError, AttributeError) as exc:
        if isinstance(exc, BundleError):
            raise
        raise BundleError(f"unreadable bundle: {type(exc).__name__}: {exc}") from None
    return manifest, Bundle(kev=docs["kev.json"], endoflife=docs["endoflife.json"], releases=docs["release-dates.json"])


def build_intel(read: Reader) -> Intel:
    """An Intel from a bundle reader and the code's tables; raises BundleError."""
    manifest, bundle = read_bundle(read)
    products, rules = code_tables()
    return Intel.build(manifest, bundle, products, rules)


@functools.cache
def packaged_intel() -> Intel:
    """The intel shipped in `chalicelib/scanners/intel/data` (loaded once per process); raises BundleError."""
    return build_intel(_packaged)


def _directory_versions(root: Path) -> list[str]:
    versions = [p.name for p in root.iterdir() if p.is_dir() and parse_intel_version(p.name)] if root.is_dir() else []
    return sorted(versions, key=lambda v: parse_intel_version(v) or ("", 0), reverse=True)


def directory_intel(root: Path, newer_than: str) -> Intel | None:
    """The newest valid bundle under `root` newer than `newer_than`, or None (bad copies logged and skipped)."""
    floor = parse_intel_version(newer_than) or ("", 0)
    for version in _directory_versions(root):
        if (parse_intel_version(version) or ("", 0)) <= floor:
            break
        base = root / version
        try:
            return build_intel(lambda name, base=base: (base / name).read_bytes())  # type: ignore[misc]
        except BundleError as exc:
            log.warning("intel bundle %s ignored: %s", base, exc)
    return None


def object_intel(objects: ObjectStore, prefix: str, newer_than: str) -> Intel | None:
    """The bundle `<prefix>/latest.json` points at, when valid and newer than `newer_than`; else None."""
    root = prefix.strip("/")
    try:
        pointer = json.loads(objects.get(f"{root}/{LATEST}"))
        version = str(pointer["intel_version"])
    except ObjectMissing:
        return None
    except Exception as exc:  # a broken pointer must not stop a scan
        log.warning("intel pointer %s/%s ignored: %s", root, LATEST, exc)
        return None
    parsed, floor = parse_intel_version(version), parse_intel_version(newer_than) or ("", 0)
    if parsed is None or parsed <= floor:
        return None
    try:
        intel = build_intel(lambda name: objects.get(f"{root}/{version}/{name}"))
    except Exception as exc:
        log.warning("intel bundle %s/%s ignored: %s", root, version, exc)
        return None
    if intel.version != version:
        log.warning("intel bundle %s/%s ignored: its manifest says %s", root, version, intel.version)
        return None
    return intel


_lock = threading.Lock()
_loaded: dict[tuple[str, str], Intel] = {}


def load_intel(intel_dir: Path | None = None, s3_prefix: str | None = None,
               objects: Callable[[], ObjectStore] | None = None) -> Intel:
    """The newest valid intel among the packaged copy, `intel_dir` and `s3_prefix` (in `objects()`), cached.

    Loaded once per process and configuration. Raises BundleError only when the packaged copy is broken.
    """
    key = (str(intel_dir or ""), s3_prefix or "")
    with _lock:
        if key in _loaded:
            return _loaded[key]
        best = packaged_intel()
        if intel_dir is not None:
            best = directory_intel(intel_dir, best.version) or best
        if s3_prefix and objects is not None:
            try:
                store = objects()
            except Exception as exc:
                log.warning("intel: object store unavailable (%s); using %s", exc, best.version)
            else:
                best = object_intel(store, s3_prefix, best.version) or best
        _loaded[key] = best
        return best


def forget_loaded() -> None:
    """Drop the per-process cache of load_intel (tests, a refresh in the same process)."""
    with _lock:
        _loaded.clear()


def write_directory(root: Path, version: str, files: Mapping[str, bytes]) -> Path:
    """Write a bundle to `<root>/<version>/` and point `<root>/latest.json` at it; raises OSError."""
    target = root / version
    target.mkdir(parents=True, exist_ok=True)
    for name, body in files.items():
        tmp = target / f".{name}.tmp"
        tmp.write_bytes(body)
        tmp.replace(target / name)
    pointer = root / f".{LATEST}.tmp"
    pointer.write_text(json.dumps({"intel_version": version}) + "\n")
    pointer.replace(root / LATEST)
    return target


def write_objects(objects: ObjectStore, prefix: str, version: str, files: Mapping[str, bytes]) -> str:
    """Put a bundle under `<prefix>/<version>/`, the manifest last, then the `latest.json` pointer."""
    root = prefix.strip("/")
    for name in sorted(files, key=lambda n: n == MANIFEST):
        objects.put(f"{root}/{version}/{name}", files[name], "application/json")
    objects.put(f"{root}/{LATEST}", (json.dumps({"intel_version": version}) + "\n").encode(), "application/json")
    return f"{root}/{version}/"
