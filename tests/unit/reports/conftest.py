"""Fixtures for the report tests: scan and branding factories, rendered reports, poppler helpers."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from chalicelib.reports.branding import Branding
from chalicelib.reports.model import ReportData, report_data
from chalicelib.scans.models import Finding, Scan
from tests.unit.reports.factories import T0, make_branding, make_findings, make_scan


@pytest.fixture
def scan_factory() -> Callable[..., Scan]:
    """Build a scored posture scan (40 findings over every signal and severity by default)."""
    return make_scan


@pytest.fixture
def findings_factory() -> Callable[[int], list[Finding]]:
    """Build `n` findings cycling over every signal and severity."""
    return make_findings


@pytest.fixture
def branding_factory() -> Callable[..., Branding]:
    """Build partner branding (logo, colours, contact card); keyword arguments override fields."""
    return make_branding


@pytest.fixture
def report_factory() -> Callable[..., ReportData]:
    """ReportData for a scan built with `make_scan(**kwargs)`, branded unless branding=None."""

    def build(branding: Branding | str | None = "default", **scan_kwargs: Any) -> ReportData:
        chosen = make_branding() if branding == "default" else branding
        assert not isinstance(chosen, str)
        return report_data(make_scan(**scan_kwargs), chosen, T0)

    return build


@pytest.fixture(scope="session")
def full_report() -> ReportData:
    """The reference report: 40 findings, all signals complete, branded."""
    return report_data(make_scan(), make_branding(), T0)


@pytest.fixture(scope="session")
def full_pdf(full_report: ReportData) -> bytes:
    """The reference report rendered once for the session."""
    from chalicelib.reports.pdf import render_pdf

    return render_pdf(full_report)


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} not installed (apt-get install poppler-utils); PDF content checks skipped")
    return path


@pytest.fixture(scope="session")
def pdf_text(tmp_path_factory: pytest.TempPathFactory) -> Callable[[bytes], list[str]]:
    """Extract a PDF's text with poppler's pdftotext: one string per page."""
    exe = _tool("pdftotext")

    def extract(body: bytes) -> list[str]:
        path = tmp_path_factory.mktemp("pdf") / "report.pdf"
        path.write_bytes(body)
        done = subprocess.run([exe, "-enc", "UTF-8", str(path), "-"], capture_output=True, check=True, timeout=60)
        pages = done.stdout.decode("utf-8").split("\f")
        return pages[:-1] if pages and not pages[-1].strip() else pages

    return extract


@pytest.fixture(scope="session")
def pdf_pages() -> Callable[[bytes, Path], tuple[int, list[Path], str]]:
    """(page count from pdfinfo, PNGs rendered by `pdftoppm -png -r 50`, pdftoppm stderr)."""
    pdfinfo, pdftoppm = _tool("pdfinfo"), _tool("pdftoppm")

    def render(body: bytes, workdir: Path) -> tuple[int, list[Path], str]:
        path = workdir / "report.pdf"
        path.write_bytes(body)
        info = subprocess.run([pdfinfo, str(path)], capture_output=True, check=True, text=True, timeout=60)
        pages = next(int(line.split()[-1]) for line in info.stdout.splitlines() if line.startswith("Pages:"))
        done = subprocess.run(
            [pdftoppm, "-png", "-r", "50", str(path), str(workdir / "page")],
            capture_output=True, text=True, timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return pages, sorted(workdir.glob("page-*.png")), done.stderr

    return render


def squash(text: str) -> str:
    """Collapse all whitespace runs to single spaces (line wraps become spaces)."""
    return " ".join(text.split())
