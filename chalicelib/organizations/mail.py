"""Mail adapters (LocalOutbox, MemoryMailer) and the one message the team sends: the invitation.

The port (`OutgoingMail`, `Mailer`) is in chalicelib.core.mail; SES is chalicelib.aws.ses.SesMailer.
"""

from __future__ import annotations

import contextlib
import html
import json
import os
import re
import tempfile
import threading
from datetime import datetime
from pathlib import Path

from chalicelib.core.clock import utcnow
from chalicelib.core.errors import MailUnavailable
from chalicelib.core.ids import ulid
from chalicelib.core.mail import OutgoingMail

_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


class MemoryMailer:
    """Keeps every message in a list (`sent`); unit tests read it."""

    def __init__(self) -> None:
        self.sent: list[OutgoingMail] = []
        self._lock = threading.Lock()

    def send(self, message: OutgoingMail) -> None:
        """Record the message."""
        with self._lock:
            self.sent.append(message)


class LocalOutbox:
    """The embedded stack's mail: one JSON file per message in a private directory (0700, files 0600).

    Nothing leaves the machine; the operator (or a test) reads the files. Writes are atomic.
    """

    def __init__(self, directory: Path, sender: str) -> None:
        self.directory = directory
        self._sender = sender

    def send(self, message: OutgoingMail) -> None:
        """Write the message as `<ulid>.json`; raises MailUnavailable when the directory is not writable."""
        document = {"from": self._sender, "to": message.to, "subject": message.subject, "text": message.text,
                    "html": message.html, "queued_at": utcnow().isoformat()}
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self.directory.chmod(0o700)
            handle, temporary = tempfile.mkstemp(dir=self.directory, prefix=".mail-", suffix=".tmp")
            try:
                with os.fdopen(handle, "w", encoding="utf-8") as out:
                    json.dump(document, out, ensure_ascii=False, indent=1)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, self.directory / f"{ulid()}.json")
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            raise MailUnavailable("The invitation could not be written to the local outbox.") from exc

    def messages(self) -> list[OutgoingMail]:
        """Every message in the outbox, oldest first."""
        found = []
        for path in sorted(self.directory.glob("*.json")) if self.directory.is_dir() else []:
            data = json.loads(path.read_text(encoding="utf-8"))
            found.append(OutgoingMail(to=data["to"], subject=data["subject"], text=data["text"], html=data["html"]))
        return found


def _clean(text: str) -> str:
    """Text fit for a header or a line: control characters and line breaks become one space."""
    return _UNPRINTABLE.sub(" ", text).strip()


def invitation_mail(*, to: str, organization: str, role: str, token: str, accept_url: str,
                    expires_at: datetime) -> OutgoingMail:
    """The invitation: who invites, the role, how to accept (the token), when it expires; no other secret."""
    org = _clean(organization) or "an organization"
    expires = expires_at.strftime("%Y-%m-%d %H:%M UTC")
    body = json.dumps({"token": token, "name": "Your name"})
    text = (
        f"You have been invited to join {org} on Perimeter with the role {role}.\n\n"
        f"To accept, before {expires}, send your invitation token to the API:\n\n"
        f"  POST {accept_url}\n  Content-Type: application/json\n\n  {body}\n\n"
        f"Your invitation token: {token}\n\n"
        "The answer holds your personal API key. It is shown only once: store it somewhere safe.\n"
        "If you did not expect this invitation, ignore this message; it expires on its own.\n"
    )
    e = html.escape
    page = (
        "<!doctype html><html><body>"
        f"<p>You have been invited to join <strong>{e(org)}</strong> on Perimeter with the role "
        f"<strong>{e(role)}</strong>.</p>"
        f"<p>To accept, before {e(expires)}, send your invitation token to the API:</p>"
        f"<pre>POST {e(accept_url)}\nContent-Type: application/json\n\n{e(body)}</pre>"
        f"<p>Your invitation token: <code>{e(token)}</code></p>"
        "<p>The answer holds your personal API key. It is shown only once: store it somewhere safe.</p>"
        "<p>If you did not expect this invitation, ignore this message; it expires on its own.</p>"
        "</body></html>"
    )
    return OutgoingMail(to=to, subject=f"Invitation to join {org} on Perimeter", text=text, html=page)
