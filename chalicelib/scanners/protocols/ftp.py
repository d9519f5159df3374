"""FTP: does the server let `anonymous` log in? Reads the banner and PWD only; lists nothing, then QUITs."""

from __future__ import annotations

import re

from chalicelib.scanners.base import Catalog, FindingSpec, ScanContext
from chalicelib.scanners.identify.model import Service
from chalicelib.scanners.protocols.wire import Wire, WireError, printable, run_probe
from chalicelib.scans.models import Finding, Severity, SignalKey

NAMES = frozenset({"ftp"})
PORTS = frozenset({21})
ANONYMOUS_PASSWORD = "perimeter-scanner@perimeter.invalid"  # noqa: S105  RFC 1635: an address naming who logs in
MAX_REPLY_LINES = 50

CATALOG = Catalog(SignalKey.SCAN, {
    "ftp-anonymous": FindingSpec(Severity.HIGH, "FTP server accepts anonymous logins",
                                 "Disable anonymous FTP (vsftpd `anonymous_enable=NO`); if files must be public, "
                                 "serve them read-only over HTTPS instead.", "CWE-284"),
})

_REPLY = re.compile(rb"^(\d{3})([ -])(.*)$")


class FtpReply:
    """One FTP reply: the 3-digit code and its text lines."""

    def __init__(self, code: int, lines: list[str]) -> None:
        self.code = code
        self.lines = lines

    @property
    def text(self) -> str:
        """The lines joined with newlines."""
        return "\n".join(self.lines)


def parse_reply(lines: list[bytes]) -> FtpReply:
    """An FTP reply from its raw lines (RFC 959 4.2: `123-` opens a multi-line reply, `123 ` ends it).

    Raises ValueError when the first line has no code or the last does not close the reply.
    """
    first = _REPLY.match(lines[0]) if lines else None
    if first is None:
        raise ValueError("not an FTP reply")
    code = first.group(1)
    last = _REPLY.match(lines[-1])
    if last is None or last.group(1) != code or last.group(2) != b" ":
        raise ValueError("the reply is not closed")
    texts = [printable(first.group(3))]
    for line in lines[1:]:
        match = _REPLY.match(line)
        texts.append(printable(match.group(3) if match and match.group(1) == code else line.strip()))
    return FtpReply(int(code), texts)


def read_reply(wire: Wire) -> FtpReply:
    """Read one (possibly multi-line) reply, at most MAX_REPLY_LINES lines; raises WireError, ValueError."""
    lines = [wire.readline()]
    first = _REPLY.match(lines[0])
    if first is None:
        raise ValueError(f"not an FTP reply: {printable(lines[0])!r}")
    if first.group(2) == b"-":
        closing = first.group(1) + b" "
        while not lines[-1].startswith(closing):
            if len(lines) >= MAX_REPLY_LINES:
                raise WireError(f"a reply longer than {MAX_REPLY_LINES} lines")
            lines.append(wire.readline())
    return parse_reply(lines)


def pwd_path(reply: FtpReply) -> str | None:
    """The directory a 257 reply names (`257 "/pub" is the current directory`), else None."""
    if reply.code != 257:
        return None
    match = re.search(r'"((?:[^"]|"")*)"', reply.lines[0])
    return match.group(1).replace('""', '"') if match else None


def anonymous_session(address: str, port: int, ctx: ScanContext) -> dict[str, str] | None:
    """Try an anonymous login; the evidence of a session that got in, or None when refused.

    Sends USER, PASS, PWD and QUIT only. Raises OSError (connect), WireError or ValueError (bad replies).
    """
    with Wire.connect(address, port, ctx) as wire:
        greeting = read_reply(wire)
        if greeting.code != 220:
            return None
        wire.send(b"USER anonymous\r\n")
        login = read_reply(wire)
        if login.code == 331:
            wire.send(f"PASS {ANONYMOUS_PASSWORD}\r\n".encode())
            login = read_reply(wire)
        if login.code != 230:
            wire.send(b"QUIT\r\n")
            return None
        wire.send(b"PWD\r\n")
        pwd = read_reply(wire)
        wire.send(b"QUIT\r\n")
        return {"banner": greeting.text, "login_reply": f"{login.code} {login.text}",
                "pwd": pwd_path(pwd) or f"{pwd.code} {pwd.text}"}


def check_ftp(service: Service, ctx: ScanContext) -> list[Finding]:
    """`ftp-anonymous` when an FTP service lets `anonymous` log in; [] otherwise or for other services."""
    ran = run_probe(service, ctx, NAMES, PORTS, "FTP", anonymous_session)
    if ran is None:
        return []
    address, session = ran
    return [CATALOG.make("ftp-anonymous", key=f"{address}:{service.port}",
                         detail=f"Logged in as anonymous on {address}:{service.port}; working directory "
                                f"{session['pwd']}. Nothing was listed or read.",
                         evidence={"address": address, "port": service.port, **session},
                         product=service.product, version=service.version, cpe=service.cpe)]
