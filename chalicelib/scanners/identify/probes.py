"""Service probes in nmap's `nmap-service-probes` format: parse, translate the Perl regexes, match.

The file is read from the system (Debian's nmap ships it under the Nmap Public Source Licence, so it
is never copied into this repository); the built-in table (`fingerprints.json`) is loaded into the
same model. A match turns a response into an Identity: service name, product, version, info and
CPEs with $1..$9, $P(n), $SUBST(n,"a","b") and $I(n,">") substituted as nmap does.
"""

from __future__ import annotations

import contextlib
import re
import struct
from dataclasses import dataclass, field

NULL_PROBE = "NULL"
_ESCAPES = {"0": 0, "a": 7, "b": 8, "f": 12, "n": 10, "r": 13, "t": 9, "v": 11}
_TEMPLATE = re.compile(r"\s*(cpe:|[pvihod])(.)")
_POSIX_CLASSES = {
    "alpha": "a-zA-Z", "digit": "0-9", "alnum": "a-zA-Z0-9", "upper": "A-Z", "lower": "a-z",
    "space": r" \t\r\n\v\f", "xdigit": "0-9A-Fa-f", "punct": r"!-/:-@\[-`{-~", "print": r" -~",
    "word": r"\w", "blank": r" \t", "cntrl": r"\x00-\x1f\x7f", "graph": r"!-~",
}
_SUBST = re.compile(rb'\$(?:(\d)|P\((\d)\)|SUBST\((\d),"((?:[^"\\]|\\.)*)","((?:[^"\\]|\\.)*)"\)|I\((\d),"([<>])"\))')


class ProbeFileError(ValueError):
    """A probe file line that cannot be parsed (the parser raises it with the line number)."""


def unescape(text: str) -> bytes:
    """Bytes of a C-style escaped probe string (`\\0`, `\\r`, `\\xHH`, `\\|`); raises ProbeFileError."""
    out = bytearray()
    raw = text.encode("latin-1")
    i = 0
    while i < len(raw):
        char = raw[i]
        if char != 0x5C or i + 1 >= len(raw):
            out.append(char)
            i += 1
            continue
        nxt = chr(raw[i + 1])
        if nxt == "x":
            try:
                out.append(int(raw[i + 2:i + 4], 16))
            except ValueError:
                raise ProbeFileError(f"bad \\x escape in {text[:40]!r}") from None
            i += 4
            continue
        out.append(_ESCAPES.get(nxt, ord(nxt)))
        i += 2
    return bytes(out)


def translate_regex(pattern: str) -> str:
    """A Perl (PCRE) pattern rewritten for Python `re`: `\\z`, `\\Z`, `\\h` and POSIX classes."""
    out: list[str] = []
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            nxt = pattern[i + 1]
            out.append({"z": r"\Z", "Z": r"(?=\n?\Z)", "h": r"[ \t]"}.get(nxt, char + nxt))
            i += 2
            continue
        if pattern.startswith("[:", i):
            end = pattern.find(":]", i)
            name = pattern[i + 2:end] if end > 0 else ""
            if name in _POSIX_CLASSES:
                out.append(_POSIX_CLASSES[name])
                i = end + 2
                continue
        out.append(char)
        i += 1
    return "".join(out)


def _top_level_alternation(pattern: str) -> bool:
    """True when `|` splits the pattern outside any group or class (`^a|b` is not anchored)."""
    depth, in_class, i = 0, False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            i += 2
            continue
        if in_class:
            in_class = char != "]"
        elif char == "[":
            in_class = True
            if pattern[i + 1:i + 2] == "]":
                i += 1
        elif char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        elif char == "|" and depth == 0:
            return True
        i += 1
    return False


_RUN = re.compile(r"(?:\\x[0-9A-Fa-f]{2}|\\[0rnt](?!\d)|\\[^0-9A-Za-z]|[^\\.\[\]()*+?{}|^$])*")
_PIECE = re.compile(r"\\x[0-9A-Fa-f]{2}|\\[0rnt]|\\.|.", re.DOTALL)
_CONTROL = {"0": "\0", "r": "\r", "n": "\n", "t": "\t"}


def _decode(piece: str) -> str:
    if piece.startswith("\\x"):
        return chr(int(piece[2:], 16))
    if piece.startswith("\\"):
        return _CONTROL.get(piece[1], piece[1])
    return piece


def literal_prefix(pattern: str) -> bytes:
    """The bytes every match of an `^`-anchored pattern starts with (b"" when unknown or not anchored)."""
    if not pattern.startswith("^") or ("|" in pattern and _top_level_alternation(pattern)):
        return b""
    run = _RUN.match(pattern, 1)
    text = run.group() if run else ""
    pieces = _PIECE.findall(text)
    if pieces and pattern[1 + len(text):2 + len(text)] in ("?", "*", "{", "+"):
        pieces.pop()  # the last piece is quantified: not a fixed prefix
    return "".join(_decode(p) for p in pieces).encode("latin-1")


