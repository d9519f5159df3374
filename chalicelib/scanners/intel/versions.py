"""Product version strings as banners print them, parsed into comparable keys.

Handles dotted releases (`2.4.49`, `1.18.0`, `8.5`), OpenSSH portable patches (`9.2p1`), letter
releases (`1.3.5a`), pre-releases (`9.0.0.M1`, `8.0.0.RC1`, `1.3.6rc1`, `10.1.0-M1`), vendor builds
(`10.5.0.5 build 1234`, `13.1-49.13`, `10.2.0.8-37sv`), hotfixes (`11.1.2-h3`) and `R` trains
(`9.0R3.4`). Ordering: pre-release < release < letter/patch suffix < next number, and trailing
zeros do not count (`7.0` == `7.0.0`).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass

# Words that mark a version before its release.
_PRE = {"dev": 0, "alpha": 1, "a": 1, "beta": 2, "b": 2, "m": 3, "milestone": 3, "pre": 4, "preview": 4,
        "rc": 5, "cr": 5}
# Words that only separate numbers (they carry no order of their own).
_NOISE = {"build", "v", "version", "release", "rel", "update", "u"}
_TOKEN = re.compile(r"\d+|[a-z]+")
_LEADING = re.compile(r"^v?(?=\d)")
_MAX_LEN = 64
_MAX_NUMBER = 10**12

Part = tuple[int, int | str]
_END: Part = (1, 0)  # the end of a shorter version: above pre-releases, below suffixes


class VersionError(ValueError):
    """The text is not a version this module can order."""


@functools.total_ordering
@dataclass(frozen=True, eq=False)
class Version:
    """A parsed version: `text` as given, `key` the comparison key, `release` its leading numbers."""

    text: str
    key: tuple[Part, ...]
    release: tuple[int, ...]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Version) and _compare(self.key, other.key) == 0

    def __hash__(self) -> int:
        key = list(self.key)
        while key and key[-1] == (3, 0):
            key.pop()
        return hash(tuple(key))

    def __lt__(self, other: Version) -> bool:
        return _compare(self.key, other.key) < 0

    def in_cycle(self, cycle: Version) -> bool:
        """True when the cycle's numbers lead this version's (`2.4.49` is in `2.4`, `7.4.1` is not in `7.0`)."""
        return bool(cycle.release) and self.release[: len(cycle.release)] == cycle.release


def _compare(left: tuple[Part, ...], right: tuple[Part, ...]) -> int:
    """-1, 0 or 1; a missing part counts as 0 against a number and as the end of a release otherwise."""
    for index in range(max(len(left), len(right))):
        a = left[index] if index < len(left) else None
        b = right[index] if index < len(right) else None
        if a is None:
            a = (3, 0) if b is not None and b[0] == 3 else _END
        if b is None:
            b = (3, 0) if a[0] == 3 else _END
        if a != b:
            return -1 if _order(a) < _order(b) else 1
    return 0


def _order(part: Part) -> tuple[int, int, str]:
    kind, value = part
    return (kind, value, "") if isinstance(value, int) else (kind, 0, value)


def clean(text: str) -> str:
    """The version part of a banner's version field: the first word, plus a following `build N`."""
    words = text.strip().split()
    if not words:
        return ""
    head = words[0]
    if len(words) >= 3 and words[1].lower() == "build" and words[2].isdigit():
        head = f"{head}.{words[2]}"
    return head


def parse_version(text: str) -> Version:
    """Parse `text` (see the module doc); raises VersionError when it does not start with a number."""
    raw = clean(text)[:_MAX_LEN].lower()
    if not _LEADING.match(raw):
        raise VersionError(f"not a version: {text!r}")
    tokens = _TOKEN.findall(raw[1:] if raw.startswith("v") else raw)
    key: list[Part] = []
    for index, token in enumerate(tokens):
        if token.isdigit():
            number = int(token)
            if number > _MAX_NUMBER:
                raise VersionError(f"number too large in {text!r}")
            key.append((3, number))
        elif token in _NOISE:
            continue
        elif token in _PRE and (len(token) > 1 or _followed_by_number(tokens, index)):
            key.append((0, _PRE[token]))
        else:
            key.append((2, token))
    release: list[int] = []
    for kind, value in key:
        if kind != 3 or not isinstance(value, int):
            break
        release.append(value)
    return Version(text=text.strip(), key=tuple(key), release=tuple(release))


def _followed_by_number(tokens: list[str], index: int) -> bool:
    return index + 1 < len(tokens) and tokens[index + 1].isdigit()


def try_parse(text: str | None) -> Version | None:
    """`parse_version`, or None for an empty or unparsable text."""
    if not text:
        return None
    try:
        return parse_version(text)
    except VersionError:
        return None
