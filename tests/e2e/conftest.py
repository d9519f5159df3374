"""The e2e lab: loopback test sites on their standard ports and one embedded stack that scans them."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.lab import Lab, standard_lab
from tests.support.stack import RunningStack, start_stack

DRY_SCANNER = f"{sys.executable} -m tests.support.dry_scanner"
# The web ports plus the risky services bad.test exposes.
E2E_PORTS = "1-1000,2375,5900,6379"


@pytest.fixture(scope="session")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """good.test and bad.test with HTTPS on 443 and HTTP on 80 (binding those needs root)."""
    yield from standard_lab(Path(tmp_path_factory.mktemp("e2e-lab")), "the e2e lab")


@pytest.fixture(scope="session")
def stack(lab: Lab) -> Iterator[RunningStack]:
    """One embedded stack for the e2e tests, scanning the lab (real scanner subprocesses)."""
    running = start_stack(lab.stack_env(PERIMETER_SCAN_PORTS=E2E_PORTS, PERIMETER_RATE_LIMIT="100000"))
    yield running
    assert running.stop() == 0, "\n".join(running.output[-40:])
