"""The image's software inventory: OS and application packages, each with a purl and the layer it came from.

`INVENTORY_READERS` tell the layer walker which files to read; `build_inventory` turns the merged
view into components. A component carries the OSV ecosystem and name it is matched by (for Debian
and Alpine the source package, which is what their advisories name).
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass, field
from typing import Any

from packageurl import PackageURL

from chalicelib.scanners.container import langpkgs, ospkgs
from chalicelib.scanners.container.gobuild import GoBuild, read_buildinfo
from chalicelib.scanners.container.layers import Entry, FileView

TEXT_CAP = 64 * 1024 * 1024
BINARY_CAP = 256 * 1024 * 1024
JAR_CAP = 128 * 1024 * 1024
MANIFEST_CAP = 16 * 1024 * 1024
_OS_FILES = frozenset({*ospkgs.OS_RELEASE, ospkgs.DPKG_STATUS, ospkgs.APK_INSTALLED, *ospkgs.RPM_SQLITE})


@dataclass(frozen=True)
class Component:
    """One piece of software found in the image."""

    kind: str  # deb, apk, rpm, pypi, npm, golang, maven
    name: str
    version: str
    purl: str
    ecosystem: str | None  # the OSV ecosystem it is matched in (None: not matched)
    match_name: str  # the package name in that ecosystem
    match_version: str
    layer: str
    path: str

    @property
    def bom_type(self) -> str:
        """The CycloneDX component type."""
        return "application" if self.kind == "golang" and self.name.startswith("stdlib") else "library"


@dataclass
class Inventory:
    """Components (unique by purl, first location kept), the OS, and notes on what could not be read."""

    os: ospkgs.OsRelease | None = None
    components: list[Component] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _is_python_metadata(path: str) -> bool:
    parent, base = posixpath.split(path)
    return (base == "METADATA" and parent.endswith(".dist-info")) or (base == "PKG-INFO"
                                                                       and parent.endswith(".egg-info"))


def _is_node_package_json(path: str) -> bool:
    parts = path.split("/")
    if len(parts) < 3 or parts[-1] != "package.json":
        return False
    if parts[-3] == "node_modules":
        return True
    return len(parts) >= 4 and parts[-4] == "node_modules" and parts[-3].startswith("@")


class _Manifests:
    """Package databases and manifests: kept as bytes (bounded)."""

    name = "manifest"

    def wants(self, path: str, size: int, mode: int) -> bool:
        if size > MANIFEST_CAP and path not in ospkgs.RPM_SQLITE:
            return False
        if path in _OS_FILES or path.startswith(ospkgs.DPKG_STATUS_D) or path in ospkgs.RPM_LEGACY:
            return size <= TEXT_CAP
        if _is_python_metadata(path) or _is_node_package_json(path):
            return True
        return posixpath.basename(path) == "package-lock.json" and "/node_modules/" not in f"/{path}"

    def read(self, path: str, data: bytes) -> Any:
        return data


class _GoBinaries:
    """Executables: a Go build's module list (nothing kept for other binaries)."""

    name = "go"

    def wants(self, path: str, size: int, mode: int) -> bool:
        return bool(mode & 0o111) and 1024 < size <= BINARY_CAP

    def read(self, path: str, data: bytes) -> Any:
        return read_buildinfo(data)


class _Jars:
    """Java archives: Maven coordinates of pom.properties inside."""

    name = "jar"

    def wants(self, path: str, size: int, mode: int) -> bool:
        return path.endswith((".jar", ".war", ".ear")) and size <= JAR_CAP

    def read(self, path: str, data: bytes) -> Any:
        return langpkgs.parse_jar(data) or None


INVENTORY_READERS = (_Manifests(), _GoBinaries(), _Jars())


def _purl(kind: str, namespace: str | None, name: str, version: str, qualifiers: dict[str, str] | None = None) -> str:
    return PackageURL(type=kind, namespace=namespace, name=name, version=version,
                      qualifiers={k: v for k, v in (qualifiers or {}).items() if v} or None).to_string()


