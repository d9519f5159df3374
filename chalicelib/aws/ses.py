"""SES (v1 `SendEmail`) Mailer: one sender identity, a boto3 SES client given or built on first use.

Every boto3/botocore error becomes MailUnavailable (HTTP 503, code `mail-unavailable`); the AWS
error code goes to the log, never the recipient or the message.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from chalicelib.core.errors import MailUnavailable
from chalicelib.core.mail import OutgoingMail

log = logging.getLogger(__name__)


class SesMailer:
    """Mailer over Amazon SES: text and HTML parts, UTF-8, from one verified sender."""

    def __init__(self, sender: str, client: Any | None = None, *,
                 client_factory: Callable[[], Any] | None = None) -> None:
        self._sender = sender
        self._client = client
        self._factory = client_factory
        self._lock = threading.Lock()

    def _ses(self) -> Any:
        with self._lock:
            if self._client is None:
                if self._factory is None:
                    import boto3  # deferred: only a process that sends mail pays for it

                    self._client = boto3.client("ses")
                else:
                    self._client = self._factory()
            return self._client

    def send(self, message: OutgoingMail) -> None:
        """Send one message through SES; raises MailUnavailable when SES refuses or does not answer."""
        try:
            self._ses().send_email(
                Source=self._sender,
                Destination={"ToAddresses": [message.to]},
                Message={
                    "Subject": {"Data": message.subject, "Charset": "UTF-8"},
                    "Body": {"Text": {"Data": message.text, "Charset": "UTF-8"},
                             "Html": {"Data": message.html, "Charset": "UTF-8"}},
                },
            )
        except Exception as exc:
            if not (type(exc).__module__.startswith(("botocore", "boto3")) or hasattr(exc, "response")):
                raise
            response = getattr(exc, "response", None) or {}
            code = str(response.get("Error", {}).get("Code") or type(exc).__name__)
            log.warning("SES SendEmail failed: %s", code)
            raise MailUnavailable("The invitation could not be sent; try again later.") from exc
