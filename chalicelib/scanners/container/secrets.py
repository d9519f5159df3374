"""Secrets in the image's files and in its config, and the config's misconfigurations.

Evidence is redacted: path, kind, line and a fingerprint (the first 16 hex digits of the secret's
SHA-256, enough to tell two findings apart or match a rotated key), never the secret itself.
Files are bounded (size, count, total bytes); binaries (a NUL in the first 8 KiB) and the usual
test and documentation trees are skipped.
"""

from __future__ import annotations

import hashlib
import posixpath
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

MAX_FILE_BYTES = 512 * 1024
MAX_FILES = 20_000
MAX_TOTAL_BYTES = 128 * 1024 * 1024
MAX_HITS_PER_FILE = 5
_SKIP_DIRS = ("usr/share/doc/", "usr/share/man/", "usr/share/locale/", "usr/include/", "proc/", "sys/")
_SKIP_PARTS = frozenset({"test", "tests", "testdata", "testing", "__pycache__", "fixtures", "examples"})
_SKIP_SUFFIXES = (".pyc", ".so", ".a", ".o", ".gz", ".zip", ".jar", ".png", ".jpg", ".gif", ".svg", ".woff",
                  ".woff2", ".ttf", ".mo", ".md5sums", ".list")

PATTERNS: tuple[tuple[str, re.Pattern[bytes]], ...] = (
    ("private-key", re.compile(rb"-----BEGIN (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?-----"
                               rb"[\s\S]{20,8192}?-----END (?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY")),
    ("aws-access-key-id", re.compile(rb"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])")),
    ("github-token", re.compile(rb"(?<![A-Za-z0-9_])(?:gh[pousr]_[A-Za-z0-9]{36,255}"
                                rb"|github_pat_[A-Za-z0-9_]{60,255})")),
    ("slack-token", re.compile(rb"(?<![A-Za-z0-9-])xox[baprs]-[A-Za-z0-9]{10,48}(?:-[A-Za-z0-9]{10,48}){1,3}")),
)
_ENV_LINE = re.compile(rb"^\s*(?:export\s+)?([A-Za-z0-9_]*(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY)"
                       rb"[A-Za-z0-9_]*)\s*=\s*['\"]?([^'\"\s#]{4,})", re.MULTILINE | re.IGNORECASE)
_SECRET_ENV_NAME = re.compile(r"(?i)(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL)")
_PLACEHOLDER = re.compile(r"(?i)^(changeme|change_me|example|xxx+|\*+|none|null|true|false|\$\{?[A-Z_]+\}?|<.*>)$")
_ADD_URL = re.compile(r"\bADD\s+(?:--\S+\s+)*(https?://\S+)", re.IGNORECASE)
SSHD_PATHS = ("usr/sbin/sshd",)
ROOT_USERS = frozenset({"", "root", "0", "0:0", "root:root"})


@dataclass(frozen=True)
class SecretHit:
    """A redacted secret: kind, 1-based line, fingerprint."""

    kind: str
    line: int
    fingerprint: str


def fingerprint(secret: bytes) -> str:
    """The first 16 hex digits of the secret's SHA-256."""
    return hashlib.sha256(secret).hexdigest()[:16]


def _is_env_file(path: str) -> bool:
    base = posixpath.basename(path)
    return base == ".env" or base.startswith(".env.") or base.endswith(".env")


def scan_text(path: str, data: bytes) -> list[SecretHit]:
    """Redacted hits in one file's bytes (binaries give none)."""
    if b"\x00" in data[:8192]:
        return []
    hits: list[SecretHit] = []
    for kind, pattern in PATTERNS:
        for match in pattern.finditer(data):
            hits.append(SecretHit(kind, data.count(b"\n", 0, match.start()) + 1, fingerprint(match.group(0))))
            if len(hits) >= MAX_HITS_PER_FILE:
                return hits
    if _is_env_file(path):
        for match in _ENV_LINE.finditer(data):
            value = match.group(2)
            if _PLACEHOLDER.match(value.decode("utf-8", "replace")):
                continue
            hits.append(SecretHit("env-file-password", data.count(b"\n", 0, match.start()) + 1, fingerprint(value)))
            if len(hits) >= MAX_HITS_PER_FILE:
                break
    return hits


class SecretReader:
    """Walker reader: small text-like files outside documentation and test trees, bounded in count and bytes."""

    name = "secret"

    def __init__(self) -> None:
        self.files = 0
        self.bytes = 0

    def wants(self, path: str, size: int, mode: int) -> bool:
        if size == 0 or size > MAX_FILE_BYTES or self.files >= MAX_FILES or self.bytes + size > MAX_TOTAL_BYTES:
            return False
        if path.startswith(_SKIP_DIRS) or path.endswith(_SKIP_SUFFIXES):
            return False
        if _SKIP_PARTS.intersection(path.split("/")[:-1]):
            return False
        self.files += 1
        self.bytes += size
        return True

    def read(self, path: str, data: bytes) -> Any:
        return scan_text(path, data) or None


def env_secrets(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(variable name, fingerprint) of ENV entries that carry a secret (by name, or by a known token shape)."""
    out: list[tuple[str, str]] = []
    for item in (config.get("config") or {}).get("Env") or []:
        name, sep, value = str(item).partition("=")
        if not sep or not value or _PLACEHOLDER.match(value):
            continue
        shaped = any(pattern.search(value.encode()) for _, pattern in PATTERNS)
        if shaped or (_SECRET_ENV_NAME.search(name) and len(value) >= 4 and not value.startswith("/")):
            out.append((name, fingerprint(value.encode())))
    return out


def runs_as_root(config: Mapping[str, Any]) -> bool:
    """True when the image's config sets no user or a root one."""
    user = str((config.get("config") or {}).get("User") or "").strip()
    return user in ROOT_USERS


def added_urls(config: Mapping[str, Any]) -> list[str]:
    """URLs fetched by `ADD <url>` in the image history (scheme and host only: a path may hold a token)."""
    urls = []
    for step in config.get("history") or []:
        for match in _ADD_URL.finditer(str((step or {}).get("created_by", ""))):
            scheme, _, rest = match.group(1).partition("://")
            urls.append(f"{scheme}://{rest.split('/', 1)[0].rsplit('@', 1)[-1]}/...")
    return urls
