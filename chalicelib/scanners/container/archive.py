"""Read an OCI image layout archive (`oci-archive:<path>`): a tar holding `oci-layout`, `index.json`, `blobs/`.

A pure function of a path or a stream: nothing is written to disk, every blob is verified against
its digest, and the same caps as a registry pull apply. The first manifest of `index.json` is
scanned (an index in it is followed to the requested platform).
"""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import IO

from chalicelib.scanners.container.image import (
    MAX_MANIFEST_BYTES,
    Image,
    ImageError,
    Limits,
    check_digest,
    load_json,
    resolve_image,
)

_BLOB_PREFIX = "blobs/sha256/"


def _member_name(name: str) -> str:
    return name[2:] if name.startswith("./") else name


def _read_members(stream: IO[bytes], limits: Limits) -> dict[str, bytes]:
    """The archive's regular files by name, capped; raises ImageError."""
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as tar:
            for count, member in enumerate(tar):
                if count > limits.max_files:
                    raise ImageError(f"archive has more than {limits.max_files} entries")
                if not member.isfile():
                    continue
                name = _member_name(member.name)
                if name not in ("index.json", "oci-layout") and not name.startswith(_BLOB_PREFIX):
                    continue
                if member.size > limits.max_layer_bytes:
                    raise ImageError(f"archive member {name} is {member.size} bytes: more than the layer cap")
                total += member.size
                if total > limits.max_total_bytes:
                    raise ImageError(f"archive holds more than {limits.max_total_bytes} bytes")
                handle = tar.extractfile(member)
                if handle is not None:
                    files[name] = handle.read(member.size)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise ImageError(f"not a readable OCI archive: {exc}") from None
    return files


def read_oci_archive(stream: IO[bytes], *, source: str = "oci-archive", platform: str = "linux/amd64",
                     limits: Limits | None = None) -> Image:
    """The image in an OCI layout archive read from `stream`; raises ImageError."""
    limits = limits or Limits()
    files = _read_members(stream, limits)
    if "index.json" not in files:
        raise ImageError("not an OCI layout archive: no index.json")
    try:
        layout = json.loads(files.get("oci-layout", b"{}"))
    except ValueError:
        layout = {}
    if layout.get("imageLayoutVersion", "1.0.0") != "1.0.0":
        raise ImageError(f"unsupported OCI layout version {layout.get('imageLayoutVersion')!r}")
    index = load_json(files["index.json"], "index.json")
    entries = [e for e in index.get("manifests") or [] if isinstance(e, dict)]
    if not entries:
        raise ImageError("index.json lists no manifest")
    first = entries[0]
    digest = str(first.get("digest", ""))

    def read_blob(blob_digest: str, max_bytes: int) -> bytes:
        name = _BLOB_PREFIX + blob_digest.removeprefix("sha256:")
        if not blob_digest.startswith("sha256:") or name not in files:
            raise ImageError(f"blob {blob_digest} is not in the archive")
        data = files[name]
        if len(data) > max_bytes:
            raise ImageError(f"blob {blob_digest} is larger than its cap")
        return data

    manifest = read_blob(digest, MAX_MANIFEST_BYTES)
    check_digest(digest, manifest, "manifest")
    return resolve_image(source, manifest, digest, first.get("mediaType"), read_blob, platform, limits)


def read_oci_archive_file(path: str | Path, *, platform: str = "linux/amd64", limits: Limits | None = None) -> Image:
    """`read_oci_archive` on a file; raises ImageError (also for a missing or unreadable file)."""
    try:
        with open(path, "rb") as handle:
            return read_oci_archive(handle, source=f"oci-archive:{Path(path).name}", platform=platform,
                                    limits=limits)
    except OSError as exc:
        raise ImageError(f"cannot open the archive: {exc.strerror or exc}") from None
