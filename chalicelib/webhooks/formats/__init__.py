"""Webhook formats by name: `perimeter` and one per vendor dialect (each in its own module)."""

from __future__ import annotations

from chalicelib.webhooks.formats.base import WebhookFormat
from chalicelib.webhooks.formats.certiq import CertiqFormat
from chalicelib.webhooks.formats.certix import CertixFormat
from chalicelib.webhooks.formats.cypersecurity import CYPERSECURITY_FORMATS
from chalicelib.webhooks.formats.perimeter import PerimeterFormat
from chalicelib.webhooks.formats.secuscan import SecuScanFormat

DEFAULT_FORMAT = "perimeter"

FORMATS: dict[str, WebhookFormat] = {
    fmt.name: fmt for fmt in (PerimeterFormat(), CertixFormat(), CertiqFormat(), SecuScanFormat(),
                              *CYPERSECURITY_FORMATS)
}


def get_format(name: str) -> WebhookFormat:
    """The format called `name`; raises KeyError for an unknown one."""
    return FORMATS[name]
