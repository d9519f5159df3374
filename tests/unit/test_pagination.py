"""The one pagination module: the cursor's wire format, its checks, and the page cut."""

from __future__ import annotations

import base64
import json

import pytest
from pydantic import ValidationError

from chalicelib.core.errors import BadRequest
from chalicelib.core.pagination import PageQuery, decode_cursor, encode_cursor, page_of


def test_the_cursor_is_unpadded_base64url_json_naming_the_sort_key() -> None:
    cursor = encode_cursor("SCAN#scn_01")
    assert "=" not in cursor
    assert json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))) == {"after": "SCAN#scn_01"}
    assert decode_cursor(cursor, "SCAN#") == "SCAN#scn_01"


@pytest.mark.parametrize("cursor", [
    encode_cursor("TEMPLATE#tpl_1"),  # another listing's cursor
    "not base64 at all!",
    base64.urlsafe_b64encode(b'{"before": "SCAN#x"}').decode(),
    base64.urlsafe_b64encode(b'{"after": 7}').decode(),
    base64.urlsafe_b64encode(b"[1, 2]").decode(),
])
def test_a_cursor_that_is_not_ours_for_this_listing_is_400(cursor: str) -> None:
    with pytest.raises(BadRequest) as info:
        decode_cursor(cursor, "SCAN#")
    assert (info.value.status, info.value.code) == (400, "invalid-cursor")


def test_page_of_cuts_at_the_limit_and_points_after_the_last_item() -> None:
    rows = [("a", "K#3"), ("b", "K#2"), ("c", "K#1")]
    page, cursor = page_of(rows, 2, lambda row: row[1])
    assert page == rows[:2] and cursor is not None and decode_cursor(cursor, "K#") == "K#2"
    assert page_of(rows[:2], 2, lambda row: row[1]) == (rows[:2], None)
    assert page_of([], 2, lambda row: row[1]) == ([], None)


def test_page_query_bounds_the_limit_and_the_cursor() -> None:
    assert (PageQuery().limit, PageQuery().cursor) == (20, None)
    assert PageQuery.model_validate({"limit": "100"}).limit == 100
    for bad in ({"limit": 0}, {"limit": 101}, {"cursor": "x" * 513}):
        with pytest.raises(ValidationError):
            PageQuery.model_validate(bad)
