"""The Fargate scanner container's entrypoint: one signal group of one scan, then exit.

The environment contract is `chalicelib.core.contract` (SCANNER_TASK_ENV from the ASL's
container overrides, SCANNER_STATIC_ENV from the task definition). Exit codes: 0 answered, 1
failure answered, 2 bad input, 3 abandoned (cancelled, timed out or past the deadline).
The embedded stack's local runner starts this same file as a subprocess.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __name__ == "__main__":
    try:
        import chalicelib  # noqa: F401 - in the image it sits beside this file (/app)
    except ImportError:  # run from a checkout: the repository root is the parent directory
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    from chalicelib.core.observability import configure_logging_from_env
    from chalicelib.scanners.task import main

    configure_logging_from_env(log_level="INFO")  # JSON lines; PERIMETER_LOG_LEVEL overrides
    sys.exit(main())
