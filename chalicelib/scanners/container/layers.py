"""Walk an image's layers into one merged file view, in memory, with whiteouts applied.

Nothing is written to disk. Each layer is a tar (gzip or uncompressed; zstd layers are reported as
unsupported: Python 3.11's standard library cannot read them). Member names are normalised and any
absolute path or `..` escape is dropped. `.wh.<name>` deletes `<name>` from lower layers,
`.wh..wh..opq` empties a directory of lower layers' entries. Only files some reader wants are
read; a reader turns the bytes into a small result at once (a Go binary's module list, a jar's
Maven coordinates), so large binaries are never kept.
"""

from __future__ import annotations

import io
import posixpath
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from chalicelib.scanners.container.image import Layer, Limits

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
MAX_UNCOMPRESSED_LAYER = 8 * 1024 * 1024 * 1024


class Reader(Protocol):
    """Something that wants some files of the image and reduces each to a small result."""

    name: str

    def wants(self, path: str, size: int, mode: int) -> bool:
        """True to be handed this regular file's bytes."""
        ...

    def read(self, path: str, data: bytes) -> Any:
        """The result kept for this file (None: nothing kept)."""
        ...


@dataclass
class Entry:
    """A file of the merged view: the layer it came from, its size and mode, what readers made of it."""

    layer: int
    size: int
    mode: int
    results: dict[str, Any] = field(default_factory=dict)


@dataclass
class FileView:
    """The merged file system: path -> Entry, the layer digests, and notes on anything skipped."""

    files: dict[str, Entry] = field(default_factory=dict)
    layer_digests: list[str] = field(default_factory=list)
    unsupported_layers: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def results(self, reader: str) -> list[tuple[str, Entry, Any]]:
        """(path, entry, result) of every live file `reader` produced a result for, sorted by path."""
        return [(p, e, e.results[reader]) for p, e in sorted(self.files.items()) if e.results.get(reader) is not None]

    def layer_digest(self, entry: Entry) -> str:
        """The digest of the layer an entry came from."""
        return self.layer_digests[entry.layer]


def safe_path(name: str) -> str | None:
    """A member name as a relative path without `.`/`..` parts, or None when it would escape the root."""
    text = name.replace("\\", "/")
    if text.startswith("/") or any(part == ".." for part in text.split("/")):
        return None
    clean = posixpath.normpath(text)
    return None if clean in (".", "") or clean.startswith("../") else clean


def _open_layer(layer: Layer) -> tarfile.TarFile | None:
    head = layer.data[:4]
    if head.startswith(ZSTD_MAGIC):
        return None
    if head.startswith(GZIP_MAGIC):
        return tarfile.open(fileobj=io.BytesIO(layer.data), mode="r:gz")
    return tarfile.open(fileobj=io.BytesIO(layer.data), mode="r:")


def _remove_under(files: dict[str, Entry], directory: str, below_layer: int) -> None:
    prefix = directory + "/"
    for path in [p for p, e in files.items() if (p == directory or p.startswith(prefix)) and e.layer < below_layer]:
        del files[path]


@dataclass
class _LayerPass:
    """One layer's members: whiteouts against lower layers, then this layer's files on top."""

    index: int
    view: FileView
    readers: Sequence[Reader]
    added: dict[str, Entry] = field(default_factory=dict)
    removed: list[str] = field(default_factory=list)
    opaque: list[str] = field(default_factory=list)
    declared: int = 0

    def member(self, tar: tarfile.TarFile, member: tarfile.TarInfo) -> bool:
        """Take one member into account; False when the layer must stop (uncompressed cap)."""
        path = safe_path(member.name)
        if path is None:
            self.view.notes.append(f"unsafe path skipped in layer {self.index}")
            return True
        directory, base = posixpath.split(path)
        if base == OPAQUE:
            self.opaque.append(directory)
        elif base.startswith(WHITEOUT):
            self.removed.append(posixpath.join(directory, base[len(WHITEOUT):]))
        elif member.islnk():
            target = safe_path(member.linkname)
            if target is not None and target in self.added:
                linked = self.added[target]
                self.added[path] = Entry(self.index, linked.size, member.mode, dict(linked.results))
        elif not member.isfile():
            self.added.pop(path, None)
            if member.issym():
                self.removed.append(path)  # a link put over a lower layer's file or directory hides it
        else:
            self.declared += member.size
            if self.declared > MAX_UNCOMPRESSED_LAYER:
                self.view.notes.append(f"layer {self.index} larger than {MAX_UNCOMPRESSED_LAYER} bytes "
                                       "uncompressed; rest skipped")
                return False
            self.added[path] = self._read(tar, member, path)
        return True

    def _read(self, tar: tarfile.TarFile, member: tarfile.TarInfo, path: str) -> Entry:
        entry = Entry(self.index, member.size, member.mode)
        wanting = [r for r in self.readers if r.wants(path, member.size, member.mode)]
        if wanting:
            handle = tar.extractfile(member)
            data = handle.read(member.size) if handle is not None else b""
            for reader in wanting:
                try:
                    entry.results[reader.name] = reader.read(path, data)
                except Exception as exc:  # one odd file must not stop the walk
                    self.view.notes.append(f"{reader.name} could not read {path}: {type(exc).__name__}")
        return entry

    def finish(self) -> None:
        """Apply the whiteouts to the lower layers, then lay this layer's files on top."""
        for directory in self.opaque:
            _remove_under(self.view.files, directory, self.index)
        for path in self.removed:
            _remove_under(self.view.files, path, self.index)
        self.view.files.update(self.added)


def _walk_one(index: int, tar: tarfile.TarFile, view: FileView, readers: Sequence[Reader], limits: Limits,
              counted: list[int]) -> None:
    """Read one layer's members into `view`, counting files against the cap."""
    layer = _LayerPass(index, view, readers)
    for member in tar:
        counted[0] += 1
        if counted[0] > limits.max_files:
            view.notes.append(f"file cap of {limits.max_files} reached; later files not read")
            break
        if not layer.member(tar, member):
            break
    layer.finish()


def walk_layers(layers: Sequence[Layer], readers: Sequence[Reader], limits: Limits | None = None) -> FileView:
    """The merged view of `layers` (bottom first) with each reader's results; never raises for a bad layer."""
    limits = limits or Limits()
    view = FileView(layer_digests=[layer.digest for layer in layers])
    counted = [0]
    for index, layer in enumerate(layers):
        try:
            tar = _open_layer(layer)
        except (tarfile.TarError, OSError, EOFError) as exc:
            view.unsupported_layers.append(layer.digest)
            view.notes.append(f"layer {layer.digest} unreadable: {exc}")
            continue
        if tar is None:
            view.unsupported_layers.append(layer.digest)
            view.notes.append(f"layer {layer.digest} is zstd-compressed: not supported, its files are not inventoried")
            continue
        try:
            with tar:
                _walk_one(index, tar, view, readers, limits, counted)
        except (tarfile.TarError, OSError, EOFError) as exc:
            view.notes.append(f"layer {layer.digest} ended early: {type(exc).__name__}: {exc}")
        if counted[0] > limits.max_files:
            break
    return view
