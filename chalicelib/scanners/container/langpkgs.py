"""Application packages: Python dist-info/egg-info, npm lock files and installed modules, Java jars.

Pure functions of a file's bytes, each returning (name, version) pairs; a jar is opened in memory
with bounds on entries and nesting.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from email.parser import HeaderParser

MAX_JAR_ENTRIES = 20_000
MAX_NESTED_JARS = 200
MAX_NESTED_JAR_BYTES = 32 * 1024 * 1024
MAX_POM_BYTES = 64 * 1024
_PEP503 = re.compile(r"[-_.]+")


def normalise_pypi(name: str) -> str:
    """The PEP 503 normalised project name (what OSV's PyPI records use)."""
    return _PEP503.sub("-", name).lower()


def parse_python_metadata(data: bytes) -> tuple[str, str] | None:
    """(name, version) from a METADATA or PKG-INFO file, or None."""
    head = data.split(b"\n\n", 1)[0].decode("utf-8", "replace")
    headers = HeaderParser().parsestr(head, headersonly=True)
    name, version = headers.get("Name"), headers.get("Version")
    return (str(name).strip(), str(version).strip()) if name and version else None


def parse_package_lock(data: bytes) -> list[tuple[str, str]]:
    """(name, version) of every installed package of a v2/v3 package-lock.json (`packages`); raises ValueError.

    A v1 lock file (only `dependencies`) is read from its nested `dependencies` too.
    """
    doc = json.loads(data)
    if not isinstance(doc, dict):
        raise ValueError("package-lock.json is not an object")
    out: list[tuple[str, str]] = []
    packages = doc.get("packages")
    if isinstance(packages, dict):
        for key, meta in packages.items():
            if not key or not isinstance(meta, dict) or meta.get("link") or "node_modules/" not in key:
                continue
            name = str(meta.get("name") or key.rsplit("node_modules/", 1)[1])
            if meta.get("version"):
                out.append((name, str(meta["version"])))
        return out
    stack = [doc.get("dependencies")]
    while stack:
        deps = stack.pop()
        if not isinstance(deps, dict):
            continue
        for name, meta in deps.items():
            if isinstance(meta, dict) and meta.get("version") and not str(meta["version"]).startswith("file:"):
                out.append((str(name), str(meta["version"])))
                stack.append(meta.get("dependencies"))
    return out


def parse_package_json(data: bytes) -> tuple[str, str] | None:
    """(name, version) of an installed module's package.json, or None."""
    try:
        doc = json.loads(data)
    except ValueError:
        return None
    if isinstance(doc, dict) and isinstance(doc.get("name"), str) and isinstance(doc.get("version"), str):
        return doc["name"], doc["version"]
    return None


def _pom_properties(text: str) -> tuple[str, str, str] | None:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.lstrip().startswith("#"):
            values[key.strip()] = value.strip()
    group, artifact, version = values.get("groupId"), values.get("artifactId"), values.get("version")
    return (group, artifact, version) if group and artifact and version else None


def parse_jar(data: bytes, *, nested: bool = True) -> list[tuple[str, str, str]]:
    """(groupId, artifactId, version) from every META-INF/maven/**/pom.properties in a jar (and jars inside it)."""
    found: list[tuple[str, str, str]] = []
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except (zipfile.BadZipFile, OSError, ValueError):
        return found
    with archive:
        infos = archive.infolist()[:MAX_JAR_ENTRIES]
        inner = 0
        for info in infos:
            name = info.filename
            if name.startswith("META-INF/maven/") and name.endswith("/pom.properties") \
                    and info.file_size <= MAX_POM_BYTES:
                coords = _pom_properties(archive.read(info).decode("utf-8", "replace"))
                if coords:
                    found.append(coords)
            elif nested and name.endswith(".jar") and info.file_size <= MAX_NESTED_JAR_BYTES \
                    and inner < MAX_NESTED_JARS:
                inner += 1
                found.extend(parse_jar(archive.read(info), nested=False))
    return found
