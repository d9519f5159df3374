"""Small OCI images built in Python, written as OCI layout archives or served by a minimal registry on loopback.

`sample_image()` is the usual test image: Debian 12 with openssl and zlib1g at old versions, a Python
package (dist-info), a package-lock.json, a fake private key in /app, and a config with no USER, a
password in ENV and an `ADD <url>` step. `OciRegistry` speaks enough OCI distribution v2 for a pull:
`/v2/`, manifests by tag or digest, blobs, and (optionally) Bearer token auth with a `/token` endpoint
and a 401 challenge, or Basic auth. Knobs let a test tamper a blob, redirect blobs or move the realm.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import random
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.support.httpserver import LocalHTTPServer, Response

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"

# Test-only key material: a syntactically plausible PEM block with random body, not a real key.
FAKE_PRIVATE_KEY = (b"-----BEGIN RSA PRIVATE KEY-----\n"
                    + base64.encodebytes(hashlib.sha512(b"perimeter test key").digest() * 4)
                    + b"-----END RSA PRIVATE KEY-----\n")


def digest_of(data: bytes) -> str:
    """`sha256:<hex>`."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass(frozen=True)
class File:
    """A file in a layer: content and mode; `link` makes a symlink instead."""

    data: bytes = b""
    mode: int = 0o644
    link: str | None = None


def make_layer(files: dict[str, bytes | File], *, compression: str = "gzip") -> bytes:
    """A layer tar (`gzip`, `none`, or `zstd`: a zstd frame header only, for the unsupported path)."""
    if compression == "zstd":
        return b"\x28\xb5\x2f\xfd" + b"\x00" * 64
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path, spec in files.items():
            file = spec if isinstance(spec, File) else File(spec)
            info = tarfile.TarInfo(path)
            info.mtime = 1_700_000_000
            if file.link is not None:
                info.type, info.linkname = tarfile.SYMTYPE, file.link
                tar.addfile(info)
                continue
            info.size, info.mode = len(file.data), file.mode
            tar.addfile(info, io.BytesIO(file.data))
    raw = buffer.getvalue()
    return gzip.compress(raw, mtime=0) if compression == "gzip" else raw


@dataclass
class BuiltImage:
    """Blobs by digest, the manifest (and its digest), the config, and an optional index over it."""

    manifest: bytes
    manifest_digest: str
    config: dict[str, Any]
    blobs: dict[str, bytes] = field(default_factory=dict)
    index: bytes | None = None

    @property
    def top(self) -> tuple[bytes, str, str]:
        """What a pull by tag answers first: (body, digest, media type), the index when there is one."""
        if self.index is not None:
            return self.index, digest_of(self.index), OCI_INDEX
        return self.manifest, self.manifest_digest, OCI_MANIFEST


def build_image(layers: list[bytes], config: dict[str, Any] | None = None, *, with_index: bool = False,
                platform: tuple[str, str] = ("linux", "amd64")) -> BuiltImage:
    """An OCI image of `layers` (bottom first) with `config` merged into a minimal config document."""
    doc: dict[str, Any] = {"architecture": platform[1], "os": platform[0],
                           "rootfs": {"type": "layers", "diff_ids": []}, "config": {}, "history": []}
    doc.update(config or {})
    blobs: dict[str, bytes] = {}
    descriptors = []
    for layer in layers:
        blobs[digest_of(layer)] = layer
        kind = LAYER_ZSTD if layer.startswith(b"\x28\xb5\x2f\xfd") else (
            LAYER_GZIP if layer.startswith(b"\x1f\x8b") else LAYER_TAR)
        descriptors.append({"mediaType": kind, "digest": digest_of(layer), "size": len(layer)})
        raw = gzip.decompress(layer) if layer.startswith(b"\x1f\x8b") else layer
        doc["rootfs"]["diff_ids"].append(digest_of(raw))
    config_bytes = json.dumps(doc, sort_keys=True).encode()
    blobs[digest_of(config_bytes)] = config_bytes
    manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                           "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config_bytes),
                                      "size": len(config_bytes)}, "layers": descriptors}).encode()
    blobs[digest_of(manifest)] = manifest
    index = None
    if with_index:
        other = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "config": {}, "layers": []}).encode()
        blobs[digest_of(other)] = other
        index = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {"mediaType": OCI_MANIFEST, "digest": digest_of(other), "size": len(other),
             "platform": {"os": "linux", "architecture": "arm64"}},
            {"mediaType": OCI_MANIFEST, "digest": digest_of(manifest), "size": len(manifest),
             "platform": {"os": platform[0], "architecture": platform[1]}}]}).encode()
        blobs[digest_of(index)] = index
    return BuiltImage(manifest, digest_of(manifest), doc, blobs, index)