class _Builder:
    def __init__(self, view: FileView) -> None:
        self.view = view
        self.inventory = Inventory()
        self._seen: set[str] = set()

    def add(self, entry: Entry, path: str, **fields: Any) -> None:
        component = Component(layer=self.view.layer_digest(entry), path=path, **fields)
        if component.purl not in self._seen:
            self._seen.add(component.purl)
            self.inventory.components.append(component)

    def os_packages(self, manifests: dict[str, tuple[Entry, bytes]]) -> None:
        release = next((ospkgs.parse_os_release(manifests[p][1]) for p in ospkgs.OS_RELEASE if p in manifests), None)
        self.inventory.os = release
        namespace = release.purl_namespace if release else "unknown"
        ecosystem = release.ecosystem if release else None
        distro = release.distro if release else ""
        dpkg_files = sorted(p for p in manifests if p == ospkgs.DPKG_STATUS or (
            p.startswith(ospkgs.DPKG_STATUS_D) and not p.endswith(".md5sums")))
        for path in dpkg_files:
            entry, data = manifests[path]
            for pkg in ospkgs.parse_dpkg(data):
                upstream = pkg.source if pkg.source != pkg.name else ""
                self.add(entry, path, kind="deb", name=pkg.name, version=pkg.version,
                         purl=_purl("deb", namespace, pkg.name, pkg.version,
                                    {"arch": pkg.arch, "distro": distro, "upstream": upstream}),
                         ecosystem=ecosystem, match_name=pkg.source, match_version=pkg.source_version)
        if ospkgs.APK_INSTALLED in manifests:
            entry, data = manifests[ospkgs.APK_INSTALLED]
            for pkg in ospkgs.parse_apk(data):
                self.add(entry, ospkgs.APK_INSTALLED, kind="apk", name=pkg.name, version=pkg.version,
                         purl=_purl("apk", namespace, pkg.name, pkg.version, {"arch": pkg.arch, "distro": distro}),
                         ecosystem=ecosystem, match_name=pkg.source, match_version=pkg.version)
        for path in ospkgs.RPM_SQLITE:
            if path in manifests:
                self._rpm(path, manifests[path], namespace, ecosystem, distro)
        for path in ospkgs.RPM_LEGACY:
            if path in self.view.files:
                self.inventory.notes.append(f"{path}: Berkeley DB rpm database not supported (rpm packages not listed)")

    def _rpm(self, path: str, found: tuple[Entry, bytes], namespace: str, ecosystem: str | None, distro: str) -> None:
        entry, data = found
        try:
            packages = ospkgs.parse_rpm_sqlite(data)
        except ValueError as exc:
            self.inventory.notes.append(str(exc))
            return
        for pkg in packages:
            full = f"{pkg.epoch}:{pkg.version}" if pkg.epoch else pkg.version
            self.add(entry, path, kind="rpm", name=pkg.name, version=full,
                     purl=_purl("rpm", namespace, pkg.name, pkg.version,
                                {"arch": pkg.arch, "epoch": pkg.epoch, "distro": distro}),
                     ecosystem=ecosystem, match_name=pkg.name, match_version=full)

    def app_packages(self, manifests: dict[str, tuple[Entry, bytes]]) -> None:
        for path, (entry, data) in sorted(manifests.items()):
            if _is_python_metadata(path):
                meta = langpkgs.parse_python_metadata(data)
                if meta:
                    name = langpkgs.normalise_pypi(meta[0])
                    self.add(entry, path, kind="pypi", name=name, version=meta[1],
                             purl=_purl("pypi", None, name, meta[1]), ecosystem="PyPI", match_name=name,
                             match_version=meta[1])
            elif path.endswith("package-lock.json"):
                try:
                    pairs = langpkgs.parse_package_lock(data)
                except ValueError as exc:
                    self.inventory.notes.append(f"{path}: {exc}")
                    continue
                for name, version in pairs:
                    self._npm(entry, path, name, version)
            elif path.endswith("package.json"):
                pair = langpkgs.parse_package_json(data)
                if pair:
                    self._npm(entry, path, *pair)

    def _npm(self, entry: Entry, path: str, name: str, version: str) -> None:
        scope, _, bare = name.rpartition("/")
        self.add(entry, path, kind="npm", name=name, version=version,
                 purl=_purl("npm", scope or None, bare, version), ecosystem="npm", match_name=name,
                 match_version=version)

    def go(self) -> None:
        for path, entry, build in self.view.results("go"):
            assert isinstance(build, GoBuild)
            go_version = build.go_version.removeprefix("go")
            if go_version:
                self.add(entry, path, kind="golang", name="stdlib", version=go_version,
                         purl=_purl("golang", None, "stdlib", f"v{go_version}"), ecosystem="Go",
                         match_name="stdlib", match_version=go_version)
            for module in ((build.main,) if build.main else ()) + build.deps:
                if not module.version.startswith("v"):
                    continue  # "(devel)": a local build has no released version to match
                namespace, _, name = module.path.rpartition("/")
                self.add(entry, path, kind="golang", name=module.path, version=module.version,
                         purl=_purl("golang", namespace or None, name, module.version), ecosystem="Go",
                         match_name=module.path, match_version=module.version.removeprefix("v"))

    def jars(self) -> None:
        for path, entry, coords in self.view.results("jar"):
            for group, artifact, version in coords:
                self.add(entry, path, kind="maven", name=f"{group}:{artifact}", version=version,
                         purl=_purl("maven", group, artifact, version), ecosystem="Maven",
                         match_name=f"{group}:{artifact}", match_version=version)


def build_inventory(view: FileView) -> Inventory:
    """Every component the merged view shows, OS packages first; never raises for one bad file."""
    builder = _Builder(view)
    manifests = {p: (e, r) for p, e, r in view.results("manifest")}
    builder.os_packages(manifests)
    builder.app_packages(manifests)
    builder.go()
    builder.jars()
    return builder.inventory
