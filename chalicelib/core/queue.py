"""The message-queue port (SQS in AWS), the messages it hands back, and the Lambda SQS event shape built from them.

The webhook deliveries are its one user today (their message body is `chalicelib.webhooks.models.DeliveryMessage`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


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
