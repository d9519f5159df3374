"""Strict PNG and JPEG inspection for partner logos: magic bytes, structure, and real dimensions.

Nothing here trusts a file extension or a declared content type. A PNG is walked chunk by chunk
(every CRC checked) and its image data is inflated to prove it holds exactly the pixels its header
declares; a JPEG is walked marker by marker up to its end-of-image marker. Anything else, anything
truncated and anything with trailing bytes raises ValueError.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from typing import Literal

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
JPEG_SOI = b"\xff\xd8"

MAX_LOGO_BYTES = 512 * 1024
MAX_LOGO_SIDE = 4096
MAX_LOGO_PIXELS = 2048 * 2048

# PNG colour type -> (allowed bit depths, samples per pixel).
_PNG_COLOUR_TYPES: dict[int, tuple[frozenset[int], int]] = {
    0: (frozenset({1, 2, 4, 8, 16}), 1),
    2: (frozenset({8, 16}), 3),
    3: (frozenset({1, 2, 4, 8}), 1),
    4: (frozenset({8, 16}), 2),
    6: (frozenset({8, 16}), 4),
}
# Adam7 passes: (x start, y start, x step, y step).
_ADAM7 = ((0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2))
# SOF markers that carry frame dimensions (C4 DHT, C8 JPG and CC DAC are not frames).
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_JPEG_STANDALONE = frozenset({0x01, *range(0xD0, 0xD8)})


@dataclass(frozen=True)
class ImageInfo:
    """What inspection proved about an image."""

    kind: Literal["png", "jpeg"]
    width: int
    height: int

    @property
    def mime_type(self) -> str:
        """The image's media type."""
        return f"image/{self.kind}"


def inspect_logo(data: bytes) -> ImageInfo:
    """Identify and fully check a PNG or JPEG logo; raise ValueError for anything else."""
    if not data:
        raise ValueError("logo is empty")
    if len(data) > MAX_LOGO_BYTES:
        raise ValueError(f"logo is {len(data)} bytes; the limit is {MAX_LOGO_BYTES} bytes (512 KiB)")
    if data.startswith(PNG_SIGNATURE):
        info = _inspect_png(data)
    elif data.startswith(JPEG_SOI):
        info = _inspect_jpeg(data)
    else:
        raise ValueError("logo must be a PNG or JPEG image (unrecognised file signature)")
    _check_dimensions(info.width, info.height)
    return info


