"""The outgoing-mail port: one message (`OutgoingMail`) and whatever sends it (`Mailer`).

Adapters: `chalicelib.organizations.mail` (LocalOutbox: JSON files in the data directory; MemoryMailer)
and `chalicelib.aws.ses` (SesMailer). The port lives in core so the SES adapter, which sits below the
features, implements it without importing one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

# Header values (recipient, subject) never carry line breaks or other control characters.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class OutgoingMail:
    """One message to one recipient: a plain-text body and its HTML rendering."""

    to: str
    subject: str
    text: str
    html: str

    def __post_init__(self) -> None:
        if _CONTROL.search(self.to) or _CONTROL.search(self.subject) or "@" not in self.to:
            raise ValueError("a mail header carries a control character or the recipient is no address")


class Mailer(Protocol):
    """Sends messages; raises MailUnavailable (chalicelib.core.errors) when the message was not accepted."""

    def send(self, message: OutgoingMail) -> None:
        """Hand one message over for delivery; raises MailUnavailable."""
        ...
