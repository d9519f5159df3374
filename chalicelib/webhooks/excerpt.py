"""What the deliveries log keeps of a receiver's answer: a bounded, text-only excerpt.

A receiver can answer anything (an image, a cloud API's XML listing, terminal escapes); the log keeps
at most EXCERPT_CHARS characters, only of a textual body, with control and format characters removed.
Anything else becomes NON_TEXT_NOTE. The bound holds whatever the receiver sends.
"""

from __future__ import annotations

import codecs
import unicodedata

EXCERPT_CHARS = 256
MAX_READ_BYTES = 4 * EXCERPT_CHARS  # enough bytes for EXCERPT_CHARS characters of UTF-8
NON_TEXT_NOTE = "[non-text body omitted]"
_TEXT_TYPES = frozenset({"application/json", "application/xml", "application/x-www-form-urlencoded",
                         "application/problem+json", "application/problem+xml"})
_TEXT_SUFFIXES = ("+json", "+xml")
_DROPPED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn"})  # control, format, surrogate, private, unassigned
_MAX_REPLACED = 0.05  # more undecodable bytes than this share: binary labelled as text


def _media_type(content_type: str) -> tuple[str, str | None]:
    """(type/subtype in lower case, charset or None)."""
    media, *params = content_type.split(";")
    charset = None
    for param in params:
        name, _, value = param.partition("=")
        if name.strip().lower() == "charset":
            charset = value.strip().strip('"').lower() or None
    return media.strip().lower(), charset


def is_textual(media: str) -> bool:
    """True for text/*, JSON, XML and form bodies."""
    return media.startswith("text/") or media in _TEXT_TYPES or media.endswith(_TEXT_SUFFIXES)


def clean_text(text: str, limit: int = EXCERPT_CHARS) -> str:
    """`text` without control, format or unassigned characters (whitespace runs become one space), cut at `limit`."""
    out: list[str] = []
    for char in text:
        if char.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            continue
        if unicodedata.category(char) in _DROPPED_CATEGORIES:
            continue
        out.append(char)
        if len(out) >= limit:
            break
    return "".join(out).strip()[:limit]


def _decode(raw: bytes, charset: str, *, strict: bool) -> str | None:
    try:
        decoder = codecs.getincrementaldecoder(charset)("strict" if strict else "replace")
    except LookupError:
        decoder = codecs.getincrementaldecoder("utf-8")("strict" if strict else "replace")
    try:
        return decoder.decode(raw, final=False)  # a character cut at the read bound is dropped, not an error
    except UnicodeDecodeError:
        return None


def response_excerpt(content_type: str | None, raw: bytes, limit: int = EXCERPT_CHARS) -> str:
    """The log's excerpt of a response body: cleaned text of at most `limit` characters, or NON_TEXT_NOTE.

    A declared textual type is decoded with its charset (UTF-8 by default); a body without a
    Content-Type is kept only when it is valid UTF-8. NUL bytes or many undecodable bytes mean binary.
    """
    if not raw:
        return ""
    if b"\x00" in raw:
        return NON_TEXT_NOTE
    if content_type is None or not content_type.strip():
        text = _decode(raw, "utf-8", strict=True)
    else:
        media, charset = _media_type(content_type)
        if not is_textual(media):
            return NON_TEXT_NOTE
        text = _decode(raw, charset or "utf-8", strict=False)
    if text is None or text.count("\ufffd") > _MAX_REPLACED * max(len(text), 1):
        return NON_TEXT_NOTE
    return clean_text(text, limit)