def _check_dimensions(width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise ValueError("logo has no pixels")
    if width > MAX_LOGO_SIDE or height > MAX_LOGO_SIDE or width * height > MAX_LOGO_PIXELS:
        raise ValueError(f"logo is {width}x{height} pixels; at most {MAX_LOGO_PIXELS} pixels are accepted")


def _png_chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    """Split a PNG into (type, payload) chunks, verifying lengths and CRCs, ending at IEND."""
    chunks: list[tuple[bytes, bytes]] = []
    pos = len(PNG_SIGNATURE)
    while True:
        if pos + 12 > len(data):
            raise ValueError("PNG is truncated (no IEND chunk)")
        (length,) = struct.unpack_from(">I", data, pos)
        ctype = data[pos + 4 : pos + 8]
        end = pos + 12 + length
        if length > 0x7FFFFFFF or end > len(data):
            raise ValueError("PNG is truncated (a chunk runs past the end of the file)")
        if not ctype.isalpha():
            raise ValueError("PNG has a malformed chunk type")
        payload = data[pos + 8 : pos + 8 + length]
        (crc,) = struct.unpack_from(">I", data, pos + 8 + length)
        if zlib.crc32(ctype + payload) != crc:
            raise ValueError(f"PNG chunk {ctype.decode('ascii')} has a bad CRC")
        chunks.append((ctype, payload))
        pos = end
        if ctype == b"IEND":
            if pos != len(data):
                raise ValueError("PNG has bytes after its IEND chunk")
            return chunks


def _png_raw_size(width: int, height: int, bits_per_pixel: int, interlaced: bool) -> int:
    """Bytes of filtered scanlines the IDAT stream must inflate to."""
    if not interlaced:
        return height * (1 + (width * bits_per_pixel + 7) // 8)
    total = 0
    for x0, y0, dx, dy in _ADAM7:
        pass_w = (width - x0 + dx - 1) // dx if width > x0 else 0
        pass_h = (height - y0 + dy - 1) // dy if height > y0 else 0
        if pass_w and pass_h:
            total += pass_h * (1 + (pass_w * bits_per_pixel + 7) // 8)
    return total


def _inflate_exactly(stream: bytes, expected: int) -> None:
    """Inflate a zlib stream in bounded steps and require exactly `expected` bytes out."""
    inflater = zlib.decompressobj()
    produced = 0
    pending = stream
    try:
        while True:
            out = inflater.decompress(pending, 1 << 20)
            produced += len(out)
            if produced > expected:
                raise ValueError("PNG image data is larger than its header declares")
            pending = inflater.unconsumed_tail
            if inflater.eof or (not pending and not out):
                break
    except zlib.error as exc:
        raise ValueError(f"PNG image data is corrupt ({exc})") from exc
    if not inflater.eof or produced != expected:
        raise ValueError("PNG image data is truncated or does not match its declared dimensions")
    if inflater.unused_data:
        raise ValueError("PNG image data has bytes after the end of its compressed stream")


def _inspect_png(data: bytes) -> ImageInfo:
    chunks = _png_chunks(data)
    ctype, ihdr = chunks[0]
    if ctype != b"IHDR" or len(ihdr) != 13:
        raise ValueError("PNG does not start with a valid IHDR chunk")
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", ihdr)
    _check_dimensions(width, height)
    if colour not in _PNG_COLOUR_TYPES or depth not in _PNG_COLOUR_TYPES[colour][0]:
        raise ValueError(f"PNG has an invalid colour type/bit depth ({colour}/{depth})")
    if compression != 0 or filtering != 0 or interlace not in (0, 1):
        raise ValueError("PNG declares an unknown compression, filter or interlace method")
    types = [c for c, _ in chunks]
    if colour == 3 and b"PLTE" not in types:
        raise ValueError("palette PNG has no PLTE chunk")
    idat_positions = [i for i, c in enumerate(types) if c == b"IDAT"]
    if not idat_positions:
        raise ValueError("PNG has no image data")
    if idat_positions != list(range(idat_positions[0], idat_positions[-1] + 1)):
        raise ValueError("PNG image data chunks are not consecutive")
    stream = b"".join(payload for c, payload in chunks if c == b"IDAT")
    bits_per_pixel = depth * _PNG_COLOUR_TYPES[colour][1]
    _inflate_exactly(stream, _png_raw_size(width, height, bits_per_pixel, interlace == 1))
    return ImageInfo("png", width, height)


def _skip_entropy_data(data: bytes, pos: int) -> int:
    """Return the offset of the first real marker after entropy-coded data starting at `pos`."""
    while True:
        pos = data.find(b"\xff", pos)
        if pos < 0 or pos + 1 >= len(data):
            raise ValueError("JPEG is truncated (no end-of-image marker)")
        nxt = data[pos + 1]
        if nxt == 0x00 or 0xD0 <= nxt <= 0xD7 or nxt == 0xFF:
            pos += 1 if nxt == 0xFF else 2
            continue
        return pos


def _jpeg_marker(data: bytes, pos: int) -> tuple[int, int]:
    """(marker, offset of its 0xFF) at `pos`, skipping fill bytes."""
    if pos + 2 > len(data) or data[pos] != 0xFF:
        raise ValueError("JPEG is truncated or malformed (expected a marker)")
    while pos + 1 < len(data) and data[pos + 1] == 0xFF:
        pos += 1
    if pos + 2 > len(data):
        raise ValueError("JPEG is truncated")
    return data[pos + 1], pos


def _jpeg_segment(data: bytes, pos: int) -> tuple[bytes, int]:
    """(payload, offset after the segment) of the length-prefixed segment whose marker is at `pos`."""
    if pos + 4 > len(data):
        raise ValueError("JPEG is truncated (segment header)")
    (length,) = struct.unpack_from(">H", data, pos + 2)
    if length < 2 or pos + 2 + length > len(data):
        raise ValueError("JPEG is truncated (a segment runs past the end of the file)")
    return data[pos + 4 : pos + 2 + length], pos + 2 + length


def _inspect_jpeg(data: bytes) -> ImageInfo:
    pos = 2
    size: tuple[int, int] | None = None
    scans = 0
    while True:
        marker, pos = _jpeg_marker(data, pos)
        if marker == 0xD9:
            pos += 2
            break
        if marker in _JPEG_STANDALONE:
            pos += 2
            continue
        segment, pos = _jpeg_segment(data, pos)
        if marker in _JPEG_SOF:
            size = _jpeg_frame_size(segment)
        elif marker == 0xDA:
            if size is None:
                raise ValueError("JPEG scan appears before its frame header")
            scans += 1
            pos = _skip_entropy_data(data, pos)
    if size is None or scans == 0:
        raise ValueError("JPEG has no frame or no image data")
    if pos != len(data):
        raise ValueError("JPEG has bytes after its end-of-image marker")
    return ImageInfo("jpeg", size[0], size[1])


def _jpeg_frame_size(segment: bytes) -> tuple[int, int]:
    """(width, height) from a start-of-frame segment payload."""
    if len(segment) < 6:
        raise ValueError("JPEG frame header is truncated")
    _precision, height, width, components = struct.unpack_from(">BHHB", segment)
    if components not in (1, 3, 4) or len(segment) != 6 + 3 * components:
        raise ValueError("JPEG frame header is malformed")
    _check_dimensions(width, height)
    return width, height
