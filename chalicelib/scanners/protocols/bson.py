"""A minimal BSON codec for the MongoDB probe: encodes small command documents, decodes replies.

Encodes str, bool, int (int32/int64), float, None, dict and list. Decodes every type a `hello`,
`buildInfo` or error reply carries; binary, ObjectId, timestamp and decimal values come back as
short hex/number stand-ins. Nesting is bounded.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

MAX_DEPTH = 16
_INT32 = struct.Struct("<i")
_INT64 = struct.Struct("<q")
_DOUBLE = struct.Struct("<d")


class BsonError(ValueError):
    """The bytes are not a well-formed BSON document (or one this codec does not read)."""


def _cstring(text: str) -> bytes:
    data = text.encode("utf-8")
    if b"\x00" in data:
        raise BsonError("a key may not contain NUL")
    return data + b"\x00"


def _element(key: str, value: Any, depth: int) -> bytes:
    name = _cstring(key)
    if isinstance(value, bool):
        return b"\x08" + name + (b"\x01" if value else b"\x00")
    if isinstance(value, int):
        if -(2 ** 31) <= value < 2 ** 31:
            return b"\x10" + name + _INT32.pack(value)
        return b"\x12" + name + _INT64.pack(value)
    if isinstance(value, float):
        return b"\x01" + name + _DOUBLE.pack(value)
    if isinstance(value, str):
        data = value.encode("utf-8") + b"\x00"
        return b"\x02" + name + _INT32.pack(len(data)) + data
    if value is None:
        return b"\x0a" + name
    if isinstance(value, dict):
        return b"\x03" + name + encode(value, depth + 1)
    if isinstance(value, list | tuple):
        return b"\x04" + name + encode({str(i): v for i, v in enumerate(value)}, depth + 1)
    raise BsonError(f"cannot encode {type(value).__name__}")


def encode(doc: dict[str, Any], depth: int = 0) -> bytes:
    """The BSON bytes of `doc` (key order kept: MongoDB reads the first key as the command name)."""
    if depth > MAX_DEPTH:
        raise BsonError("document nested too deeply")
    body = b"".join(_element(key, value, depth) for key, value in doc.items())
    return _INT32.pack(len(body) + 5) + body + b"\x00"


def _read_cstring(data: bytes, pos: int) -> tuple[str, int]:
    end = data.find(b"\x00", pos)
    if end < 0:
        raise BsonError("unterminated key")
    return data[pos:end].decode("utf-8", "replace"), end + 1


def _fixed(data: bytes, pos: int, size: int) -> bytes:
    if pos + size > len(data):
        raise BsonError("value runs past the document")
    return data[pos: pos + size]


_FIXED: dict[int, tuple[int, Callable[[bytes], Any]]] = {
    0x01: (8, lambda raw: _DOUBLE.unpack(raw)[0]),
    0x07: (12, bytes.hex),  # ObjectId
    0x08: (1, lambda raw: raw != b"\x00"),
    0x09: (8, lambda raw: _INT64.unpack(raw)[0]),  # UTC datetime (ms)
    0x10: (4, lambda raw: _INT32.unpack(raw)[0]),
    0x11: (8, lambda raw: _INT64.unpack(raw)[0]),  # timestamp
    0x12: (8, lambda raw: _INT64.unpack(raw)[0]),
    0x13: (16, bytes.hex),  # decimal128
}
_EMPTY = frozenset({0x06, 0x0A, 0x7F, 0xFF})  # undefined, null, max key, min key


def _value(kind: int, data: bytes, pos: int, depth: int) -> tuple[Any, int]:
    if kind in _FIXED:
        size, read = _FIXED[kind]
        return read(_fixed(data, pos, size)), pos + size
    if kind in _EMPTY:
        return None, pos
    if kind in (0x02, 0x0D, 0x0E):  # string, JavaScript code, symbol
        (length,) = _INT32.unpack(_fixed(data, pos, 4))
        raw = _fixed(data, pos + 4, length)
        if length < 1 or raw[-1:] != b"\x00":
            raise BsonError("bad string length")
        return raw[:-1].decode("utf-8", "replace"), pos + 4 + length
    if kind in (0x03, 0x04):
        (length,) = _INT32.unpack(_fixed(data, pos, 4))
        doc = decode(_fixed(data, pos, length), depth + 1)
        return (list(doc.values()) if kind == 0x04 else doc), pos + length
    if kind == 0x05:
        (length,) = _INT32.unpack(_fixed(data, pos, 4))
        return _fixed(data, pos + 5, length).hex()[:64], pos + 5 + length
    if kind == 0x0B:  # regex: two cstrings
        pattern, pos = _read_cstring(data, pos)
        _, pos = _read_cstring(data, pos)
        return pattern, pos
    raise BsonError(f"unsupported BSON type 0x{kind:02x}")


def decode(data: bytes, depth: int = 0) -> dict[str, Any]:
    """The document in `data` (exactly one); raises BsonError."""
    if depth > MAX_DEPTH:
        raise BsonError("document nested too deeply")
    if len(data) < 5:
        raise BsonError("shorter than an empty document")
    (length,) = _INT32.unpack(data[:4])
    if length != len(data) or data[-1:] != b"\x00":
        raise BsonError("length prefix does not match the document")
    doc: dict[str, Any] = {}
    pos = 4
    while pos < length - 1:
        kind = data[pos]
        key, pos = _read_cstring(data, pos + 1)
        doc[key], pos = _value(kind, data, pos, depth)
    if pos != length - 1:
        raise BsonError("trailing bytes in the document")
    return doc
