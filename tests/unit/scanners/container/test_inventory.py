"""The layer walker and inventory: merged files with whiteouts, each package found with the right purl."""

from __future__ import annotations

import io
import sqlite3
import struct
import zipfile
from pathlib import Path

import pytest

from chalicelib.scanners.container.gobuild import MAGIC, read_buildinfo
from chalicelib.scanners.container.image import Layer
from chalicelib.scanners.container.inventory import INVENTORY_READERS, build_inventory
from chalicelib.scanners.container.layers import safe_path, walk_layers
from chalicelib.scanners.container.ospkgs import parse_apk, parse_dpkg, parse_rpm_sqlite
from tests.support.oci import File, digest_of, make_layer, sample_layers


def _layers(*blobs: bytes) -> list[Layer]:
    return [Layer(digest_of(b), "", b) for b in blobs]


def _purls(layers: list[Layer]) -> dict[str, str]:
    view = walk_layers(layers, INVENTORY_READERS)
    return {c.name: c.purl for c in build_inventory(view).components}


def test_sample_image_inventory_has_each_package_with_its_purl() -> None:
    layers = _layers(*sample_layers())
    inventory = build_inventory(walk_layers(layers, INVENTORY_READERS))
    by_name = {c.name: c for c in inventory.components}
    assert inventory.os is not None and inventory.os.ecosystem == "Debian:12"
    assert by_name["openssl"].purl == "pkg:deb/debian/openssl@3.0.9-1?arch=amd64&distro=debian-12"
    assert by_name["libssl3"].purl == "pkg:deb/debian/libssl3@3.0.9-1?arch=amd64&distro=debian-12&upstream=openssl"
    assert by_name["libssl3"].match_name == "openssl"
    assert by_name["zlib1g"].match_version == "1:1.2.13.dfsg-1"
    assert "removed-thing" not in by_name  # deinstalled
    assert by_name["requests"].purl == "pkg:pypi/requests@2.25.0"
    assert by_name["lodash"].purl == "pkg:npm/lodash@4.17.15"
    assert by_name["@babel/core"].purl == "pkg:npm/%40babel/core@7.22.0"
    assert "local-thing" not in by_name  # a link, not an installed package
    assert by_name["openssl"].layer == layers[0].digest and by_name["lodash"].layer == layers[1].digest


def test_whiteouts_delete_lower_files_and_opaque_directories_empty_them() -> None:
    base = make_layer({"etc/a.conf": b"a", "opt/app/one": b"1", "opt/app/two": b"2", "srv/x": b"x"})
    top = make_layer({"etc/.wh.a.conf": b"", "opt/app/.wh..wh..opq": b"", "opt/app/three": b"3",
                      "srv": File(link="/tmp")})
    view = walk_layers(_layers(base, top), [])
    assert set(view.files) == {"opt/app/three"}


def test_unsafe_member_names_never_enter_the_view() -> None:
    assert safe_path("../../etc/passwd") is None and safe_path("/etc/passwd") is None
    assert safe_path("./usr/./bin/x") == "usr/bin/x"
    layer = make_layer({"../escape": b"x", "ok/file": b"y"}, compression="none")
    view = walk_layers(_layers(layer), [])
    assert set(view.files) == {"ok/file"} and any("unsafe" in n for n in view.notes)


def test_zstd_layers_are_reported_unsupported_not_silently_skipped() -> None:
    zstd = make_layer({}, compression="zstd")
    view = walk_layers(_layers(make_layer({"a": b"1"}), zstd), [])
    assert view.unsupported_layers == [digest_of(zstd)]
    assert any("zstd" in n for n in view.notes)


def test_distroless_status_d_and_alpine_databases_are_read() -> None:
    status_d = make_layer({
        "etc/os-release": b"ID=debian\nVERSION_ID=\"12\"\n",
        "var/lib/dpkg/status.d/libc6": b"Package: libc6\nVersion: 2.36-9+deb12u3\nArchitecture: amd64\n",
        "var/lib/dpkg/status.d/libc6.md5sums": b"abc  lib/x\n"})
    assert _purls(_layers(status_d))["libc6"] == "pkg:deb/debian/libc6@2.36-9%2Bdeb12u3?arch=amd64&distro=debian-12"
    apk = make_layer({"etc/os-release": b"ID=alpine\nVERSION_ID=3.19.1\n", "lib/apk/db/installed":
                      b"P:libcrypto3\nV:3.1.4-r5\nA:x86_64\no:openssl\n\nP:musl\nV:1.2.4_git20230717-r4\nA:x86_64\n"})
    inventory = build_inventory(walk_layers(_layers(apk), INVENTORY_READERS))
    crypto = next(c for c in inventory.components if c.name == "libcrypto3")
    assert crypto.purl == "pkg:apk/alpine/libcrypto3@3.1.4-r5?arch=x86_64&distro=alpine-3.19.1"
    assert (crypto.ecosystem, crypto.match_name) == ("Alpine:v3.19", "openssl")
    assert parse_apk(b"P:a\nV:1-r0\n")[0].source == "a"
    assert parse_dpkg(b"Package: x\nStatus: install ok half-installed\nVersion: 1\n") == []