@dataclass(frozen=True)
class Identity:
    """What a match says about a port: nmap's p/v/i/h/o/d fields and CPEs; `soft` for a softmatch."""

    service: str
    product: str | None = None
    version: str | None = None
    info: str | None = None
    hostname: str | None = None
    os: str | None = None
    device: str | None = None
    cpes: tuple[str, ...] = ()
    soft: bool = False

    @property
    def app_cpe(self) -> str | None:
        """The application CPE (`cpe:/a:...`) carrying the match's version, else the first one, else None."""
        apps = [c for c in self.cpes if c.startswith("cpe:/a:")]
        versioned = [c for c in apps if self.version and c.count(":") >= 4 and self.version.startswith(c.split(":")[4])
                     and c.split(":")[4]]
        return (versioned or apps)[0] if apps else None


@dataclass
class MatchRule:
    """One `match`/`softmatch` line: a regex over a response and the templates it fills."""

    service: str
    pattern: str
    flags: int
    templates: dict[str, str] = field(default_factory=dict)
    cpes: tuple[str, ...] = ()
    soft: bool = False
    _compiled: re.Pattern[bytes] | None = None
    _broken: bool = False
    _prefix: bytes | None = None

    def __post_init__(self) -> None:
        self._prefix = literal_prefix(self.pattern) if not self.flags & re.IGNORECASE else b""

    def compiled(self) -> re.Pattern[bytes] | None:
        """The compiled regex (compiled once), or None when Python `re` cannot compile it."""
        if self._compiled is None and not self._broken:
            try:
                self._compiled = re.compile(translate_regex(self.pattern).encode("latin-1"), self.flags)
            except (re.error, UnicodeEncodeError, OverflowError, RecursionError):
                self._broken = True
        return self._compiled

    def match(self, data: bytes) -> Identity | None:
        """The Identity this rule gives `data`, or None when it does not match (or cannot compile)."""
        if self._prefix and not data.startswith(self._prefix):
            return None  # cheaper than compiling the regex: most rules are `^literal...`
        regex = self.compiled()
        found = regex.search(data) if regex is not None else None
        if found is None:
            return None

        def fill(template: str | None) -> str | None:
            if template is None:
                return None
            value = _substitute(template.encode("latin-1"), found).decode("latin-1").strip()
            return value or None

        cpes = tuple(c for c in (fill(c) for c in self.cpes) if c)
        return Identity(self.service, fill(self.templates.get("p")), fill(self.templates.get("v")),
                        fill(self.templates.get("i")), fill(self.templates.get("h")), fill(self.templates.get("o")),
                        fill(self.templates.get("d")), tuple(_cpe_uri(c) for c in cpes), self.soft)


def _group(found: re.Match[bytes], index: int) -> bytes:
    try:
        return found.group(index) or b""
    except IndexError:
        return b""


def _substitute(template: bytes, found: re.Match[bytes]) -> bytes:
    def one(token: re.Match[bytes]) -> bytes:
        plain, printable, subst, old, new, integer, endian = token.groups()
        if plain:
            return _group(found, int(plain))
        if printable:
            return bytes(b for b in _group(found, int(printable)) if 32 <= b < 127)
        if subst:
            return _group(found, int(subst)).replace(unescape(old.decode("latin-1")), unescape(new.decode("latin-1")))
        raw = _group(found, int(integer))[:8]
        if not raw:
            return b""
        padded = raw.rjust(8, b"\0") if endian == b">" else raw.ljust(8, b"\0")
        return str(struct.unpack(">Q" if endian == b">" else "<Q", padded)[0]).encode()

    return _SUBST.sub(one, template)


def _cpe_uri(text: str) -> str:
    """`cpe:/a:x:y:1.0` (the `/a` attribute flag already stripped); spaces become underscores, lower case."""
    return text.replace(" ", "_").lower()


def parse_ports(text: str) -> tuple[tuple[int, int], ...]:
    """`21,80-85,443` as ((21, 21), (80, 85), (443, 443)); raises ProbeFileError."""
    ranges: list[tuple[int, int]] = []
    for part in text.replace(" ", "").split(","):
        if not part:
            continue
        low, _, high = part.partition("-")
        try:
            ranges.append((int(low), int(high or low)))
        except ValueError:
            raise ProbeFileError(f"bad port list {text!r}") from None
    return tuple(ranges)


@dataclass
class Probe:
    """One `Probe TCP` section: its payload, ports, rarity, wait and match rules."""

    name: str
    payload: bytes
    rarity: int = 1
    ports: tuple[tuple[int, int], ...] = ()
    sslports: tuple[tuple[int, int], ...] = ()
    totalwaitms: int = 6000
    fallback: tuple[str, ...] = ()
    matches: list[MatchRule] = field(default_factory=list)

    def listed(self, port: int, tls: bool) -> bool:
        """True when `port` is in the probe's `ports` (or `sslports` over TLS)."""
        return any(low <= port <= high for low, high in (self.sslports if tls else self.ports))


