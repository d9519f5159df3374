"""The webhook queue port, the messages it carries, and the Lambda SQS event shape built from them.

One message is one delivery attempt: it names the delivery (tenant, webhook, delivery id), the
attempt cycle (bumped by a DLQ redrive), the attempt number within the cycle, the outbox re-send
number of that attempt and the time before which it must not run. The body, headers and secrets
stay in the table; the message carries ids only.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError


@dataclass(frozen=True, slots=True)
class QueueMessage:
    """One received message: what SQS ReceiveMessage returns, attributes included."""

    message_id: str
    receipt_handle: str
    body: str
    attributes: Mapping[str, str] = field(default_factory=dict)

    @property
    def receive_count(self) -> int:
        """ApproximateReceiveCount (1 when the queue did not say)."""
        try:
            return max(int(self.attributes.get("ApproximateReceiveCount", "1")), 1)
        except ValueError:
            return 1


class MessageQueue(Protocol):
    """A queue with SQS semantics: delays, visibility timeouts, receive counts. Raises QueueUnavailable."""

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        """Enqueue one message (invisible for `delay_seconds`, at most 900); returns its id."""
        ...

    def send_batch(self, bodies: Sequence[str]) -> None:
        """Enqueue several messages without delay; all or an exception."""
        ...

    def receive(self, max_messages: int = 10, *, wait_seconds: int = 0) -> list[QueueMessage]:
        """Up to `max_messages` visible messages (long-polling up to `wait_seconds`), each now in flight."""
        ...

    def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        """Acknowledge received messages."""
        ...

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """Keep a received message invisible for `seconds` more (counted from now)."""
        ...


class DeliveryMessage(BaseModel):
    """The body of one queued delivery attempt."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    v: Literal[1] = 1
    tenant_id: str = Field(min_length=1, max_length=100)
    webhook_id: str = Field(min_length=1, max_length=100)
    delivery_id: str = Field(min_length=1, max_length=100)
    cycle: int = Field(ge=1, le=10_000)
    attempt: int = Field(ge=1, le=100)
    resend: int = Field(default=0, ge=0, le=1000)  # 0 for the original; the outbox's re-sends count up
    not_before: datetime

    @property
    def position(self) -> tuple[int, int, int]:
        """(cycle, attempt, resend): a message below its delivery's position is a stale copy."""
        return self.cycle, self.attempt, self.resend

    def encode(self) -> str:
        """The JSON body."""
        return self.model_dump_json()

    @classmethod
    def decode(cls, body: str) -> DeliveryMessage:
        """Parse a body; raises ValueError for anything that is not one of ours."""
        try:
            message = cls.model_validate_json(body)
        except ValidationError as exc:
            raise ValueError(f"not a webhook delivery message: {exc.error_count()} error(s)") from None
        if message.not_before.tzinfo is None:
            raise ValueError("not_before must carry a time zone")
        return message


def lambda_record(message: QueueMessage, *, source_arn: str = "", region: str = "us-east-1") -> dict[str, Any]:
    """One record of the Lambda SQS event, as the event source mapping builds it."""
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": dict(message.attributes),
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": source_arn,
        "awsRegion": region,
    }


def lambda_event(messages: Sequence[QueueMessage], *, source_arn: str = "",
                 region: str = "us-east-1") -> dict[str, Any]:
    """The Lambda SQS event for a batch: `{"Records": [...]}`."""
    return {"Records": [lambda_record(m, source_arn=source_arn, region=region) for m in messages]}
