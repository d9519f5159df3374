"""Perimeter API client: `Client`, its models, options and errors, webhook verification; the `perimeter` CLI."""

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
    Gate,
    Page,
    ReportLink,
    Scan,
    ScanCreated,
    ScanError,
    Signal,
    Webhook,
)
from perimeter_client.options import ContainerOptions, RegistryAuth, WebappOptions
from perimeter_client.resources import AuditEvent, Challenge, DnsChallenge, HttpChallenge, SbomLink, Target
from perimeter_client.webhooks import verify_perimeter, verify_standard, verify_webhook

__version__ = "0.1.0"
__all__ = [
    "APIError", "AuditEvent", "AuthenticationError", "BadRequestError", "Cap", "Challenge", "Client",
    "ConfigurationError", "ConflictError", "ContainerOptions", "DeliveryQueued", "DnsChallenge", "Finding",
    "FindingPage", "Gate", "HttpChallenge", "NotFoundError", "Page", "PerimeterError", "RateLimitError",
    "RegistryAuth", "ReportLink", "RetryPolicy", "SbomLink", "Scan", "ScanCreated", "ScanError", "ScanFailedError",
    "ServerError", "Signal", "Target", "TransportError", "ValidationError", "WaitTimeoutError", "WebappOptions",
    "Webhook", "WebhookVerificationError", "verify_perimeter", "verify_standard", "verify_webhook",
]
