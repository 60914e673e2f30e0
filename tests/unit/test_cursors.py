"""Cursors are opaque: what a listing hands out comes back as the same key, and anything
else (forged, truncated, another listing's) is an `InvalidCursorError`, never a crash."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest
from hypothesis import given
from hypothesis import strategies as st

from projections.cursors import (
    decode_audit_cursor,
    decode_position_cursor,
    decode_run_cursor,
    encode_audit_cursor,
    encode_run_cursor,
)
from projections.errors import InvalidCursorError

DECODERS: dict[str, Callable[[str], object]] = {
    "runs": decode_run_cursor,
    "audit": decode_audit_cursor,
    "timeline": lambda cursor: decode_position_cursor(cursor, "t"),
}
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=40),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


def wrapped(value: Any) -> str:
    raw = json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_an_audit_cursor_gives_back_its_time_and_position_in_utc() -> None:
    at = datetime(2026, 12, 2, 10, 42, 7, 123456, tzinfo=timezone(timedelta(hours=9)))
    direction, moment, position = decode_audit_cursor(encode_audit_cursor("newer", at, 981))
    assert (direction, moment, position) == ("newer", at, 981)
    assert moment.tzinfo == UTC


def test_a_runs_cursor_is_not_an_audit_cursor_nor_the_other_way_round() -> None:
    now = datetime.now(UTC)
    with pytest.raises(InvalidCursorError):
        decode_audit_cursor(encode_run_cursor("older", now, uuid4()))
    with pytest.raises(InvalidCursorError):
        decode_run_cursor(encode_audit_cursor("older", now, 5))


@pytest.mark.parametrize(
    "key",
    [
        ["e", "o", "2026-12-02T10:00:00", 5],  # a naive time
        ["e", "o", "2026-12-02T10:00:00+00:00", -1],
        ["e", "o", "2026-12-02T10:00:00+00:00", 2**63],
        ["e", "o", "2026-12-02T10:00:00+00:00", 5.0],
        ["e", "o", "2026-12-02T10:00:00+00:00", True],
        ["e", "o", "0001-01-01T00:00:00+01:00", 5],  # UTC is before year 1
        ["e", "x", "2026-12-02T10:00:00+00:00", 5],
        ["a", "o", 5],  # the audit log's cursor before it was ordered by time
        ["r", "o", "2026-12-02T10:00:00+00:00", 5],  # a run id that is not a string
    ],
)
def test_a_forged_key_is_refused(key: list[Any]) -> None:
    decoder = decode_run_cursor if key[0] == "r" else decode_audit_cursor
    with pytest.raises(InvalidCursorError):
        decoder(wrapped(key))


@pytest.mark.parametrize("listing", DECODERS)
@given(text=st.text(max_size=300))
def test_any_text_decodes_or_is_refused(listing: str, text: str) -> None:
    assert_decodes_or_is_refused(DECODERS[listing], text)


@pytest.mark.parametrize("listing", DECODERS)
@given(kind=st.sampled_from(["r", "e", "t", "a"]), direction=JSON, key=st.lists(JSON, max_size=3))
def test_any_well_formed_json_list_decodes_or_is_refused(
    listing: str, kind: str, direction: Any, key: list[Any]
) -> None:
    assert_decodes_or_is_refused(DECODERS[listing], wrapped([kind, direction, *key]))


def assert_decodes_or_is_refused(decoder: Callable[[str], object], cursor: str) -> None:
    """Any exception but InvalidCursorError fails the test; a decoded cursor has a direction."""
    try:
        decoded = decoder(cursor)
    except InvalidCursorError:
        return
    assert isinstance(decoded, tuple) and decoded[0] in ("older", "newer")
