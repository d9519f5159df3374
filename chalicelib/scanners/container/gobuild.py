"""Go build information from an ELF binary, in pure Python: the Go version, main module and dependencies.

Go 1.18+ writes a `.go.buildinfo` section starting with `\\xff Go buildinf:`; with flag bit 2 set the
Go version and the module info follow as varint-prefixed strings at offset 32. Older binaries (pointer
form) are not read. The module info is the text `go version -m` prints: `path`, `mod`, `dep` and `=>`
(replacement) lines.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

MAGIC = b"\xff Go buildinf:"
ELF_MAGIC = b"\x7fELF"
SECTION = b".go.buildinfo"
FLAG_INLINE = 0x2


@dataclass(frozen=True)
class GoModule:
    """A module compiled into the binary."""

    path: str
    version: str


@dataclass(frozen=True)
class GoBuild:
    """What a Go binary says about itself."""

    go_version: str  # e.g. go1.21.3
    main: GoModule | None
    deps: tuple[GoModule, ...]


def _section(data: bytes) -> bytes | None:
    """The `.go.buildinfo` section's bytes, from the ELF section headers; None when absent or unreadable."""
    if len(data) < 64 or not data.startswith(ELF_MAGIC):
        return None
    wide, endian = data[4] == 2, "<" if data[5] == 1 else ">"
    try:
        if wide:
            shoff, = struct.unpack_from(endian + "Q", data, 0x28)
            shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", data, 0x3A)
        else:
            shoff, = struct.unpack_from(endian + "I", data, 0x20)
            shentsize, shnum, shstrndx = struct.unpack_from(endian + "HHH", data, 0x2E)

        def header(i: int) -> tuple[int, int, int]:
            at = shoff + i * shentsize
            if wide:
                name, = struct.unpack_from(endian + "I", data, at)
                offset, size = struct.unpack_from(endian + "QQ", data, at + 0x18)
            else:
                name, = struct.unpack_from(endian + "I", data, at)
                offset, size = struct.unpack_from(endian + "II", data, at + 0x10)
            return name, offset, size

        if not 0 < shnum < 4096 or shstrndx >= shnum:
            return None
        _, str_off, str_size = header(shstrndx)
        names = data[str_off: str_off + str_size]
        for i in range(shnum):
            name, offset, size = header(i)
            end = names.find(b"\x00", name)
            if names[name:end] == SECTION:
                return data[offset: offset + size]
    except struct.error:
        return None
    return None


def _varint_bytes(data: bytes, at: int) -> tuple[bytes, int]:
    length, shift = 0, 0
    while True:
        if at >= len(data) or shift > 35:
            raise ValueError("truncated varint")
        byte = data[at]
        at += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if at + length > len(data):
        raise ValueError("string beyond the section")
    return data[at: at + length], at + length


def parse_modinfo(text: str) -> tuple[GoModule | None, tuple[GoModule, ...]]:
    """Main module and dependencies from module info text (replacements win over what they replace)."""
    main: GoModule | None = None
    deps: list[GoModule] = []
    for line in text.splitlines():
        fields = line.split("\t")
        if fields[0] == "mod" and len(fields) >= 3:
            main = GoModule(fields[1], fields[2])
        elif fields[0] == "dep" and len(fields) >= 3:
            deps.append(GoModule(fields[1], fields[2]))
        elif fields[0] == "=>" and len(fields) >= 3 and deps:
            deps[-1] = GoModule(fields[1], fields[2])
    return main, tuple(deps)


def read_buildinfo(data: bytes) -> GoBuild | None:
    """The build info of a Go 1.18+ ELF binary, or None (not ELF, not Go, or the older pointer form)."""
    if not data.startswith(ELF_MAGIC):
        return None
    section = _section(data)
    if section is None or not section.startswith(MAGIC):
        at = data.find(MAGIC)
        while at >= 0 and at % 16:
            at = data.find(MAGIC, at + 1)
        if at < 0:
            return None
        section = data[at: at + 64 * 1024 * 1024]
    if len(section) < 32 or not section[15] & FLAG_INLINE:
        return None
    try:
        version, at = _varint_bytes(section, 32)
        modinfo, _ = _varint_bytes(section, at)
    except ValueError:
        return None
    if len(modinfo) >= 33 and modinfo[-17:-16] == b"\n":  # 16-byte sentinels around the text
        modinfo = modinfo[16:-16]
    main, deps = parse_modinfo(modinfo.decode("utf-8", "replace"))
    return GoBuild(go_version=version.decode("utf-8", "replace"), main=main, deps=deps)
