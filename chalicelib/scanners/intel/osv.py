"""OSV vulnerability data: pruned per-ecosystem JSONL files, their manifest, refresh from the OSV exports, loading.

Layout (a directory `PERIMETER_INTEL_DIR` or the key prefix `PERIMETER_INTEL_S3_PREFIX` in the reports
bucket): `<root>/osv/<osv_version>/manifest.json` plus one `<slug>.jsonl` per ecosystem (one OSV
record per line, pruned to what matching reads), and `<root>/osv/latest.json` pointing at the newest.
The manifest holds every file's sha256; a copy that does not check out is not used. A refresh
fetches `<Ecosystem>/all.zip` for each configured ecosystem through the guarded client; if any
ecosystem cannot be fetched or validated nothing is written and the previous data stays.
"""

from __future__ import annotations

import io
import json
import logging
import re
import urllib.parse
import zipfile
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from chalicelib.core.objects import ObjectMissing, ObjectStore
from chalicelib.scanners.intel.build import digest, parse_intel_version

log = logging.getLogger(__name__)

OSV_URL = "https://osv-vulnerabilities.storage.googleapis.com/{ecosystem}/all.zip"
DEFAULT_ECOSYSTEMS = ("Debian:12", "Debian:11", "Alpine:v3.19", "Alpine:v3.20", "Ubuntu:22.04:LTS", "PyPI", "npm",
                      "Go", "Maven")
MAX_ZIP_BYTES = 768 * 1024 * 1024
MAX_RECORDS = 500_000
MAX_RECORD_BYTES = 2 * 1024 * 1024
MAX_VERSIONS = 5_000
MANIFEST = "manifest.json"
LATEST = "latest.json"
_ID = re.compile(r"^[A-Za-z0-9._:-]{3,100}$")
RANGE_TYPES = frozenset({"ECOSYSTEM", "SEMVER"})
EVENT_KEYS = frozenset({"introduced", "fixed", "last_affected", "limit"})

Fetch = Callable[[str, int], bytes]


class OsvError(ValueError):
    """OSV data that matching could not use (bad record, bad manifest, digest mismatch)."""


def slug(ecosystem: str) -> str:
    """A file name for an ecosystem (`Debian:12` -> `Debian_12`)."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", ecosystem)


def _events(raw: Any) -> list[dict[str, str]]:
    out = []
    for event in raw or []:
        if not isinstance(event, dict) or len(event) != 1:
            raise OsvError("an event has exactly one of introduced/fixed/last_affected/limit")
        (key, value), = event.items()
        if key not in EVENT_KEYS or not isinstance(value, str) or not value:
            raise OsvError(f"bad event {event!r}")
        out.append({key: value})
    return out


def prune_record(raw: Mapping[str, Any]) -> dict[str, Any] | None:
    """The fields matching reads of one OSV record; None for a withdrawn one. Raises OsvError."""
    if not isinstance(raw, Mapping) or not _ID.match(str(raw.get("id", ""))):
        raise OsvError(f"record without a valid id: {str(raw.get('id') if isinstance(raw, Mapping) else raw)[:80]}")
    if raw.get("withdrawn"):
        return None
    affected = []
    for item in raw.get("affected") or []:
        package = (item or {}).get("package") or {}
        if not package.get("ecosystem") or not package.get("name"):
            continue
        ranges = [{"type": r["type"], "events": _events(r.get("events"))}
                  for r in item.get("ranges") or [] if isinstance(r, dict) and r.get("type") in RANGE_TYPES]
        versions = [str(v) for v in (item.get("versions") or [])][:MAX_VERSIONS]
        kept: dict[str, Any] = {"package": {"ecosystem": str(package["ecosystem"]), "name": str(package["name"])},
                                "ranges": ranges, "versions": versions}
        for extra in ("ecosystem_specific", "database_specific"):
            value = (item.get(extra) or {}).get("severity") if isinstance(item.get(extra), dict) else None
            if isinstance(value, str):
                kept[extra] = {"severity": value}
        if ranges or versions:
            affected.append(kept)
    severity = [{"type": str(s["type"]), "score": str(s["score"])} for s in raw.get("severity") or []
                if isinstance(s, dict) and s.get("type") and s.get("score")]
    record: dict[str, Any] = {"id": str(raw["id"]), "aliases": [str(a) for a in raw.get("aliases") or []],
                              "modified": str(raw.get("modified", "")), "summary": str(raw.get("summary", ""))[:300],
                              "severity": severity, "affected": affected}
    db_severity = (raw.get("database_specific") or {}).get("severity") if isinstance(
        raw.get("database_specific"), dict) else None
    if isinstance(db_severity, str):
        record["database_specific"] = {"severity": db_severity}
    return record if affected else None


def records_from_zip(body: bytes, ecosystem: str) -> list[dict[str, Any]]:
    """The pruned records of an OSV `all.zip` export, sorted by id; raises OsvError."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except zipfile.BadZipFile as exc:
        raise OsvError(f"{ecosystem}: not a zip archive ({exc})") from None
    records: list[dict[str, Any]] = []
    with archive:
        infos = [i for i in archive.infolist() if i.filename.endswith(".json")]
        if len(infos) > MAX_RECORDS:
            raise OsvError(f"{ecosystem}: more than {MAX_RECORDS} records")
        for info in infos:
            if info.file_size > MAX_RECORD_BYTES:
                continue
            try:
                raw = json.loads(archive.read(info))
            except ValueError as exc:
                raise OsvError(f"{ecosystem}/{info.filename}: not JSON ({exc})") from None
            pruned = prune_record(raw)
            if pruned is not None:
                records.append(pruned)
    return sorted(records, key=lambda r: r["id"])


