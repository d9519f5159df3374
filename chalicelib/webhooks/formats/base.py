"""A webhook format: the payload, event names, headers and signature one kind of receiver expects.

Every endpoint has a `format` (DESIGN.md section 7): `perimeter`, or a vendor dialect's name, whose
deliveries look exactly like that vendor's (its verification snippet accepts them). The Standard
Webhooks headers (`webhook-id`, `webhook-timestamp`, `webhook-signature`) are added to every format
by the consumer; a format adds its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Protocol


class WebhookFormat(Protocol):
    """How deliveries in one format are written and signed."""

    name: str

    def event_name(self, event: str) -> str | None:
        """The format's name for Perimeter's `event`; None when the format has no such event (not delivered)."""
        ...

    def body(self, event_id: str, event: str, created_at: datetime, data: Mapping[str, Any]) -> str:
        """The JSON text sent for `event` (Perimeter's event name); raises ValueError when it is too large."""
        ...

    def headers(self, *, event_id: str, event: str, delivery_id: str, body: bytes, secrets: Sequence[str],
                timestamp: int) -> dict[str, str]:
        """The format's own headers for one attempt (signature, event name, ...).

        `secrets` sign, newest first: the partner-chosen secret when the endpoint has one, otherwise
        the endpoint's `whsec_` secrets (every one still inside its rotation overlap).
        """
        ...