def write_oci_archive(image: BuiltImage, path: Path) -> Path:
    """Write `image` as an OCI image layout tar at `path`."""
    body, digest, media_type = image.top
    index = json.dumps({"schemaVersion": 2, "manifests": [{"mediaType": media_type, "digest": digest,
                                                           "size": len(body)}]}).encode()
    with tarfile.open(path, "w") as tar:
        for name, data in [("oci-layout", b'{"imageLayoutVersion":"1.0.0"}'), ("index.json", index)] + [
                (f"blobs/sha256/{d.removeprefix('sha256:')}", b) for d, b in sorted(image.blobs.items())]:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


DPKG_STATUS = b"""Package: openssl
Status: install ok installed
Priority: optional
Architecture: amd64
Version: 3.0.9-1
Description: Secure Sockets Layer toolkit

Package: libssl3
Status: install ok installed
Architecture: amd64
Source: openssl
Version: 3.0.9-1
Description: libraries

Package: zlib1g
Status: install ok installed
Architecture: amd64
Source: zlib
Version: 1:1.2.13.dfsg-1
Description: compression library

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1
"""
OS_RELEASE = b'PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nNAME="Debian GNU/Linux"\nVERSION_ID="12"\nID=debian\n'
PACKAGE_LOCK = json.dumps({"name": "app", "lockfileVersion": 3, "packages": {
    "": {"name": "app", "version": "1.0.0"},
    "node_modules/lodash": {"version": "4.17.15"},
    "node_modules/@babel/core": {"version": "7.22.0"},
    "node_modules/local-thing": {"link": True, "resolved": "../x"}}}).encode()
REQUESTS_METADATA = b"Metadata-Version: 2.1\nName: Requests\nVersion: 2.25.0\nSummary: HTTP\n\nLong description\n"


def sample_layers() -> list[bytes]:
    """The sample image's three layers: OS base, app, and a top layer that deletes a file."""
    base = make_layer({"etc/os-release": OS_RELEASE, "var/lib/dpkg/status": DPKG_STATUS,
                       "usr/bin/true": File(b"\x7fELF" + b"\x00" * 2000, 0o755), "etc/old.conf": b"x=1\n"})
    app = make_layer({
        "usr/lib/python3/dist-packages/requests-2.25.0.dist-info/METADATA": REQUESTS_METADATA,
        "app/package-lock.json": PACKAGE_LOCK,
        "app/node_modules/lodash/package.json": json.dumps({"name": "lodash", "version": "4.17.15"}).encode(),
        "app/deploy/id_rsa": FAKE_PRIVATE_KEY,
        "app/tests/fixture_key.pem": FAKE_PRIVATE_KEY,  # a test tree: skipped by the secret scan
    })
    top = make_layer({"etc/.wh.old.conf": b""}, compression="none")
    return [base, app, top]


SAMPLE_CONFIG = {"config": {"Env": ["PATH=/usr/bin", "DB_PASSWORD=hunter2-not-real"], "Cmd": ["/app/run"]},
                 "history": [{"created_by": "/bin/sh -c #(nop) ADD https://downloads.example.test/tool.tgz /opt/"}]}


def sample_image(*, with_index: bool = False) -> BuiltImage:
    """The usual test image (see the module docstring)."""
    return build_image(sample_layers(), SAMPLE_CONFIG, with_index=with_index)