def encode_records(records: Iterable[Mapping[str, Any]]) -> bytes:
    """JSON lines, one compact record per line."""
    return b"".join((json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n").encode() for r in records)


def osv_files(data: Mapping[str, Sequence[Mapping[str, Any]]], version: str,
              origin: Mapping[str, str]) -> dict[str, bytes]:
    """File name -> bytes of an OSV data version: one JSONL per ecosystem and the manifest with digests."""
    files = {f"{slug(eco)}.jsonl": encode_records(records) for eco, records in sorted(data.items())}
    manifest = {"osv_version": version, "licence": "CC-BY-4.0 (OSV.dev; per-source terms apply)",
                "ecosystems": {eco: {"file": f"{slug(eco)}.jsonl", "records": len(records),
                                     "sha256": digest(files[f"{slug(eco)}.jsonl"]),
                                     "fetched_from": origin.get(eco, "")}
                               for eco, records in sorted(data.items())}}
    files[MANIFEST] = (json.dumps(manifest, indent=1, sort_keys=True) + "\n").encode()
    return files


@dataclass
class OsvData:
    """Loaded OSV records indexed by (ecosystem, package name); `version` is None when there is no data."""

    version: str | None = None
    ecosystems: frozenset[str] = frozenset()
    index: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)

    def records(self, ecosystem: str, name: str) -> list[dict[str, Any]]:
        """Every record naming `name` in `ecosystem`."""
        return self.index.get((ecosystem, name), [])

    def add(self, record: dict[str, Any]) -> None:
        """Index one pruned record under each affected package (once per package)."""
        for item in record.get("affected") or []:
            key = (item["package"]["ecosystem"], item["package"]["name"])
            bucket = self.index.setdefault(key, [])
            if not bucket or bucket[-1] is not record:
                bucket.append(record)


def read_osv(read: Callable[[str], bytes]) -> OsvData:
    """OSV data through `read(name)`, every digest checked; raises OsvError."""
    try:
        manifest = json.loads(read(MANIFEST))
        version = str(manifest["osv_version"])
        if parse_intel_version(version) is None:
            raise OsvError(f"bad osv_version {version!r}")
        data = OsvData(version=version, ecosystems=frozenset(manifest["ecosystems"]))
        for meta in manifest["ecosystems"].values():
            body = read(meta["file"])
            if digest(body) != meta["sha256"]:
                raise OsvError(f"{meta['file']}: sha256 does not match the manifest")
            for line in body.splitlines():
                if line.strip():
                    data.add(json.loads(line))
    except OsvError:
        raise
    except (OSError, ObjectMissing, ValueError, KeyError, TypeError, AttributeError) as exc:
        raise OsvError(f"unreadable OSV data: {type(exc).__name__}: {exc}") from None
    return data


def next_osv_version(today: date, current: str | None) -> str:
    """`<today>.<n>`, n one more than `current`'s on the same day."""
    parsed = parse_intel_version(current) if current else None
    serial = parsed[1] + 1 if parsed and parsed[0] == today.isoformat() else 1
    return f"{today.isoformat()}.{serial}"


def write_osv_directory(root: Path, version: str, files: Mapping[str, bytes]) -> Path:
    """Write `<root>/osv/<version>/`, the manifest last, then point `<root>/osv/latest.json` at it."""
    target = root / "osv" / version
    target.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda n: n == MANIFEST):
        tmp = target / f".{name}.tmp"
        tmp.write_bytes(files[name])
        tmp.replace(target / name)
    pointer = root / "osv" / f".{LATEST}.tmp"
    pointer.write_text(json.dumps({"osv_version": version}) + "\n")
    pointer.replace(root / "osv" / LATEST)
    return target