def _rpm_header(tags: dict[int, str | int]) -> bytes:
    index, store = b"", b""
    for tag, value in tags.items():
        if isinstance(value, int):
            store += b"\x00" * (-len(store) % 4)
            index += struct.pack(">iIiI", tag, 4, len(store), 1)
            store += struct.pack(">I", value)
        else:
            index += struct.pack(">iIiI", tag, 6, len(store), 1)
            store += value.encode() + b"\x00"
    return struct.pack(">II", len(tags), len(store)) + index + store


def test_rpm_sqlite_headers_give_name_epoch_version_release_arch() -> None:
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE Packages (hnum INTEGER PRIMARY KEY, blob BLOB)")
    db.execute("INSERT INTO Packages (blob) VALUES (?)", (_rpm_header(
        {1000: "openssl-libs", 1001: "3.0.7", 1002: "24.el9", 1003: 1, 1022: "x86_64",
         1044: "openssl-3.0.7-24.el9.src.rpm"}),))
    db.commit()
    data = db.serialize()
    db.close()
    pkg = parse_rpm_sqlite(data)[0]
    assert (pkg.name, pkg.version, pkg.epoch, pkg.arch, pkg.source) == ("openssl-libs", "3.0.7-24.el9", "1",
                                                                         "x86_64", "openssl")
    layer = make_layer({"etc/os-release": b'ID="rocky"\nVERSION_ID="9.3"\n', "var/lib/rpm/rpmdb.sqlite": data})
    inventory = build_inventory(walk_layers(_layers(layer), INVENTORY_READERS))
    component = inventory.components[0]
    assert component.purl == "pkg:rpm/rocky/openssl-libs@3.0.7-24.el9?arch=x86_64&distro=rocky-9.3&epoch=1"
    assert (component.ecosystem, component.match_version) == ("Rocky Linux:9", "1:3.0.7-24.el9")


def _go_binary(modinfo: str, version: str = "go1.21.3") -> bytes:
    def varint(n: int) -> bytes:
        out = b""
        while True:
            byte, n = n & 0x7F, n >> 7
            out += bytes([byte | (0x80 if n else 0)])
            if not n:
                return out
    sentinel = b"\x30" * 16
    info = sentinel + modinfo.encode() + b"\n" + sentinel[:-1] + b"\x31"
    body = MAGIC + bytes([8, 2]) + b"\x00" * 16 + varint(len(version)) + version.encode() + varint(len(info)) + info
    return b"\x7fELF\x02\x01" + b"\x00" * 26 + b"\x00" * (64 - 32) + body  # no sections: found by the magic


def test_go_build_info_gives_stdlib_main_module_and_dependencies() -> None:
    modinfo = ("path\texample.com/svc\nmod\texample.com/svc\tv1.4.0\th1:x=\n"
               "dep\tgolang.org/x/net\tv0.10.0\th1:y=\ndep\tgithub.com/old/lib\tv1.0.0\n=>\tgithub.com/new/lib\tv1.1.0\n")
    binary = _go_binary(modinfo)
    build = read_buildinfo(binary)
    assert build is not None and build.go_version == "go1.21.3"
    assert [(m.path, m.version) for m in build.deps] == [("golang.org/x/net", "v0.10.0"),
                                                         ("github.com/new/lib", "v1.1.0")]
    purls = _purls(_layers(make_layer({"usr/local/bin/svc": File(binary + b"\x00" * 2048, 0o755)})))
    assert purls["stdlib"] == "pkg:golang/stdlib@v1.21.3"
    assert purls["golang.org/x/net"] == "pkg:golang/golang.org/x/net@v0.10.0"
    assert purls["github.com/new/lib"] == "pkg:golang/github.com/new/lib@v1.1.0"
    assert read_buildinfo(b"\x7fELF" + b"\x00" * 100) is None


@pytest.mark.skipif(not Path("/usr/bin/docker-registry").exists(), reason="Debian's docker-registry not installed")
def test_a_real_go_binary_reports_its_go_version() -> None:
    build = read_buildinfo(Path("/usr/bin/docker-registry").read_bytes())
    assert build is not None and build.go_version.startswith("go1.")


def test_jars_give_maven_coordinates_including_nested_jars() -> None:
    def jar(entries: dict[str, bytes]) -> bytes:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            for name, data in entries.items():
                archive.writestr(name, data)
        return buffer.getvalue()
    inner = jar({"META-INF/maven/org.apache.logging.log4j/log4j-core/pom.properties":
                 b"groupId=org.apache.logging.log4j\nartifactId=log4j-core\nversion=2.14.1\n"})
    outer = jar({"META-INF/maven/com.example/app/pom.properties": b"#x\ngroupId=com.example\nartifactId=app\n"
                 b"version=1.0\n", "BOOT-INF/lib/log4j-core-2.14.1.jar": inner})
    purls = _purls(_layers(make_layer({"app/app.jar": outer})))
    assert purls["org.apache.logging.log4j:log4j-core"] == "pkg:maven/org.apache.logging.log4j/log4j-core@2.14.1"
    assert purls["com.example:app"] == "pkg:maven/com.example/app@1.0"
