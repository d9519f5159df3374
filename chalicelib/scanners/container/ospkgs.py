"""OS package databases: os-release, dpkg (`status` and distroless `status.d/`), apk, rpm (sqlite).

Each parser is a pure function of a file's bytes. The OSV ecosystem of the OS packages comes from
os-release (`Debian:12`, `Alpine:v3.19`, `Ubuntu:22.04`, `Rocky Linux:9`, `AlmaLinux:9`).
"""

from __future__ import annotations

import re
import sqlite3
import struct
from dataclasses import dataclass

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
DPKG_STATUS = "var/lib/dpkg/status"
DPKG_STATUS_D = "var/lib/dpkg/status.d/"
APK_INSTALLED = "lib/apk/db/installed"
RPM_SQLITE = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
RPM_LEGACY = ("var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages")
_SOURCE = re.compile(r"^(\S+)(?:\s+\((\S+)\))?$")


@dataclass(frozen=True)
class OsRelease:
    """The distribution: os-release ID, VERSION_ID, PRETTY_NAME, and the OSV ecosystem it maps to."""

    id: str
    version_id: str
    pretty_name: str

    @property
    def ecosystem(self) -> str | None:
        """The OSV ecosystem of this distribution's packages, or None when OSV has none we map."""
        major_minor = ".".join(self.version_id.split(".")[:2])
        major = self.version_id.split(".")[0]
        if self.id == "debian":
            return f"Debian:{major}" if major else "Debian"
        if self.id == "ubuntu":
            return f"Ubuntu:{self.version_id}" if self.version_id else "Ubuntu"
        if self.id == "alpine":
            return f"Alpine:v{major_minor}" if major_minor else "Alpine"
        if self.id == "rocky":
            return f"Rocky Linux:{major}"
        if self.id == "almalinux":
            return f"AlmaLinux:{major}"
        return None

    @property
    def purl_namespace(self) -> str:
        """The purl namespace of the distribution (`debian`, `alpine`, ...)."""
        return self.id or "unknown"

    @property
    def distro(self) -> str:
        """The purl `distro` qualifier (`debian-12`, `alpine-3.19.1`)."""
        return f"{self.id}-{self.version_id}" if self.version_id else self.id


@dataclass(frozen=True)
class OsPackage:
    """One installed OS package: binary name, the source name OSV knows it by, version, arch, epoch (rpm)."""

    name: str
    version: str
    arch: str
    source: str
    source_version: str
    epoch: str = ""


def parse_os_release(data: bytes) -> OsRelease:
    """ID, VERSION_ID and PRETTY_NAME from os-release's shell-style assignments."""
    values: dict[str, str] = {}
    for line in data.decode("utf-8", "replace").splitlines():
        key, sep, value = line.strip().partition("=")
        if sep and key.isidentifier():
            values[key] = value.strip().strip("\"'")
    return OsRelease(id=values.get("ID", "").lower(), version_id=values.get("VERSION_ID", ""),
                     pretty_name=values.get("PRETTY_NAME", ""))


def _paragraphs(text: str) -> list[dict[str, str]]:
    """RFC 822-style stanzas (continuation lines folded), as in dpkg status files."""
    out: list[dict[str, str]] = []
    current: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line.strip():
            if current:
                out.append(current)
            current, key = {}, ""
        elif line[0] in " \t":
            if key:
                current[key] += "\n" + line.strip()
        else:
            key, _, value = line.partition(":")
            current[key] = value.strip()
    if current:
        out.append(current)
    return out


def parse_dpkg(data: bytes) -> list[OsPackage]:
    """Installed packages of a dpkg status file (or one status.d entry: no Status field means installed)."""
    packages = []
    for stanza in _paragraphs(data.decode("utf-8", "replace")):
        status = stanza.get("Status", "install ok installed").split()
        if not stanza.get("Package") or not stanza.get("Version") or status[-1:] != ["installed"]:
            continue
        version = stanza["Version"]
        source, source_version = stanza["Package"], version
        match = _SOURCE.match(stanza.get("Source", ""))
        if match:
            source, source_version = match.group(1), match.group(2) or version
        packages.append(OsPackage(name=stanza["Package"], version=version, arch=stanza.get("Architecture", ""),
                                  source=source, source_version=source_version))
    return packages


def parse_apk(data: bytes) -> list[OsPackage]:
    """Installed packages of apk's `lib/apk/db/installed` (P name, V version, A arch, o origin)."""
    packages = []
    for block in data.decode("utf-8", "replace").split("\n\n"):
        fields: dict[str, str] = {}
        for line in block.splitlines():
            key, sep, value = line.partition(":")
            if sep and len(key) == 1 and key not in fields:
                fields[key] = value
        if fields.get("P") and fields.get("V"):
            packages.append(OsPackage(name=fields["P"], version=fields["V"], arch=fields.get("A", ""),
                                      source=fields.get("o") or fields["P"], source_version=fields["V"]))
    return packages


# rpm header tags and types (rpmtag.h)
_NAME, _VERSION, _RELEASE, _EPOCH, _ARCH, _SOURCERPM = 1000, 1001, 1002, 1003, 1022, 1044
_INT32, _STRING, _I18N = 4, 6, 9


def parse_rpm_header(blob: bytes) -> OsPackage | None:
    """Name, epoch, version, release, arch and source rpm from one rpm header blob; None when unreadable."""
    try:
        count, store_size = struct.unpack_from(">II", blob, 0)
        if count > 10_000 or 8 + count * 16 + store_size > len(blob):
            return None
        store = 8 + count * 16
        values: dict[int, str] = {}
        for i in range(count):
            tag, kind, offset, _n = struct.unpack_from(">iIiI", blob, 8 + i * 16)
            if tag not in (_NAME, _VERSION, _RELEASE, _EPOCH, _ARCH, _SOURCERPM) or not 0 <= offset < store_size:
                continue
            at = store + offset
            if kind == _INT32:
                values[tag] = str(struct.unpack_from(">I", blob, at)[0])
            elif kind in (_STRING, _I18N):
                end = blob.index(b"\x00", at)
                values[tag] = blob[at:end].decode("utf-8", "replace")
    except (struct.error, ValueError):
        return None
    if _NAME not in values or _VERSION not in values:
        return None
    version = values[_VERSION] + (f"-{values[_RELEASE]}" if values.get(_RELEASE) else "")
    epoch = values.get(_EPOCH, "")
    source = values.get(_SOURCERPM, "")
    source_name = source.rsplit("-", 2)[0] if source.count("-") >= 2 else values[_NAME]
    return OsPackage(name=values[_NAME], version=version, arch=values.get(_ARCH, ""), source=source_name,
                     source_version=version, epoch=epoch)


def parse_rpm_sqlite(data: bytes) -> list[OsPackage]:
    """Packages of an rpmdb.sqlite file (loaded in memory, never written to disk); raises ValueError."""
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(data)
        rows = connection.execute("SELECT blob FROM Packages").fetchall()
    except sqlite3.Error as exc:
        raise ValueError(f"rpmdb.sqlite unreadable: {exc}") from None
    finally:
        connection.close()
    return [p for p in (parse_rpm_header(bytes(row[0])) for row in rows) if p is not None]