def write_osv_objects(objects: ObjectStore, prefix: str, version: str, files: Mapping[str, bytes]) -> str:
    """Put `<prefix>/osv/<version>/...`, the manifest last, then the `latest.json` pointer."""
    root = f"{prefix.strip('/')}/osv"
    for name in sorted(files, key=lambda n: n == MANIFEST):
        objects.put(f"{root}/{version}/{name}", files[name], "application/json")
    objects.put(f"{root}/{LATEST}", (json.dumps({"osv_version": version}) + "\n").encode(), "application/json")
    return f"{root}/{version}/"


def _latest(read: Callable[[str], bytes]) -> str | None:
    try:
        return str(json.loads(read(LATEST))["osv_version"])
    except (OSError, ObjectMissing, ValueError, KeyError, TypeError):
        return None


def load_osv(intel_dir: Path | None = None, s3_prefix: str | None = None,
             objects: Callable[[], ObjectStore] | None = None) -> OsvData:
    """The newest valid OSV data of `intel_dir` and `s3_prefix` (in `objects()`); empty OsvData when none."""
    candidates: list[tuple[str, Callable[[str], bytes]]] = []
    if intel_dir is not None:
        base = intel_dir / "osv"
        version = _latest(lambda n: (base / n).read_bytes())
        if version:
            candidates.append((version, lambda n, v=version: (base / v / n).read_bytes()))  # type: ignore[misc]
    if s3_prefix and objects is not None:
        try:
            store = objects()
            root = f"{s3_prefix.strip('/')}/osv"
            version = _latest(lambda n: store.get(f"{root}/{n}"))
            if version:
                candidates.append((version, lambda n, v=version: store.get(f"{root}/{v}/{n}")))  # type: ignore[misc]
        except Exception as exc:  # an unreachable bucket must not stop a scan
            log.warning("OSV data in the object store unavailable: %s", exc)
    for version, read in sorted(candidates, key=lambda c: parse_intel_version(c[0]) or ("", 0), reverse=True):
        try:
            return read_osv(read)
        except OsvError as exc:
            log.warning("OSV data %s ignored: %s", version, exc)
    return OsvData()


@dataclass(frozen=True)
class OsvRefresh:
    """What an OSV refresh wrote."""

    osv_version: str
    location: str
    records: dict[str, int]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready summary."""
        return {"osv_version": self.osv_version, "written_to": self.location, "records": self.records}


def refresh_osv(fetch: Fetch, ecosystems: Sequence[str], today: date, *, out_dir: Path | None = None,
                objects: ObjectStore | None = None, prefix: str = "intel", url: str = OSV_URL) -> OsvRefresh:
    """Fetch, prune and validate every ecosystem's export, then write a new version.

    Raises what `fetch` raises (RefreshFailed) or OsvError before anything is written.
    """
    data: dict[str, list[dict[str, Any]]] = {}
    origin: dict[str, str] = {}
    for ecosystem in ecosystems:
        source = url.format(ecosystem=urllib.parse.quote(ecosystem, safe=":"))
        data[ecosystem] = records_from_zip(fetch(source, MAX_ZIP_BYTES), ecosystem)
        origin[ecosystem] = source
    if out_dir is not None:
        current = _latest(lambda n: (out_dir / "osv" / n).read_bytes())
    elif objects is not None:
        store = objects
        current = _latest(lambda n: store.get(f"{prefix.strip('/')}/osv/{n}"))
    else:
        raise ValueError("refresh_osv needs out_dir or objects")
    version = next_osv_version(today, current)
    files = osv_files(data, version, origin)
    read_osv(lambda name: files[name])  # proven to load before it is written
    location = (str(write_osv_directory(out_dir, version, files)) if out_dir is not None
                else write_osv_objects(objects, prefix, version, files))  # type: ignore[arg-type]
    return OsvRefresh(version, location, {eco: len(records) for eco, records in data.items()})
