"""Shared fixtures: fake AWS credentials, Settings, services on fakes or on moto."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

# Fake credentials before anything can build a boto3 client; never a real account.
for _name, _value in {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
}.items():
    os.environ[_name] = _value
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

from chalicelib.bootstrap import Services, set_services  # noqa: E402
from chalicelib.core import observability  # noqa: E402
from chalicelib.core.settings import Settings  # noqa: E402
from tests.support.fakes import FakeResolver  # noqa: E402
from tests.support.memory import MemoryObjectStore, MemoryStore, RecordingWorkflow  # noqa: E402

PEPPER = "test-pepper-0123456789abcdef"
PUBLIC_DOMAINS = {
    "example.com": ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"],
    "xn--bcher-kva.example": ["93.184.216.35"],
    "mail-only.example": [],
    "internal.example": ["10.0.0.5"],
    "metadata.example": ["169.254.169.254"],
    "mixed.example": ["93.184.216.36", "127.0.0.1"],
    "mapped.example": ["::ffff:127.0.0.1"],
}


@pytest.fixture(autouse=True)
def fresh_log_keys() -> Iterator[None]:
    """Each test starts with no log keys (service code called outside an entry point binds them for good)."""
    with observability.fresh_log_context():
        yield


@pytest.fixture
def settings() -> Settings:
    """Settings for tests: fixed pepper, no endpoint override."""
    return Settings.from_env({}, key_pepper=PEPPER, state_machine_arn=(
        "arn:aws:states:us-east-1:123456789012:stateMachine:perimeter-scan-pipeline"))


@pytest.fixture
def workflow() -> RecordingWorkflow:
    """A workflow fake that records starts and stops."""
    return RecordingWorkflow()


@pytest.fixture
def resolver() -> FakeResolver:
    """A resolver fake with public, private and mixed names."""
    return FakeResolver(PUBLIC_DOMAINS)


@pytest.fixture
def services(settings: Settings, workflow: RecordingWorkflow, resolver: FakeResolver) -> Iterator[Services]:
    """Services on in-memory fakes, installed as the process-wide services."""
    built = Services(settings, store=MemoryStore(), workflow=workflow, resolver=resolver,
                     objects=MemoryObjectStore())
    set_services(built)
    yield built
    set_services(None)
