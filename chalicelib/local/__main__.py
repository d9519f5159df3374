"""`python -m chalicelib.local`: run the whole system on 127.0.0.1 (the API on PERIMETER_HOST) until Ctrl-C."""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import threading
import time

from chalicelib.core.observability import configure_logging_from_env
from chalicelib.local.stack import LocalStack


def main() -> int:
    """Start the stack, print how to reach it, wait for SIGINT/SIGTERM, stop cleanly (in-flight scans: next start)."""
    # JSON lines on stderr at PERIMETER_LOG_LEVEL (WARNING); third-party loggers (moto's werkzeug would
    # print every SQS long poll) stay at WARNING.
    configure_logging_from_env()
    started = time.monotonic()
    host = os.environ.get("PERIMETER_HOST", "127.0.0.1")
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        print(f"perimeter: PERIMETER_HOST must be an IPv4 address (127.0.0.1, 0.0.0.0, ...), not {host!r}",
              file=sys.stderr)
        return 2
    stack = LocalStack(api_port=int(os.environ.get("PERIMETER_PORT", "8000")), api_host=host)
    try:
        stack.start()
    except Exception as exc:
        stack.stop()
        print(f"perimeter: could not start the embedded stack: {exc}", file=sys.stderr)
        return 1
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: done.set())
    print(f"Perimeter is running (started in {time.monotonic() - started:.1f} s)", flush=True)
    print(f"  API:      {stack.api_url}/v1", flush=True)
    print(f"  API key:  {stack.api_key}", flush=True)
    print(f"  AWS:      {os.environ['AWS_ENDPOINT_URL']} (moto)", flush=True)
    print(f"  Data:     {stack.data_dir} (kept across restarts)", flush=True)
    if stack.recovery is not None and (stack.recovery.restarted or stack.recovery.failed):
        print(f"  Recovery: {len(stack.recovery.restarted)} pending scan(s) started again, "
              f"{len(stack.recovery.failed)} interrupted scan(s) failed", flush=True)
    print("Press Ctrl-C to stop.", flush=True)
    done.wait()
    print("Stopping...", flush=True)
    stack.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