def parse_match(line: str, soft: bool) -> MatchRule:
    """One `match`/`softmatch` line (without the keyword); raises ProbeFileError."""
    service, _, rest = line.partition(" ")
    if not rest.startswith("m") or len(rest) < 3:
        raise ProbeFileError(f"no m<delim> regex in {line[:60]!r}")
    delim = rest[1]
    end = rest.find(delim, 2)
    if end < 0:
        raise ProbeFileError(f"unterminated regex in {line[:60]!r}")
    pattern = rest[2:end]
    i = end + 1
    flags = 0
    while i < len(rest) and rest[i] in "si":
        flags |= re.DOTALL if rest[i] == "s" else re.IGNORECASE
        i += 1
    templates: dict[str, str] = {}
    cpes: list[str] = []
    while i < len(rest):
        token = _TEMPLATE.match(rest, i)
        if token is None:
            break
        kind, mark = token.group(1), token.group(2)
        close = rest.find(mark, token.end())
        if close < 0:
            raise ProbeFileError(f"unterminated {kind} field in {line[:60]!r}")
        value = rest[token.end():close]
        i = close + 1
        if kind == "cpe:":
            cpes.append("cpe:/" + value)
            if i < len(rest) and rest[i] == "a":
                i += 1
        else:
            templates[kind] = value
    return MatchRule(service, pattern, flags, templates, tuple(cpes), soft)


def _directive(probe: Probe, keyword: str, rest: str) -> None:
    """Apply one line of a Probe section to `probe`; a match line that does not parse is skipped."""
    if keyword in ("match", "softmatch"):
        with contextlib.suppress(ProbeFileError):
            probe.matches.append(parse_match(rest, keyword == "softmatch"))
    elif keyword == "ports":
        probe.ports = parse_ports(rest)
    elif keyword == "sslports":
        probe.sslports = parse_ports(rest)
    elif keyword == "rarity":
        probe.rarity = int(rest)
    elif keyword == "totalwaitms":
        probe.totalwaitms = int(rest)
    elif keyword == "fallback":
        probe.fallback = tuple(n.strip() for n in rest.split(",") if n.strip())


def parse_probe_file(text: str) -> list[Probe]:
    """Every TCP probe of an nmap-service-probes text, in file order; UDP probes are skipped.

    Raises ProbeFileError (with the line number) for a malformed Probe, ports or number line; a
    match line that does not parse is skipped, as nmap would refuse only that line's service.
    """
    probes: list[Probe] = []
    current: Probe | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        if keyword == "Probe":
            proto, _, rest = rest.partition(" ")
            name, _, spec = rest.partition(" ")
            end = spec.find(spec[1], 2) if len(spec) >= 3 and spec[0] == "q" else -1
            if end < 0:
                raise ProbeFileError(f"line {number}: bad Probe line")
            current = Probe(name, unescape(spec[2:end])) if proto == "TCP" else None
            if current is not None:
                probes.append(current)
        elif current is not None:
            try:
                _directive(current, keyword, rest)
            except (ProbeFileError, ValueError) as exc:
                raise ProbeFileError(f"line {number}: {exc}") from None
    return probes


@dataclass
class ProbeSet:
    """The probes of one source (nmap's file or the built-in table), by name, with nmap's selection rules."""

    probes: list[Probe]
    source: str

    def __post_init__(self) -> None:
        self.by_name = {p.name: p for p in self.probes}

    @property
    def null(self) -> Probe | None:
        """The NULL probe (send nothing, read the greeting), if the set has one."""
        return self.by_name.get(NULL_PROBE)

    def candidates(self, port: int, *, tls: bool, max_rarity: int, limit: int) -> list[Probe]:
        """The probes to send to `port` after the NULL probe, at most `limit`.

        Those listing the port (in `sslports` over TLS) come first, by rarity; then, when room is
        left, the other probes up to `max_rarity`, by rarity, as nmap's intensity does.
        """
        others = [p for p in self.probes if p.name != NULL_PROBE and p.payload]
        listed = sorted((p for p in others if p.listed(port, tls)), key=lambda p: p.rarity)
        rest = sorted((p for p in others if not p.listed(port, tls) and p.rarity <= max_rarity),
                      key=lambda p: p.rarity)
        return (listed + rest)[:limit]

    def identify(self, probe: Probe, data: bytes) -> Identity | None:
        """The first hard match for `data` among the probe's rules, its fallbacks', then the NULL probe's.

        A softmatch is returned only when no hard match exists.
        """
        chain = [probe, *(self.by_name[n] for n in probe.fallback if n in self.by_name)]
        if self.null is not None and self.null not in chain:
            chain.append(self.null)
        soft: Identity | None = None
        for source in chain:
            for rule in source.matches:
                found = rule.match(data)
                if found is None:
                    continue
                if not found.soft:
                    return found
                soft = soft or found
        return soft
