"""Fixtures shared by unit tests."""

from __future__ import annotations

import pytest

from chalicelib.bootstrap import Services
from tests.support.memory import RecordingPublisher


@pytest.fixture
def events(services: Services) -> RecordingPublisher:
    """The services' webhook service replaced by a recorder: every event the API and the pipeline publish."""
    recorded = RecordingPublisher()
    services.__dict__["webhooks"] = recorded  # `services.events` is the webhook service
    return recorded
