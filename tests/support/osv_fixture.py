"""A handful of handwritten OSV records (not copies of real advisories) and helpers to store them as OSV data."""

from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from chalicelib.scanners.intel.osv import OsvData, osv_files, prune_record, read_osv, write_osv_directory

CVSS_HIGH = "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 8.1
CVSS_MEDIUM = "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:H/I:N/A:N"  # 5.3


def record(osv_id: str, ecosystem: str, name: str, events: Sequence[Mapping[str, str]], *,
           aliases: Sequence[str] = (), severity: str | None = None, db_severity: str | None = None,
           versions: Sequence[str] = (), summary: str = "test advisory") -> dict[str, Any]:
    """One OSV record affecting `name` in `ecosystem` over one ECOSYSTEM range."""
    doc: dict[str, Any] = {"id": osv_id, "modified": "2026-11-01T00:00:00Z", "aliases": list(aliases),
                           "summary": summary,
                           "affected": [{"package": {"ecosystem": ecosystem, "name": name},
                                         "ranges": [{"type": "ECOSYSTEM", "events": list(events)}] if events else [],
                                         "versions": list(versions)}]}
    if severity:
        doc["severity"] = [{"type": "CVSS_V3", "score": severity}]
    if db_severity:
        doc["database_specific"] = {"severity": db_severity}
    return doc


def sample_records() -> list[dict[str, Any]]:
    """Records that hit the sample image (tests/support/oci.py) and some that must not."""
    return [
        record("DEBIAN-TEST-0001", "Debian:12", "openssl", [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u1"}],
               aliases=["CVE-2014-0160"], severity=CVSS_HIGH),
        record("DEBIAN-TEST-0002", "Debian:12", "zlib", [{"introduced": "0"}, {"fixed": "1:1.2.13.dfsg-2"}],
               aliases=["CVE-2099-0002"]),
        record("DEBIAN-TEST-0003", "Debian:12", "zlib", [{"introduced": "0"}, {"fixed": "1.3-1"}],
               aliases=["CVE-2099-0003"]),  # no epoch: 1.3-1 is below 1:1.2.13, so not affected
        record("GHSA-test-requests", "PyPI", "requests", [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}],
               aliases=["CVE-2099-0004"], severity=CVSS_MEDIUM),
        record("GHSA-test-lodash", "npm", "lodash", [{"introduced": "0"}, {"fixed": "4.17.19"}],
               aliases=["CVE-2099-0005"], severity=CVSS_HIGH),
        record("GHSA-test-babel", "npm", "@babel/core", [{"introduced": "0"}], db_severity="LOW"),
        record("GHSA-test-old-lodash", "npm", "lodash", [{"introduced": "0"}, {"fixed": "4.17.12"}]),
    ]


def osv_zip(records: Sequence[Mapping[str, Any]]) -> bytes:
    """An OSV `all.zip` export of `records`."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for rec in records:
            archive.writestr(f"{rec['id']}.json", json.dumps(rec))
    return buffer.getvalue()


def osv_data(records: Sequence[Mapping[str, Any]], version: str = "2026-12-01.1") -> OsvData:
    """OsvData of `records` as a refresh would store them (pruned, per ecosystem)."""
    by_ecosystem: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        pruned = prune_record(rec)
        assert pruned is not None
        by_ecosystem.setdefault(rec["affected"][0]["package"]["ecosystem"], []).append(pruned)
    files = osv_files(by_ecosystem, version, {})
    return read_osv(lambda name: files[name])


def write_osv(root: Path, records: Sequence[Mapping[str, Any]], version: str = "2026-12-01.1") -> Path:
    """Store `records` as OSV data under `root` (PERIMETER_INTEL_DIR's layout)."""
    by_ecosystem: dict[str, list[dict[str, Any]]] = {}
    for rec in records:
        pruned = prune_record(rec)
        assert pruned is not None
        by_ecosystem.setdefault(rec["affected"][0]["package"]["ecosystem"], []).append(pruned)
    return write_osv_directory(root, version, osv_files(by_ecosystem, version, {}))
