"""What a pulled image is, whatever it came from: manifest digest, config, layers (verified bytes).

The registry client and the archive reader share the manifest rules here: media types, picking one
platform from an index, and checking that every blob's bytes hash to the digest that names them.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = frozenset({OCI_INDEX, DOCKER_LIST})
MANIFEST_TYPES = frozenset({OCI_MANIFEST, DOCKER_MANIFEST})
ACCEPT = ", ".join((OCI_MANIFEST, DOCKER_MANIFEST, OCI_INDEX, DOCKER_LIST))
_DIGEST = re.compile(r"^sha256:([a-f0-9]{64})$")
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_CONFIG_BYTES = 8 * 1024 * 1024


class ImageError(Exception):
    """The image cannot be read: unknown media type, no matching platform, a digest mismatch, a cap."""


@dataclass(frozen=True)
class Limits:
    """Caps on what one scan reads: bytes per layer (compressed), all layers, files walked."""

    max_layer_bytes: int = 512 * 1024 * 1024
    max_total_bytes: int = 2 * 1024 * 1024 * 1024
    max_files: int = 500_000
    max_layers: int = 128


@dataclass(frozen=True)
class Layer:
    """One layer: its digest, media type and (verified) compressed bytes."""

    digest: str
    media_type: str
    data: bytes = field(repr=False)

    @property
    def size(self) -> int:
        """Bytes as pulled."""
        return len(self.data)


@dataclass
class Image:
    """A pulled or unpacked image: where from, the manifest digest, config document, layers, what was read."""

    source: str
    digest: str
    config: dict[str, Any]
    layers: list[Layer]
    bytes_read: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def platform(self) -> str:
        """`os/arch[/variant]` from the config."""
        parts = [str(self.config.get("os", "")), str(self.config.get("architecture", ""))]
        if self.config.get("variant"):
            parts.append(str(self.config["variant"]))
        return "/".join(parts)


def sha256_digest(data: bytes) -> str:
    """`sha256:<hex>` of `data`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def check_digest(expected: str, data: bytes, what: str) -> None:
    """Raise ImageError unless `expected` is a sha256 digest and `data` hashes to it."""
    if not _DIGEST.match(expected or ""):
        raise ImageError(f"{what}: unsupported digest {expected!r} (sha256 only)")
    if sha256_digest(data) != expected:
        raise ImageError(f"{what}: content does not match its digest {expected}")


def load_json(data: bytes, what: str) -> dict[str, Any]:
    """A JSON object from `data`; raises ImageError."""
    try:
        doc = json.loads(data)
    except ValueError as exc:
        raise ImageError(f"{what}: not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise ImageError(f"{what}: not a JSON object")
    return doc


def media_type_of(doc: Mapping[str, Any], header: str | None = None) -> str:
    """The manifest's media type: its own field, else the Content-Type, else guessed from its shape."""
    declared = doc.get("mediaType") or (header or "").split(";")[0].strip()
    if declared:
        return str(declared)
    return OCI_INDEX if "manifests" in doc else OCI_MANIFEST


def _platform_key(entry: Mapping[str, Any]) -> str:
    platform = entry.get("platform") or {}
    parts = [str(platform.get("os", "")), str(platform.get("architecture", ""))]
    if platform.get("variant"):
        parts.append(str(platform["variant"]))
    return "/".join(parts)


def pick_platform(index: Mapping[str, Any], platform: str) -> dict[str, Any]:
    """The index entry for `platform` (`os/arch[/variant]`; no variant asked: any); raises ImageError."""
    entries = [e for e in index.get("manifests") or [] if isinstance(e, dict)]
    wanted = platform.split("/")
    for entry in entries:
        have = _platform_key(entry).split("/")
        if have[:2] == wanted[:2] and (len(wanted) < 3 or have[2:3] == wanted[2:3]):
            return entry
    if len(entries) == 1 and not entries[0].get("platform"):
        return entries[0]
    offered = ", ".join(sorted({_platform_key(e) for e in entries})) or "none"
    raise ImageError(f"no {platform} image in the index (offered: {offered})")


BlobReader = Callable[[str, int], bytes]
"""`read(digest, max_bytes) -> bytes` (not yet verified); raises ImageError."""


def resolve_image(source: str, manifest_bytes: bytes, manifest_digest: str, content_type: str | None,
                  read_blob: BlobReader, platform: str, limits: Limits) -> Image:
    """Follow an index to one platform's manifest, then read config and layers, each verified; raises ImageError."""
    doc = load_json(manifest_bytes, "manifest")
    kind = media_type_of(doc, content_type)
    notes: list[str] = []
    total = len(manifest_bytes)
    if kind in INDEX_TYPES:
        entry = pick_platform(doc, platform)
        manifest_digest = str(entry.get("digest", ""))
        manifest_bytes = read_blob(manifest_digest, MAX_MANIFEST_BYTES)
        check_digest(manifest_digest, manifest_bytes, "platform manifest")
        total += len(manifest_bytes)
        doc = load_json(manifest_bytes, "platform manifest")
        kind = media_type_of(doc, entry.get("mediaType"))
        notes.append(f"index resolved to {platform} manifest {manifest_digest}")
    if kind not in MANIFEST_TYPES:
        raise ImageError(f"unsupported manifest media type {kind!r}")
    config_desc = doc.get("config") or {}
    config_bytes = read_blob(str(config_desc.get("digest", "")), MAX_CONFIG_BYTES)
    check_digest(str(config_desc.get("digest", "")), config_bytes, "config")
    total += len(config_bytes)
    config = load_json(config_bytes, "config")
    layers_desc = [d for d in doc.get("layers") or [] if isinstance(d, dict)]
    if len(layers_desc) > limits.max_layers:
        raise ImageError(f"{len(layers_desc)} layers: more than the cap of {limits.max_layers}")
    declared = sum(int(d.get("size") or 0) for d in layers_desc)
    if declared > limits.max_total_bytes:
        raise ImageError(f"layers total {declared} bytes: more than the cap of {limits.max_total_bytes}")
    layers: list[Layer] = []
    for desc in layers_desc:
        digest, size = str(desc.get("digest", "")), int(desc.get("size") or 0)
        if size > limits.max_layer_bytes:
            raise ImageError(f"layer {digest} is {size} bytes: more than the cap of {limits.max_layer_bytes}")
        data = read_blob(digest, min(limits.max_layer_bytes, max(size, 0) or limits.max_layer_bytes))
        check_digest(digest, data, f"layer {digest}")
        total += len(data)
        if total > limits.max_total_bytes:
            raise ImageError(f"more than {limits.max_total_bytes} bytes read")
        layers.append(Layer(digest=digest, media_type=str(desc.get("mediaType", "")), data=data))
    return Image(source=source, digest=manifest_digest, config=config, layers=layers, bytes_read=total, notes=notes)
