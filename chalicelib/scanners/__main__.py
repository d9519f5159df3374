"""`python -m chalicelib.scanners`: the scanner task entrypoint (Fargate container and local runner)."""

from __future__ import annotations

import logging
import sys

from chalicelib.scanners.task import main

if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(asctime)s scanner %(levelname)s %(message)s")
    sys.exit(main())
