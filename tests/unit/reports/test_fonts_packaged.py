"""The DejaVu faces ship inside the package (the Lambda runtime has no fonts) and are only ever read there."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest

from chalicelib.reports import pdf as pdf_module
from chalicelib.reports.model import report_data
from tests.unit.reports.factories import T0, make_scan

PACKAGE_FONTS = Path(__file__).resolve().parents[3] / "chalicelib" / "reports" / "fonts"


def test_the_package_ships_the_three_faces_and_their_license() -> None:
    names = {p.name for p in PACKAGE_FONTS.iterdir()}
    assert set(pdf_module.FONT_FILES.values()) | {"LICENSE"} <= names
    assert sum((PACKAGE_FONTS / n).stat().st_size for n in pdf_module.FONT_FILES.values()) < 2_000_000
    license_text = (PACKAGE_FONTS / "LICENSE").read_text()
    assert "Bitstream Vera Fonts Copyright" in license_text and "Arev Fonts Copyright" in license_text


def test_the_packaged_faces_are_found_first() -> None:
    pdf_module.find_fonts.cache_clear()
    fonts = pdf_module.find_fonts()
    assert {fonts.regular.parent, fonts.bold.parent, fonts.mono.parent} == {PACKAGE_FONTS}


def test_compaction_writes_only_to_the_temp_dir_never_the_package(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in PACKAGE_FONTS.iterdir()}
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # a fresh /tmp, as on a cold Lambda
    pdf_module.compact_fonts.cache_clear()
    try:
        compact = pdf_module.compact_fonts(pdf_module.find_fonts())
        assert compact is not None
        assert compact.files.regular.is_relative_to(tmp_path)
        body = pdf_module.render_pdf(report_data(make_scan(), None, T0))
        assert body.startswith(b"%PDF-")
    finally:
        pdf_module.compact_fonts.cache_clear()
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in PACKAGE_FONTS.iterdir()}
    assert after == before


def test_an_unwritable_temp_dir_falls_back_to_the_full_faces(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")  # mkdir under a file fails even for root
    monkeypatch.setattr(tempfile, "tempdir", str(blocker))
    pdf_module.compact_fonts.cache_clear()
    try:
        assert pdf_module.compact_fonts(pdf_module.find_fonts()) is None
        data = report_data(make_scan(), None, T0)
        assert pdf_module.fonts_for(data) == pdf_module.find_fonts()
        assert pdf_module.render_pdf(data).startswith(b"%PDF-")
    finally:
        pdf_module.compact_fonts.cache_clear()
