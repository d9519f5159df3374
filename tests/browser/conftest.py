"""Headless Chromium (Selenium 4, /usr/bin/chromedriver) against the API served on loopback.

The app runs in this process behind the embedded stack's HTTP server (chalicelib.local.apiserver)
on a random 127.X.Y.Z address, with services on in-memory fakes and the self-assessment port fake.
Every test here skips, saying why, when Chromium, chromedriver, Selenium or axe-core is missing.
"""

from __future__ import annotations

import random
import shutil
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from chalicelib.bootstrap import Services, set_services
from chalicelib.core.settings import Settings
from tests.conftest import PEPPER
from tests.support.memory import MemoryObjectStore, MemoryStore, RecordingWorkflow
from tests.support.sa_fake import FakeSelfAssessment

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
AXE = Path(__file__).resolve().parents[2] / ".tools" / "node_modules" / "axe-core" / "axe.min.js"
CHROME_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync")


def _missing() -> str | None:
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (requirements-dev.txt)"
    for path, how in ((CHROMIUM, "apt-get install chromium"), (CHROMEDRIVER, "apt-get install chromium-driver")):
        if not path.exists():
            return f"{path} is missing ({how}, or scripts/setup.sh as root)"
    if not AXE.exists():
        return f"{AXE} is missing (scripts/setup.sh installs axe-core with npm)"
    return None


MISSING = _missing()  # the test modules skip on it (pytestmark); the fixtures too


@dataclass
class Site:
    """The served app: its base URL and the port fake behind the page."""

    base_url: str
    port: FakeSelfAssessment

    def url(self, token: str) -> str:
        return f"{self.base_url}/sa/{token}"


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """The app on a random loopback address and a free port; yields its base URL."""
    if MISSING is not None:
        pytest.skip(MISSING)
    from chalicelib.local.apiserver import serve_api

    host = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
    served = serve_api(host, 0)
    port = served.server.server_address[1]
    thread = threading.Thread(target=served.server.serve_forever, name="sa-browser-api", daemon=True)
    thread.start()
    yield f"http://{host}:{port}"
    served.server.shutdown()
    served.server.server_close()
    thread.join(timeout=5)


@pytest.fixture
def site(server: str) -> Iterator[Site]:
    """Fresh services (and rate-limit counts) for each test, with the port fake wired in."""
    settings = Settings.from_env({}, key_pepper=PEPPER, public_base_url=server)
    services = Services(settings, store=MemoryStore(), workflow=RecordingWorkflow(), objects=MemoryObjectStore())
    fake = FakeSelfAssessment()
    services.__dict__["self_assessment"] = fake  # what the bootstrap property gives once wired
    set_services(services)
    yield Site(server, fake)
    set_services(None)


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One headless Chromium for the module, with its own profile directory and console logs kept."""
    if MISSING is not None:
        pytest.skip(MISSING)
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tmp_path_factory.mktemp("chromium-profile")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*CHROME_FLAGS, f"--user-data-dir={profile}", "--window-size=1280,900"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def axe_source() -> str:
    """axe-core's browser build (pinned in scripts/setup.sh)."""
    return AXE.read_text(encoding="utf-8")
