"""The webhook queue's numbers, in one place: local provisioning, Terraform's contract test and the consumer read them.

Design (docs/decisions.md): one SQS message per delivery attempt. A retry is a new message
(DelaySeconds up to 15 min, `not_before` in the body); a pause longer than the delay is bridged by
one ChangeMessageVisibility of at most 11.5 h on the message's first receive, and a fresh copy of
the message when more is needed. So by design a message is received at most twice (one
visibility hop, then the attempt) and lives at most ~12 h; the rest of maxReceiveCount is the
budget for crashes and timeouts, after which SQS moves the message to the DLQ. The ten-attempt
budget lives in the message body and the delivery record, not in the receive count.
"""

from __future__ import annotations

import json

from chalicelib.core.contract import WEBHOOK_CONSUMER
from chalicelib.webhooks.policy import (
    DEFAULT_TIMEOUT,
    MAX_VISIBILITY_STEP,
    SQS_MAX_DELAY_SECONDS,
    SQS_MAX_VISIBILITY_SECONDS,
)

# The consumer Lambda (contract.WEBHOOK_CONSUMER: `app.deliver_webhooks`).
CONSUMER_TIMEOUT_SECONDS = WEBHOOK_CONSUMER.timeout  # 60
# AWS: the queue's visibility timeout should be at least 6x the function timeout.
VISIBILITY_TIMEOUT_SECONDS = 6 * CONSUMER_TIMEOUT_SECONDS  # 360
# Event source mapping: batch size, batching window, ReportBatchItemFailures (Terraform sets it).
BATCH_SIZE = 10
MAX_BATCHING_WINDOW_SECONDS = 0  # the first attempt is "immediately": do not hold messages back
FUNCTION_RESPONSE_TYPES = ("ReportBatchItemFailures",)
# A batch is delivered concurrently: every message of a batch gets its own worker.
DELIVERY_WORKERS = BATCH_SIZE
SEND_TIMEOUT_SECONDS = DEFAULT_TIMEOUT  # 10 s per attempt (DESIGN.md section 7)

# Receives of one message: by design at most one visibility hop and then the attempt itself ...
RECEIVES_BY_DESIGN = 2
# ... plus this many receives that end in a crash, a timeout or a store/queue error before SQS dead-letters it.
CRASH_RECEIVES = 3
MAX_RECEIVE_COUNT = RECEIVES_BY_DESIGN + CRASH_RECEIVES  # 5

# The longest a message lives in the queue by design: its delay, one hop, and the crash budget.
MAX_MESSAGE_LIFETIME_SECONDS = (SQS_MAX_DELAY_SECONDS + MAX_VISIBILITY_STEP
                                + MAX_RECEIVE_COUNT * VISIBILITY_TIMEOUT_SECONDS)  # ~12.8 h
# 4 days: a consumer outage of days loses nothing; far above a message's designed lifetime.
MESSAGE_RETENTION_SECONDS = 4 * 24 * 3600
# 14 days (the SQS maximum), longer than the source queue's: a message dead-lettered by the redrive
# policy keeps its original enqueue time, so the DLQ must outlive the source queue's retention.
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# The embedded stack's poller: short long-polls so that it stops fast.
POLLER_WAIT_SECONDS = 1

QUEUE_NAME_SUFFIX = "webhook-events"
DLQ_NAME_SUFFIX = "webhook-events-dlq"


def queue_attributes(dlq_arn: str) -> dict[str, str]:
    """CreateQueue attributes of the webhook queue, redriving to `dlq_arn`."""
    return {
        "VisibilityTimeout": str(VISIBILITY_TIMEOUT_SECONDS),
        "MessageRetentionPeriod": str(MESSAGE_RETENTION_SECONDS),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(MAX_RECEIVE_COUNT)}),
    }


def dlq_attributes() -> dict[str, str]:
    """CreateQueue attributes of the dead-letter queue."""
    return {"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}


def check() -> list[str]:
    """Every rule these numbers must keep; [] when they all hold (the contract tests call it)."""
    problems: list[str] = []
    if VISIBILITY_TIMEOUT_SECONDS < 6 * CONSUMER_TIMEOUT_SECONDS:
        problems.append("visibility timeout below 6x the consumer timeout")
    if SEND_TIMEOUT_SECONDS * 2 > CONSUMER_TIMEOUT_SECONDS:
        problems.append("a batch (sent concurrently) could not finish inside the consumer timeout")
    if DLQ_RETENTION_SECONDS <= MESSAGE_RETENTION_SECONDS:
        problems.append("DLQ retention must be longer than the queue's")
    if MAX_MESSAGE_LIFETIME_SECONDS >= MESSAGE_RETENTION_SECONDS:
        problems.append("a message could expire before its attempt")
    if MAX_VISIBILITY_STEP > SQS_MAX_VISIBILITY_SECONDS:
        problems.append("a visibility hop beyond 12 h")
    if not 1 <= BATCH_SIZE <= 10 or DELIVERY_WORKERS < BATCH_SIZE:
        problems.append("batch size outside 1..10 or fewer workers than messages")
    if MAX_RECEIVE_COUNT <= RECEIVES_BY_DESIGN:
        problems.append("maxReceiveCount leaves no room for a crash")
    return problems
