"""Perimeter API client: `Client`, its models and errors, webhook verification; the `perimeter` CLI."""

from perimeter_client._transport import RetryPolicy
from perimeter_client.client import Client
from perimeter_client.errors import (
    APIError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    ConflictError,
    NotFoundError,
    PerimeterError,
    RateLimitError,
    ScanFailedError,
    ServerError,
    TransportError,
    ValidationError,
    WaitTimeoutError,
    WebhookVerificationError,
)
from perimeter_client.models import (
    Cap,
    DeliveryQueued,
    Finding,
    FindingPage,
    Page,
    ReportLink,
    Scan,
    ScanCreated,
    ScanError,
    Signal,
    Webhook,
)
from perimeter_client.webhooks import verify_perimeter, verify_standard, verify_webhook

__version__ = "0.1.0"
__all__ = [
    "APIError", "AuthenticationError", "BadRequestError", "Cap", "Client", "ConfigurationError", "ConflictError",
    "DeliveryQueued", "Finding", "FindingPage", "NotFoundError", "Page", "PerimeterError", "RateLimitError",
    "ReportLink",
    "RetryPolicy", "Scan", "ScanCreated", "ScanError", "ScanFailedError", "ServerError", "Signal",
    "TransportError", "ValidationError", "WaitTimeoutError", "Webhook", "WebhookVerificationError",
    "verify_perimeter", "verify_standard", "verify_webhook",
]
