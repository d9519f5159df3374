"""Fixtures shared by unit tests."""

from __future__ import annotations

import pytest

from chalicelib.adapters.memory import RecordingPublisher
from chalicelib.services import Services


@pytest.fixture
def events(services: Services) -> RecordingPublisher:
    """The services' webhook service replaced by a recorder: every event the API and the pipeline publish."""
    recorded = RecordingPublisher()
    services.__dict__["webhooks"] = recorded  # `services.events` is the webhook service
    return recorded
