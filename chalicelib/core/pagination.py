"""Pagination of every list route: the `limit` and `cursor` query fields, and the opaque cursor.

A cursor is unpadded base64url of the JSON `{"after": "<sort key>"}`: the item after which the next
page starts. Decoding checks that the sort key belongs to the listing asked for (its prefix), so a
cursor cannot be replayed against another listing; listings are keyed by the caller's tenant, so it
cannot cross tenants either.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Sequence
from typing import Annotated, TypeVar

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.core.errors import BadRequest

T = TypeVar("T")

MAX_CURSOR_LENGTH = 512
DEFAULT_PAGE_SIZE = 20
MAX_PAGE_SIZE = 100
MAX_FINDINGS_PAGE_SIZE = 200  # findings are small and read in bulk

Cursor = Annotated[str, Field(max_length=MAX_CURSOR_LENGTH)]
PageLimit = Annotated[int, Field(ge=1, le=MAX_PAGE_SIZE)]
FindingsPageLimit = Annotated[int, Field(ge=1, le=MAX_FINDINGS_PAGE_SIZE)]


class PageQuery(BaseModel):
    """Pagination of list endpoints."""

    model_config = ConfigDict(extra="ignore")
    limit: PageLimit = DEFAULT_PAGE_SIZE
    cursor: Cursor | None = None


def invalid_cursor() -> BadRequest:
    """The error every unusable cursor gets (400 `invalid-cursor`)."""
    return BadRequest("The cursor is not valid.", code="invalid-cursor")


def encode_cursor(sk: str) -> str:
    """An opaque cursor for the item after which the next page starts."""
    return base64.urlsafe_b64encode(json.dumps({"after": sk}).encode()).decode().rstrip("=")


def decode_cursor(cursor: str, prefix: str) -> str:
    """The sort key a cursor points at; raises BadRequest when it is not one of ours for this listing."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        after = json.loads(base64.urlsafe_b64decode(padded.encode()))["after"]
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise invalid_cursor() from None
    if not isinstance(after, str) or not after.startswith(prefix):
        raise invalid_cursor()
    return after


def page_of(rows: Sequence[T], limit: int, sort_key: Callable[[T], str]) -> tuple[list[T], str | None]:
    """The first `limit` of `rows` (fetched with limit + 1) and the cursor after them, None on the last page."""
    page = list(rows[:limit])
    return page, encode_cursor(sort_key(page[-1])) if len(rows) > limit else None
