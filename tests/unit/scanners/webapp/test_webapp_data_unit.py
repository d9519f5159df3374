"""The versioned data files load, hold real ranges, and every webapp code is in the scoring table."""

from __future__ import annotations

import json

import pytest

from chalicelib.scanners.webapp.data import Library, libraries, signatures, version_key
from chalicelib.scanners.webapp.findings import CATALOG
from chalicelib.scans.models import SignalKey
from chalicelib.scans.scoring import DEDUCTIONS


def library(name: str) -> Library:
    return next(lib for lib in libraries()[1] if lib.name == name)


def test_data_files_are_versioned_and_compile() -> None:
    version, known = libraries()
    assert version == signatures().version == "2026-12-07"
    assert {lib.name for lib in known} == {"jquery", "angularjs", "bootstrap", "lodash", "moment"}
    assert all(lib.vulnerabilities and lib.file_patterns and lib.content_patterns for lib in known)


@pytest.mark.parametrize(("name", "version", "cves"), [
    ("jquery", "1.12.4", {"CVE-2015-9251", "CVE-2019-11358", "CVE-2020-11022", "CVE-2020-11023"}),
    ("jquery", "3.4.1", {"CVE-2020-11022", "CVE-2020-11023"}),
    ("jquery", "3.5.0", set()),
    ("angularjs", "1.7.8", {"CVE-2019-10768", "CVE-2020-7676"}),
    ("bootstrap", "4.3.1", set()),
    ("bootstrap", "3.4.0", {"CVE-2019-8331"}),
    ("lodash", "4.17.20", {"CVE-2021-23337"}),
    ("moment", "2.29.3", {"CVE-2022-31129"}),
    ("moment", "2.29.4", set()),
])
def test_vulnerable_ranges(name: str, version: str, cves: set[str]) -> None:
    assert {v.cve for v in library(name).affecting(version)} == cves


def test_versions_compare_numerically() -> None:
    assert version_key("1.10.0") > version_key("1.9.1") and version_key("3.5") < version_key("3.5.1")


def test_versions_are_read_from_urls_and_banners() -> None:
    jquery = library("jquery")
    assert any(p.search("/static/jquery-1.8.3.min.js") for p in jquery.file_patterns)
    assert any(p.search("https://cdn.test/ajax/libs/jquery/3.3.1/jquery.min.js") for p in jquery.file_patterns)
    assert next(m.group(1) for p in jquery.content_patterns if (m := p.search("/*! jQuery v2.2.4 | (c)"))) == "2.2.4"
    moment = library("moment")
    assert next(m.group(1) for p in moment.content_patterns if (m := p.search("//! version : 2.18.1\n"))) == "2.18.1"


def test_sql_error_signatures_name_the_database() -> None:
    sig = signatures()
    assert sig.sql_error("sqlite3.OperationalError: unrecognized token: \"'1''\"")[0] == "sqlite"  # type: ignore[index]
    assert sig.sql_error("You have an error in your SQL syntax; check the manual")[0] == "mysql"  # type: ignore[index]
    assert sig.sql_error("Unclosed quotation mark after the character string ''.")[0] == "mssql"  # type: ignore[index]
    assert sig.sql_error("<p>Results for it's</p>") is None


def test_every_webapp_code_is_in_the_scoring_table_at_zero() -> None:
    assert CATALOG.signal is SignalKey.WEBAPP
    assert DEDUCTIONS[SignalKey.WEBAPP] == dict.fromkeys(CATALOG.specs, 0)
    assert all(spec.cwe for code, spec in CATALOG.specs.items() if spec.severity.value != "info")


def test_the_table_file_lists_the_codes_sorted() -> None:
    from pathlib import Path

    import chalicelib.scans as scans

    table = json.loads((Path(scans.__file__).parent / "scoring_tables" / "2026-12.json").read_text())
    assert list(table["deductions"]["webapp"]) == sorted(CATALOG.specs)
