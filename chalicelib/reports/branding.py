"""A partner's co-branding of reports: name, colours, contact card and logo (light: no report model).

Split from `model.py` so that the API Lambda can validate branding without importing the report model.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator

from chalicelib.reports.images import ImageInfo, inspect_logo

_HEX_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _no_controls(value: str | None) -> str | None:
    if value is not None and _CONTROL.search(value):
        raise ValueError("control characters are not allowed")
    return value


class ContactCard(BaseModel):
    """The partner's contact shown on the cover: who the client should call."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str | None = Field(default=None, max_length=120)
    role: str | None = Field(default=None, max_length=120)
    email: str | None = Field(default=None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    phone: str | None = Field(default=None, max_length=40, pattern=r"^\+?[0-9][0-9 ()./-]{2,38}$")
    website: str | None = Field(default=None, max_length=200, pattern=r"^(https?://)?[^\s/]+\.[^\s]+$")

    _check_controls = field_validator("name", "role", "email", "phone", "website")(_no_controls)

    @property
    def website_url(self) -> str | None:
        """The website as a clickable https URL."""
        if self.website is None:
            return None
        return self.website if self.website.startswith(("http://", "https://")) else f"https://{self.website}"


class Branding(BaseModel):
    """A partner's co-branding: name, contact card, colours (#RRGGBB) and an optional PNG/JPEG logo."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, ser_json_bytes="base64", val_json_bytes="base64",
    )

    partner_name: str = Field(min_length=1, max_length=120)
    contact: ContactCard = Field(default_factory=ContactCard)
    primary_color: str = "#1F3A5F"
    accent_color: str = "#E07A1F"
    logo: bytes | None = Field(default=None, description="PNG or JPEG, at most 512 KiB.")

    _logo_info: ImageInfo | None = PrivateAttr(default=None)

    _check_controls = field_validator("partner_name")(_no_controls)

    @field_validator("primary_color", "accent_color")
    @classmethod
    def _hex_colour(cls, value: str) -> str:
        if not _HEX_COLOUR.match(value):
            raise ValueError("colours must be written #RRGGBB")
        return value.upper()

    @model_validator(mode="after")
    def _inspect_logo(self) -> Branding:
        if self.logo is not None:
            self._logo_info = inspect_logo(self.logo)
        return self

    @property
    def logo_info(self) -> ImageInfo | None:
        """Kind and pixel size of the logo, proven by inspection."""
        return self._logo_info
