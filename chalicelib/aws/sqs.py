"""SQS MessageQueue: one queue URL, a boto3 SQS client given (or built lazily by a factory the caller gives).

Every boto3/botocore error becomes QueueUnavailable (HTTP 503, code `queue-unavailable`); the
AWS error code is kept on the exception (`aws_code`) for the consumer and the logs, never shown.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from chalicelib.core.errors import QueueUnavailable
from chalicelib.core.queue import QueueMessage

log = logging.getLogger(__name__)
MAX_BATCH = 10  # SendMessageBatch / DeleteMessageBatch entries


def _aws_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code") or type(exc).__name__)


def _unavailable(operation: str, code: str, message: str) -> QueueUnavailable:
    error = QueueUnavailable(f"The webhook queue is unavailable ({operation}); try again.")
    error.aws_code = code
    log.warning("SQS %s failed: %s: %s", operation, code, message)
    return error


@contextmanager
def _translated(operation: str) -> Iterator[None]:
    try:
        yield
    except QueueUnavailable:
        raise
    except Exception as exc:
        if type(exc).__module__.startswith(("botocore", "boto3")) or hasattr(exc, "response"):
            raise _unavailable(operation, _aws_code(exc), str(exc)) from exc
        raise


class SqsQueue:
    """MessageQueue over one SQS queue."""

    def __init__(self, queue_url: str, client: Any | None = None, *,
                 client_factory: Callable[[], Any] | None = None) -> None:
        self.queue_url = queue_url
        self._client = client
        self._factory = client_factory
        self._lock = threading.Lock()

    @property
    def client(self) -> Any:
        """The boto3 client, built on first use from the factory."""
        if self._client is None:
            with self._lock:
                if self._client is None:
                    if self._factory is None:
                        raise _unavailable("client", "NoClient", "no SQS client and no client factory")
                    self._client = self._factory()
        return self._client

    def _url(self) -> str:
        if not self.queue_url:
            raise _unavailable("configuration", "NoQueueUrl", "the queue URL is not configured")
        return self.queue_url

    def send(self, body: str, *, delay_seconds: int = 0) -> str:
        """SendMessage; returns the message id."""
        with _translated("SendMessage"):
            response = self.client.send_message(QueueUrl=self._url(), MessageBody=body,
                                                DelaySeconds=max(0, min(int(delay_seconds), 900)))
        return str(response["MessageId"])

    def send_batch(self, bodies: Sequence[str]) -> None:
        """SendMessageBatch in chunks of 10; raises QueueUnavailable if any entry failed."""
        for start in range(0, len(bodies), MAX_BATCH):
            chunk = bodies[start:start + MAX_BATCH]
            entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(chunk)]
            with _translated("SendMessageBatch"):
                response = self.client.send_message_batch(QueueUrl=self._url(), Entries=entries)
            failed = response.get("Failed") or []
            if failed:
                first = failed[0]
                raise _unavailable("SendMessageBatch", str(first.get("Code")), f"{len(failed)} entries failed")

    def receive(self, max_messages: int = 10, *, wait_seconds: int = 0) -> list[QueueMessage]:
        """ReceiveMessage with every system attribute (ApproximateReceiveCount, SentTimestamp, ...)."""
        with _translated("ReceiveMessage"):
            response = self.client.receive_message(
                QueueUrl=self._url(), MaxNumberOfMessages=max(1, min(max_messages, 10)),
                WaitTimeSeconds=max(0, min(wait_seconds, 20)), MessageSystemAttributeNames=["All"])
        return [QueueMessage(str(m["MessageId"]), str(m["ReceiptHandle"]), str(m["Body"]),
                             {str(k): str(v) for k, v in (m.get("Attributes") or {}).items()})
                for m in response.get("Messages") or []]

    def delete_batch(self, receipt_handles: Sequence[str]) -> None:
        """DeleteMessageBatch in chunks of 10; an entry SQS refuses (stale handle) is logged, not raised."""
        for start in range(0, len(receipt_handles), MAX_BATCH):
            chunk = receipt_handles[start:start + MAX_BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)]
            with _translated("DeleteMessageBatch"):
                response = self.client.delete_message_batch(QueueUrl=self._url(), Entries=entries)
            for failure in response.get("Failed") or []:
                log.warning("SQS refused to delete a message: %s", failure.get("Code"))

    def change_visibility(self, receipt_handle: str, seconds: int) -> None:
        """ChangeMessageVisibility; a refusal (12 h total, stale handle) raises QueueUnavailable."""
        with _translated("ChangeMessageVisibility"):
            self.client.change_message_visibility(QueueUrl=self._url(), ReceiptHandle=receipt_handle,
                                                  VisibilityTimeout=max(0, min(int(seconds), 43_200)))

    def arn(self) -> str:
        """The queue ARN (for the Lambda-shaped events the local poller builds)."""
        with _translated("GetQueueAttributes"):
            response = self.client.get_queue_attributes(QueueUrl=self._url(), AttributeNames=["QueueArn"])
        return str(response["Attributes"]["QueueArn"])
