"""The embedded stack's stand-in for the Lambda SQS event source mapping of the webhook consumer.

A thread long-polls the webhook queue (short waits, so it stops fast), builds the Lambda SQS event
for up to 10 messages, calls the same consumer `app.deliver_webhooks` delegates to, and deletes the
messages not reported in `batchItemFailures` (ReportBatchItemFailures). As in AWS, a handler
exception, or a failure naming a message that is not in the batch, leaves the whole batch to come
back after its visibility timeout. The same thread sweeps the webhook outbox every SWEEP_INTERVAL
seconds (the stand-in for the `sweep_webhook_outbox` schedule), first right at start: the embedded
queue lives in memory, so after a restart that first sweep re-queues every pending delivery. On
the same ticks, from the second on, it ends overdue scans (`ScanService.expire_overdue`, the
stand-in for `sweep_overdue_scans`); the first tick leaves the scans a restart found to recovery.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from chalicelib.core.queue import MessageQueue, lambda_event
from chalicelib.webhooks.queue_config import BATCH_SIZE, POLLER_WAIT_SECONDS

if TYPE_CHECKING:
    from chalicelib.bootstrap import Services

log = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], Mapping[str, Any]]
Sweep = Callable[[], int]
ERROR_BACKOFF_SECONDS = 1.0
SWEEP_INTERVAL_SECONDS = 5.0


def poll_once(queue: MessageQueue, handler: Handler, *, batch_size: int = BATCH_SIZE,
              wait_seconds: int = POLLER_WAIT_SECONDS, source_arn: str = "") -> int:
    """Receive one batch, hand it to `handler`, delete what succeeded; returns how many were received.

    Raises what the queue raises; a handler exception is logged (the batch will come back).
    """
    messages = queue.receive(batch_size, wait_seconds=wait_seconds)
    if not messages:
        return 0
    try:
        result = handler(lambda_event(messages, source_arn=source_arn))
    except Exception:
        log.exception("webhook consumer failed on a batch of %d; it will be retried", len(messages))
        return len(messages)
    ids = {m.message_id for m in messages}
    failed = {str(f.get("itemIdentifier", "")) for f in (result or {}).get("batchItemFailures") or []}
    if not failed <= ids:
        log.error("batchItemFailures names messages outside the batch; the whole batch will be retried")
        return len(messages)
    done = [m.receipt_handle for m in messages if m.message_id not in failed]
    if done:
        queue.delete_batch(done)
    return len(messages)


class WebhookPoller:
    """A daemon thread running `poll_once` until stopped, `sweep` (when given) every `sweep_interval` s
    and `overdue` (when given) on the same ticks but the first."""

    def __init__(self, queue: MessageQueue, handler: Handler, *, batch_size: int = BATCH_SIZE,
                 wait_seconds: int = POLLER_WAIT_SECONDS, source_arn: str = "", sweep: Sweep | None = None,
                 sweep_interval: float = SWEEP_INTERVAL_SECONDS, overdue: Sweep | None = None) -> None:
        self._queue = queue
        self._handler = handler
        self._batch_size = batch_size
        self._wait = wait_seconds
        self._source_arn = source_arn
        self._sweep = sweep
        self._overdue = overdue
        self._sweep_interval = sweep_interval
        self._next_sweep = 0.0  # monotonic time of the next sweep: the first one runs at once
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="perimeter-webhook-poller", daemon=True)
        self.batches = 0
        self.sweeps = 0

    def start(self) -> WebhookPoller:
        """Start polling; returns self."""
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to stop and wait for the batch in hand to finish (at most `timeout` seconds).

        A delivery still waiting on a slow receiver after that is abandoned with the (daemon) thread: its
        message was never deleted, so it is received again after the visibility timeout, at the next start.
        """
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _sweep_if_due(self) -> None:
        if (self._sweep is None and self._overdue is None) or time.monotonic() < self._next_sweep:
            return
        self._next_sweep = time.monotonic() + self._sweep_interval
        for name, sweep in (("webhook outbox", self._sweep), ("overdue scan", self._overdue if self.sweeps else None)):
            if sweep is None:
                continue
            try:
                sweep()
            except Exception:
                log.exception("%s sweep failed; retrying in %.0f s", name, self._sweep_interval)
        self.sweeps += 1

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._sweep_if_due()
            try:
                if poll_once(self._queue, self._handler, batch_size=self._batch_size, wait_seconds=self._wait,
                             source_arn=self._source_arn):
                    self.batches += 1
            except Exception:
                log.exception("webhook poller: receiving failed; retrying in %.0f s", ERROR_BACKOFF_SECONDS)
                self._stopping.wait(ERROR_BACKOFF_SECONDS)


def start_webhook_poller(services: Services, *, sweep_interval: float = SWEEP_INTERVAL_SECONDS) -> WebhookPoller:
    """Start polling `services.webhook_queue` into `services.webhook_consumer.handle`, sweeping
    `services.webhook_outbox` and ending overdue scans (`services.scans.expire_overdue`) every
    `sweep_interval` seconds; `.stop()` ends it."""
    queue = services.webhook_queue
    return WebhookPoller(queue, services.webhook_consumer.handle, sweep=services.webhook_outbox.sweep,
                         sweep_interval=sweep_interval, overdue=services.scans.expire_overdue).start()