def random_loopback() -> str:
    """A random 127.X.Y.Z so parallel runs do not collide."""
    return f"127.{random.randint(100, 250)}.{random.randint(1, 250)}.{random.randint(2, 250)}"


@dataclass
class OciRegistry:
    """A minimal OCI distribution endpoint for one repository on loopback."""

    repository: str
    image: BuiltImage
    tag: str = "1.0"
    auth: str = "none"  # none, basic, bearer
    username: str = "ci-bot"
    password: str = "s3cret-registry-pass"
    realm: str | None = None  # override the Bearer realm URL (default: this server's /token)
    tamper: set[str] = field(default_factory=set)  # blob digests served with altered bytes
    blob_redirect: str | None = None  # redirect every blob GET to this base URL
    host: str = field(default_factory=random_loopback)
    token: str = field(default_factory=lambda: f"tok-{random.getrandbits(64):x}")
    server: LocalHTTPServer | None = None
    bytes_served: int = 0

    @property
    def reference(self) -> str:
        """`<host>:<port>/<repository>:<tag>`."""
        return f"{self.address}/{self.repository}:{self.tag}"

    @property
    def address(self) -> str:
        """`host:port`."""
        assert self.server is not None
        return f"{self.host}:{self.server.port}"

    def start(self) -> OciRegistry:
        """Serve in a daemon thread."""
        self.server = LocalHTTPServer(self.host, default=self._route).start()
        return self

    def stop(self) -> None:
        """Stop serving."""
        if self.server is not None:
            self.server.stop()

    def _authorised(self, headers: dict[str, str]) -> bool:
        given = headers.get("authorization", "")
        if self.auth == "bearer":
            return given == f"Bearer {self.token}"
        if self.auth == "basic":
            return given == "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return True

    def _challenge(self) -> Response:
        if self.auth == "basic":
            return Response(401, [("WWW-Authenticate", 'Basic realm="registry"')], b"{}")
        realm = self.realm or f"http://{self.address}/token"
        return Response(401, [("WWW-Authenticate", f'Bearer realm="{realm}",service="test-registry"')], b"{}")

    def _token(self, headers: dict[str, str]) -> Response:
        expected = "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        if headers.get("authorization") != expected:
            return Response(401, [], b'{"errors":[{"code":"UNAUTHORIZED"}]}')
        return Response(200, [("Content-Type", "application/json")], json.dumps({"token": self.token}).encode())

    def _route(self, path: str, headers: dict[str, str]) -> Response:
        bare = path.split("?")[0]
        if bare == "/token":
            return self._token(headers)
        if not self._authorised(headers):
            return self._challenge()
        if bare == "/v2/":
            return Response(200, [("Content-Type", "application/json")], b"{}")
        prefix = f"/v2/{self.repository}/"
        if not bare.startswith(prefix):
            return Response(404, [], b"{}")
        kind, _, name = bare[len(prefix):].partition("/")
        if kind == "manifests":
            return self._manifest(name)
        if kind == "blobs" and name in self.image.blobs:
            if self.blob_redirect:
                return Response(307, [("Location", f"{self.blob_redirect}/blobs/{name}")], b"")
            data = self.image.blobs[name]
            if name in self.tamper:
                data = data[:-1] + bytes([data[-1] ^ 0xFF])
            self.bytes_served += len(data)
            return Response(200, [("Content-Type", "application/octet-stream")], data)
        return Response(404, [], b'{"errors":[{"code":"BLOB_UNKNOWN"}]}')

    def _manifest(self, name: str) -> Response:
        body, digest, media_type = self.image.top
        if name not in (self.tag, digest):
            if name in self.image.blobs and name.startswith("sha256:"):
                body, digest, media_type = self.image.blobs[name], name, OCI_MANIFEST
            else:
                return Response(404, [], b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        self.bytes_served += len(body)
        return Response(200, [("Content-Type", media_type), ("Docker-Content-Digest", digest)], body)
