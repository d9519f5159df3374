"""Image references: `registry.example.com[:port]/repo[/...][:tag][@sha256:<hex>]` or `oci-archive:<path>`.

The registry must be named: a Docker Hub short name (`library/nginx`, `nginx`) is refused, since the
scan contacts only the registry the partner names and Docker Hub's token realm and blob storage live
on other hosts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from chalicelib.net.guard import parse_ip

ARCHIVE_PREFIX = "oci-archive:"
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REPO = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
_DIGEST = re.compile(r"^sha256:[a-f0-9]{64}$")
_HOST = re.compile(r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}"
                   r"[A-Za-z0-9])?)*$")
_ECR = re.compile(r"^\d{12}\.dkr\.ecr(?:-fips)?\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?$")


class BadReference(ValueError):
    """A target that is not an image reference this scanner accepts."""


@dataclass(frozen=True)
class ImageReference:
    """A parsed registry reference: host (IDNA/IP, no port), port (None: default), repository, tag, digest."""

    host: str
    port: int | None
    repository: str
    tag: str | None
    digest: str | None

    @property
    def registry(self) -> str:
        """`host[:port]` as written in the reference (IPv6 bracketed)."""
        shown = f"[{self.host}]" if ":" in self.host else self.host
        return shown if self.port is None else f"{shown}:{self.port}"

    @property
    def selector(self) -> str:
        """What the manifest request names: the digest when given, else the tag (default `latest`)."""
        return self.digest or self.tag or "latest"

    @property
    def ecr_region(self) -> str | None:
        """The AWS region of an ECR registry host, else None."""
        match = _ECR.match(self.host)
        return match.group(1) if match else None

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}"
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


@dataclass(frozen=True)
class ArchiveReference:
    """A local OCI layout archive (a tar of `oci-layout`, `index.json` and `blobs/`)."""

    path: str

    def __str__(self) -> str:
        return f"{ARCHIVE_PREFIX}{self.path}"


def _split_host(first: str) -> tuple[str, int | None]:
    if first.startswith("["):
        host, _, rest = first[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise BadReference(f"bad registry {first!r}")
    else:
        host, _, port_text = first.partition(":")
    port: int | None = None
    if port_text:
        if not port_text.isdigit() or not 0 < int(port_text) < 65536:
            raise BadReference(f"bad registry port in {first!r}")
        port = int(port_text)
    literal = parse_ip(host)
    if literal is not None:
        return str(literal), port
    if not _HOST.match(host) or len(host) > 253:
        raise BadReference(f"bad registry host {host!r}")
    return host.lower(), port


def parse_reference(target: str) -> ImageReference | ArchiveReference:
    """Parse a container scan target; raises BadReference with a readable reason."""
    text = target.strip()
    if text.startswith(ARCHIVE_PREFIX):
        path = text[len(ARCHIVE_PREFIX):]
        if not path or "\x00" in path:
            raise BadReference("oci-archive: needs a file path")
        return ArchiveReference(path)
    if "://" in text:
        raise BadReference("an image reference has no scheme: registry.example.com/repo:tag")
    name, _, digest = text.partition("@")
    if digest and not _DIGEST.match(digest):
        raise BadReference(f"bad digest {digest!r}: sha256:<64 hex digits> expected")
    first, slash, rest = name.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost" or first.startswith("[")):
        raise BadReference(f"{target!r} names no registry; Docker Hub short names are not scanned: "
                             "give the full reference, e.g. registry.example.com/team/app:1.2")
    host, port = _split_host(first)
    repository, tag = rest, None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        repository, _, tag = rest.rpartition(":")
        if not _TAG.match(tag):
            raise BadReference(f"bad tag {tag!r}")
    if not _REPO.match(repository) or len(repository) > 255:
        raise BadReference(f"bad repository {repository!r} (lower-case path components)")
    return ImageReference(host=host, port=port, repository=repository, tag=tag, digest=digest or None)
