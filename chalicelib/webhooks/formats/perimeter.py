"""The `perimeter` format: Perimeter's own payload and `X-Perimeter-*` headers (DESIGN.md section 7)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from enum import Enum
from typing import Any

from pydantic import BaseModel

from chalicelib.webhooks.signing import HEADER_PERIMETER_SIGNATURE, PERIMETER_SIGNATURE_SEPARATOR, body_signature

EVENT_HEADER = "X-Perimeter-Event"
DELIVERY_HEADER = "X-Perimeter-Delivery"
MAX_BODY_BYTES = 64 * 1024  # one event body; SQS carries ids only, the table keeps the body
RESERVED_FIELDS = frozenset({"id", "event", "created_at"})


def iso(moment: datetime) -> str:
    """ISO 8601 in UTC with a `Z`."""
    return moment.isoformat().replace("+00:00", "Z")


def json_default(value: Any) -> Any:
    """JSON for datetimes, models, enums and sets; raises TypeError for anything else."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def event_body(event_id: str, event: str, created_at: datetime, data: dict[str, Any]) -> str:
    """The JSON body partners receive: `id`, `event`, `created_at`, then the event's fields (DESIGN.md section 7).

    Raises ValueError when `data` uses a reserved field or the body exceeds MAX_BODY_BYTES.
    """
    clash = RESERVED_FIELDS & data.keys()
    if clash:
        raise ValueError(f"event data cannot set {sorted(clash)}")
    body = json.dumps({"id": event_id, "event": event, "created_at": iso(created_at), **data},
                      separators=(",", ":"), default=json_default, ensure_ascii=False)
    if len(body.encode()) > MAX_BODY_BYTES:
        raise ValueError(f"event body of {len(body.encode())} bytes exceeds {MAX_BODY_BYTES}")
    return body




class PerimeterFormat:
    """`{id, event, created_at, ...data}` with X-Perimeter-Event, -Delivery and -Signature (sha256=hex of the body)."""

    name = "perimeter"

    def event_name(self, event: str) -> str | None:
        """Every event under its own name."""
        return event

    def body(self, event_id: str, event: str, created_at: datetime, data: Mapping[str, Any]) -> str:
        """`event_body`; raises ValueError for reserved fields or a too-large body."""
        return event_body(event_id, event, created_at, dict(data))

    def headers(self, *, event_id: str, event: str, delivery_id: str, body: bytes, secrets: Sequence[str],
                timestamp: int) -> dict[str, str]:
        """X-Perimeter-Event, X-Perimeter-Delivery and X-Perimeter-Signature (one sha256= value per secret)."""
        return {
            EVENT_HEADER: event,
            DELIVERY_HEADER: delivery_id,
            HEADER_PERIMETER_SIGNATURE: PERIMETER_SIGNATURE_SEPARATOR.join(body_signature(s, body) for s in secrets),
        }
