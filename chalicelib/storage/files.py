"""File-backed ObjectStore: the embedded stack's reports, evidence and logos under the data directory.

An object is the file `root/<key>` (readable as is, so a backup is a copy of the directory); its
content type lives beside it in `root/.meta/<key>`. Writes are atomic (temporary file, fsync,
rename, fsync of the directory): a crash leaves the old object or the new one, never half of one.
Files are 0600 and directories 0700. Keys are checked so that none reaches outside `root`.

Download links point at the API (`{link_base_url}/v1/downloads/{token}`), not at a storage
endpoint: the token carries the key, the expiry and the file name, sealed with HMAC-SHA256 under
`link_key`, and the API serves the object only when `verify_link` accepts it (the embedded stack's
stand-in for S3's presigned URLs, whose signature and expiry moto never checks).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import mimetypes
import os
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from chalicelib.core.errors import LinkExpired, LinkInvalid
from chalicelib.core.objects import ObjectMissing

META_DIR = ".meta"
MAX_KEY_LENGTH = 1024
MAX_TOKEN_LENGTH = 4096
MIN_LINK_KEY_BYTES = 16
_LINK_CONTEXT = b"perimeter/download-link/v1."
_B64URL = re.compile(r"^[A-Za-z0-9_-]+$")
_FILENAME_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class InvalidObjectKey(ValueError):
    """An object key that could name a path outside the store (empty, absolute, `..`, NUL, hidden part)."""


class StoredObject(NamedTuple):
    """An object's bytes and the content type it was stored with."""

    body: bytes
    content_type: str


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    """Strict base64url without padding; raises LinkInvalid."""
    if not _B64URL.match(text):
        raise LinkInvalid("The download link is malformed.")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (binascii.Error, ValueError):
        raise LinkInvalid("The download link is malformed.") from None


def check_key(key: str) -> list[str]:
    """The key's path parts; raises InvalidObjectKey for a key that is not a plain relative path."""
    if not isinstance(key, str) or not 0 < len(key) <= MAX_KEY_LENGTH:
        raise InvalidObjectKey(f"object key must be 1-{MAX_KEY_LENGTH} characters")
    if "\x00" in key or "\\" in key or key.startswith("/"):
        raise InvalidObjectKey(f"object key {key!r} must be a relative path without NUL or backslash")
    parts = key.split("/")
    for part in parts:
        if not part or part in (".", "..") or part.startswith(".") or len(part.encode()) > 255:
            raise InvalidObjectKey(f"object key {key!r} has an empty, dot or hidden path part")
    return parts


class FileObjectStore:
    """ObjectStore over a directory; links signed for the API's download route. Thread- and process-safe.

    Raises ValueError when `link_key` is shorter than 16 bytes.
    """

    def __init__(self, root: Path, link_base_url: str, link_key: bytes, *,
                 clock: Callable[[], float] = time.time) -> None:
        if len(link_key) < MIN_LINK_KEY_BYTES:
            raise ValueError(f"the download link key must have at least {MIN_LINK_KEY_BYTES} bytes")
        self.root = Path(root)
        self.link_base_url = link_base_url.rstrip("/")
        self._link_key = link_key
        self._clock = clock
        self._mkdirs(self.root)

    # -- paths ------------------------------------------------------------------------------------

    def _path(self, key: str, *, meta: bool = False) -> Path:
        """Where `key` (or its metadata) lives; raises InvalidObjectKey."""
        parts = check_key(key)
        base = self.root / META_DIR if meta else self.root
        path = base.joinpath(*parts)
        if not os.path.realpath(path).startswith(os.path.realpath(base) + os.sep):  # a symlinked part
            raise InvalidObjectKey(f"object key {key!r} leaves the store")
        return path

    @staticmethod
    def _mkdirs(path: Path) -> None:
        """Create `path` and its missing parents, each 0700."""
        missing = []
        while not path.exists():
            missing.append(path)
            path = path.parent
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):  # another process was quicker
                directory.mkdir(mode=0o700)

    def _write(self, path: Path, data: bytes) -> None:
        """Atomic replace: temporary file (0600) in the same directory, fsync, rename, fsync the directory."""
        self._mkdirs(path.parent)
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temporary, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temporary)
            raise
        directory = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    # -- ObjectStore --------------------------------------------------------------------------------

    def put(self, key: str, body: bytes, content_type: str) -> None:
        """Store `body` at `key` atomically; raises InvalidObjectKey or OSError."""
        path, meta = self._path(key), self._path(key, meta=True)
        self._write(meta, json.dumps({"content_type": content_type}).encode())
        self._write(path, bytes(body))

    def get(self, key: str) -> bytes:
        """The object's bytes; raises ObjectMissing (or InvalidObjectKey)."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise ObjectMissing(key) from None

    def read(self, key: str) -> StoredObject:
        """The object's bytes and content type; raises ObjectMissing (or InvalidObjectKey)."""
        body = self.get(key)
        try:
            content_type = str(json.loads(self._path(key, meta=True).read_bytes())["content_type"])
        except (OSError, ValueError, KeyError, TypeError):
            content_type = mimetypes.guess_type(key)[0] or "application/octet-stream"
        return StoredObject(body, content_type)

    def presign(self, key: str, expires_in: int, filename: str | None = None) -> str:
        """An API link to `key`, valid `expires_in` seconds, served as an attachment named `filename` when given."""
        self._path(key)
        claims = {"k": key, "e": int(self._clock()) + int(expires_in), "f": filename}
        payload = _b64(json.dumps(claims, separators=(",", ":")).encode())
        return f"{self.link_base_url}/v1/downloads/{payload}.{self._sign(payload)}"

    # -- links --------------------------------------------------------------------------------------

    def _sign(self, payload: str) -> str:
        return _b64(hmac.new(self._link_key, _LINK_CONTEXT + payload.encode("ascii"), hashlib.sha256).digest())

    def verify_link(self, token: str, now: float) -> tuple[str, str | None]:
        """The (key, filename) a link token names; raises LinkInvalid (malformed, bad signature) or LinkExpired."""
        if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
            raise LinkInvalid("The download link is malformed.")
        payload, signature = token.split(".")
        _unb64(payload)
        if not hmac.compare_digest(_unb64(signature), _unb64(self._sign(payload))):
            raise LinkInvalid("The download link's signature does not verify.")
        try:
            claims = json.loads(_unb64(payload))
            key, expires, filename = claims["k"], claims["e"], claims["f"]
        except (ValueError, KeyError, TypeError):
            raise LinkInvalid("The download link is malformed.") from None
        if not isinstance(key, str) or type(expires) is not int or not (filename is None or isinstance(filename, str)):
            raise LinkInvalid("The download link is malformed.")
        try:
            self._path(key)
        except InvalidObjectKey:
            raise LinkInvalid("The download link names no object.") from None
        if now >= expires:
            raise LinkExpired("The download link has expired; ask the API for a new one.")
        return key, filename


def safe_filename(filename: str) -> str:
    """A file name safe inside a quoted Content-Disposition parameter."""
    return _FILENAME_UNSAFE.sub("_", filename)[:200] or "download"
