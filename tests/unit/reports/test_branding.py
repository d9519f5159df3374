"""Branding validation: #RRGGBB colours and PNG/JPEG logos proven by magic bytes and decoding."""

from __future__ import annotations

import io
import struct
import zlib

import pytest

from chalicelib.reports.branding import Branding, ContactCard
from chalicelib.reports.images import MAX_LOGO_BYTES, inspect_logo
from tests.unit.reports.factories import make_branding, png_bytes

# A complete, valid 1x1 GIF.
GIF = (b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00"
       b",\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")


def _chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def _png(width: int, height: int, raw: bytes, interlace: int = 0) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, interlace)
    return (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IDAT", zlib.compress(raw))
            + _chunk(b"IEND", b""))


def _adam7_png(width: int, height: int) -> bytes:
    """An interlaced RGB PNG: one filtered sub-image per non-empty Adam7 pass."""
    passes = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
    raw = b""
    for x0, y0, dx, dy in passes:
        cols, rows = len(range(x0, width, dx)), len(range(y0, height, dy))
        if cols and rows:
            raw += (b"\x00" + b"\x80\x40\x20" * cols) * rows
    return _png(width, height, raw, interlace=1)


def _jpeg(progressive: bool = False, size: tuple[int, int] = (120, 48)) -> bytes:
    image_module = pytest.importorskip("PIL.Image")
    out = io.BytesIO()
    image_module.new("RGB", size, (200, 30, 60)).save(out, format="JPEG", quality=80, progressive=progressive)
    return out.getvalue()


def test_png_and_jpeg_logos_are_accepted_with_real_dimensions() -> None:
    assert make_branding(logo=png_bytes(240, 80)).logo_info == inspect_logo(png_bytes(240, 80))
    info = inspect_logo(png_bytes(240, 80))
    assert (info.kind, info.width, info.height, info.mime_type) == ("png", 240, 80, "image/png")
    for progressive in (False, True):
        jpeg = inspect_logo(_jpeg(progressive))
        assert (jpeg.kind, jpeg.width, jpeg.height) == ("jpeg", 120, 48)


def test_interlaced_png_is_decoded() -> None:
    info = inspect_logo(_adam7_png(13, 7))
    assert (info.width, info.height) == (13, 7)
    broken = _adam7_png(13, 7).replace(b"IHDR" + struct.pack(">I", 13), b"IHDR" + struct.pack(">I", 14))
    with pytest.raises(ValueError):  # header changed: CRC no longer matches
        inspect_logo(broken)


def test_gif_is_refused() -> None:
    with pytest.raises(ValueError, match="PNG or JPEG"):
        make_branding(logo=GIF)


@pytest.mark.parametrize("cut", [0.5, 0.9, -12, -1])
def test_truncated_png_is_refused(cut: float) -> None:
    full = png_bytes(240, 80)
    end = int(len(full) * cut) if cut > 0 else len(full) + int(cut)
    with pytest.raises(ValueError, match="truncated"):
        inspect_logo(full[:end])
    with pytest.raises(ValueError):
        make_branding(logo=full[:end])


def test_png_whose_pixels_do_not_match_its_header_is_refused() -> None:
    raw = (b"\x00" + b"\x10\x20\x30" * 20) * 5  # 20x5 pixels of data
    assert inspect_logo(_png(20, 5, raw)).height == 5
    with pytest.raises(ValueError, match="declared dimensions"):
        inspect_logo(_png(20, 6, raw))
    with pytest.raises(ValueError, match="larger than its header"):
        inspect_logo(_png(20, 4, raw))


def test_png_with_bad_crc_or_trailing_bytes_is_refused() -> None:
    good = png_bytes(32, 8)
    corrupted = bytearray(good)
    corrupted[45] ^= 0xFF  # inside the IDAT payload (signature 8 + IHDR 25 + IDAT header 8 = 41)
    with pytest.raises(ValueError, match="CRC"):
        inspect_logo(bytes(corrupted))
    with pytest.raises(ValueError, match="after its IEND"):
        inspect_logo(good + b"PK\x03\x04")


def test_oversize_logo_is_refused() -> None:
    big = png_bytes(512, 400, noise=True)
    assert len(big) > MAX_LOGO_BYTES
    with pytest.raises(ValueError, match="512 KiB"):
        make_branding(logo=big)


def test_too_many_pixels_is_refused() -> None:
    with pytest.raises(ValueError, match="pixels"):
        inspect_logo(png_bytes(5000, 1))


def test_truncated_or_padded_jpeg_is_refused() -> None:
    jpeg = _jpeg()
    for body in (jpeg[: len(jpeg) // 2], jpeg[:-2], jpeg[:300]):
        with pytest.raises(ValueError, match="truncated"):
            inspect_logo(body)
    with pytest.raises(ValueError, match="after its end-of-image"):
        inspect_logo(jpeg + b"<script>")


@pytest.mark.parametrize(
    "body",
    [b"", b"<svg xmlns='http://www.w3.org/2000/svg'/>", b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"BM" + b"\0" * 60],
)
def test_other_content_is_refused(body: bytes) -> None:
    with pytest.raises(ValueError):
        inspect_logo(body)


@pytest.mark.parametrize("colour", ["red", "#12345", "#1234567", "#GGGGGG", "123456", "#12 345", "", "rgb(1,2,3)"])
def test_bad_colours_are_refused(colour: str) -> None:
    with pytest.raises(ValueError, match="#RRGGBB"):
        make_branding(primary_color=colour)
    with pytest.raises(ValueError, match="#RRGGBB"):
        make_branding(accent_color=colour)


def test_colours_are_normalised_to_upper_case() -> None:
    branding = make_branding(primary_color="#0b4f6c", accent_color="#abcdef")
    assert (branding.primary_color, branding.accent_color) == ("#0B4F6C", "#ABCDEF")


def test_branding_without_logo_and_contact_is_valid() -> None:
    branding = Branding(partner_name="Acme Brokers")
    assert branding.logo is None and branding.logo_info is None and branding.contact == ContactCard()


def test_contact_card_validation() -> None:
    assert ContactCard(website="acme.example").website_url == "https://acme.example"
    for field, value in [("email", "not-an-email"), ("phone", "call me"), ("website", "javascript:alert(1)"),
                         ("name", "Line\nbreak")]:
        with pytest.raises(ValueError):
            ContactCard(**{field: value})
    with pytest.raises(ValueError):
        Branding(partner_name="")
    with pytest.raises(ValueError):
        Branding(partner_name="Acme", unexpected="x")  # type: ignore[call-arg]
