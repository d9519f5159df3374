"""The embedded stack's Lambda: calls the handler a function's `Handler` string names.

moto (through `moto_fixes`) hands every Invoke here. Like the Lambda runtime, an exception becomes
the error envelope `{errorType, errorMessage, stackTrace}` with `X-Amz-Function-Error: Unhandled`,
so the ASL's Retry and Catch see the exception's class name as the error name.

`invoke` runs the handler in the calling process (integration tests under in-process moto).
`LambdaWorkers` runs it in a small pool of warm worker processes, as Lambda runs functions apart
from the API: the stack's own process (moto, the API) then no longer shares its interpreter lock
with report rendering and the handlers' AWS calls.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import time
import traceback
import uuid
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("perimeter.lambda")


@dataclass
class LambdaContext:
    """The parts of the Lambda context object handlers use."""

    function_name: str
    timeout_seconds: int = 900
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = ""
    _started: float = field(default_factory=time.monotonic)

    def get_remaining_time_in_millis(self) -> int:
        """Milliseconds left before the (simulated) timeout."""
        return max(0, int((self._started + self.timeout_seconds - time.monotonic()) * 1000))


def resolve(handler: str) -> Any:
    """The callable a `module.attribute` Handler string names; raises ImportError or AttributeError."""
    module_name, _, attribute = handler.rpartition(".")
    if not module_name:
        raise ImportError(f"Handler {handler!r} is not module.function")
    return getattr(importlib.import_module(module_name), attribute)


def invoke(handler: str, event: bytes, function_name: str) -> tuple[bytes, str | None]:
    """Run the handler on the JSON event; returns (payload, None) or (error envelope, "Unhandled")."""
    started = time.perf_counter()
    try:
        function = resolve(handler)
        result = function(json.loads(event or b"{}"), LambdaContext(function_name))
        payload = json.dumps(result).encode()
    except Exception as exc:
        log.info("%s raised %s: %s", function_name, type(exc).__name__, exc)
        envelope = {"errorType": type(exc).__name__, "errorMessage": str(exc),
                    "stackTrace": traceback.format_tb(exc.__traceback__)[-5:]}
        return json.dumps(envelope).encode(), "Unhandled"
    finally:
        log.debug("%s ran in %.1f ms", function_name, (time.perf_counter() - started) * 1000)
    return payload, None


class LambdaWorkers:
    """A pool of worker processes (forked from the warm fork server) that run Lambda handlers."""

    def __init__(self, workers: int = 3) -> None:
        self.workers = workers
        self._pool: Any = None
        self._lock = threading.Lock()

    def _executor(self) -> Any:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with self._lock:
            if self._pool is None:
                from chalicelib.local.children import worker_initializer
                from chalicelib.local.runner import FORKSERVER_PRELOAD

                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(list(FORKSERVER_PRELOAD))
                self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=context,
                                                 initializer=worker_initializer)
            return self._pool

    def invoke(self, handler: str, event: bytes, function_name: str) -> tuple[bytes, str | None]:
        """Run the handler in a worker; a dead worker is reported like Lambda's Runtime.ExitError."""
        from concurrent.futures.process import BrokenProcessPool

        pool = self._executor()
        try:
            result: tuple[bytes, str | None] = pool.submit(invoke, handler, event, function_name).result()
            return result
        except BrokenProcessPool as exc:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            envelope = {"errorType": "Runtime.ExitError", "errorMessage": f"worker process exited: {exc}"}
            return json.dumps(envelope).encode(), "Unhandled"

    def shutdown(self) -> None:
        """Stop the workers."""
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)
