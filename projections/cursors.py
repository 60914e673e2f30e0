"""Opaque keyset cursors: where a page ends, in a form callers pass back and never parse.

A cursor is URL-safe base64 of a small JSON list `[kind, direction, *key]`. The kind
keeps a runs cursor from being used on the audit log; the direction says whether it
pages to older ("o") or newer ("n") rows. Anything that does not decode to exactly that
shape is an `InvalidCursorError`, never a crash further down.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from projections.errors import InvalidCursorError

Direction = Literal["older", "newer"]
_DIRECTIONS: dict[str, Direction] = {"o": "older", "n": "newer"}
_CODES = {value: key for key, value in _DIRECTIONS.items()}
MAX_CURSOR_LENGTH = 200


def _encode(kind: str, direction: Direction, *key: Any) -> str:
    raw = json.dumps([kind, _CODES[direction], *key], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str, kind: str, width: int) -> tuple[Direction, list[Any]]:
    if not cursor or len(cursor) > MAX_CURSOR_LENGTH:
        raise InvalidCursorError()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        value = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise InvalidCursorError() from None
    if not (isinstance(value, list) and len(value) == width + 2 and value[0] == kind):
        raise InvalidCursorError()
    direction = _DIRECTIONS.get(value[1]) if isinstance(value[1], str) else None
    if direction is None:
        raise InvalidCursorError()
    return direction, value[2:]


def encode_run_cursor(direction: Direction, queued_at: datetime, run_id: UUID) -> str:
    return _encode("r", direction, queued_at.astimezone(UTC).isoformat(), str(run_id))


def decode_run_cursor(cursor: str) -> tuple[Direction, datetime, UUID]:
    direction, (stamp, run_id) = _decode(cursor, "r", 2)
    try:
        return direction, _moment(stamp), UUID(run_id)
    except (TypeError, ValueError, AttributeError):
        raise InvalidCursorError() from None


def encode_audit_cursor(direction: Direction, at: datetime, position: int) -> str:
    return _encode("e", direction, at.astimezone(UTC).isoformat(), position)


def decode_audit_cursor(cursor: str) -> tuple[Direction, datetime, int]:
    direction, (stamp, position) = _decode(cursor, "e", 2)
    return direction, _moment(stamp), _position(position)


def encode_position_cursor(kind: str, direction: Direction, position: int) -> str:
    return _encode(kind, direction, position)


def decode_position_cursor(cursor: str, kind: str) -> tuple[Direction, int]:
    direction, (position,) = _decode(cursor, kind, 1)
    return direction, _position(position)


def _moment(stamp: Any) -> datetime:
    try:
        moment = datetime.fromisoformat(stamp)
        if moment.tzinfo is None:
            raise ValueError("naive")
        # In UTC, as encoded; a forged offset at the calendar's edge overflows here.
        return moment.astimezone(UTC)
    except (TypeError, ValueError, OverflowError):
        raise InvalidCursorError() from None


def _position(value: Any) -> int:
    if type(value) is not int or value < 0 or value > 2**62:
        raise InvalidCursorError()
    return value
