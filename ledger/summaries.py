"""A job's summary as the ledger stores it: a JSON-native copy cut to the limits.

What a job reports (its summary, heartbeat counters) cannot be refused once the job has
run, so it is stored cut, with a marker saying what was left out; the limits and the
text cleaning are ledger/limits.py's. Pure, and iterative past DEPTH_LIMIT: no input,
however nested (or cyclic), reaches Python's recursion limit.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.limits import (
    CUT,
    DEPTH_LIMIT,
    ITEMS_LIMIT,
    JSON_INTS,
    NAME_LIMIT,
    SUMMARY_BYTES_LIMIT,
    TEXT_LIMIT,
    clean_text,
    is_clean,
    json_number,
    safe_repr,
)

# Room kept for the markers of a cut summary (one per open dict or list, at most
# DEPTH_LIMIT of them), so that a summary with its markers stays within its limit.
_MARKER_ROOM = 8 * 1024
_JSON = json.JSONEncoder(ensure_ascii=False).encode


@dataclass
class _Walk:
    """One summary being bounded: what is left of its bytes, and how values are kept."""

    left: int
    text_limit: int
    flat: bool  # values that are not scalars become their repr (the params summary)

    def take(self, size: int) -> bool:
        if size > self.left:
            self.left = 0
            return False
        self.left -= size
        return True

    def text(self, value: str, limit: int | None = None) -> str | None:
        """The cleaned text when it still fits, else None (and the walk is over)."""
        text = clean_text(value, self.text_limit if limit is None else limit)
        size = len(_JSON(text)) if text.isascii() else len(_JSON(text).encode())
        return text if self.take(size + 1) else None


def bounded_summary(
    value: Mapping[Any, Any], *, text_limit: int = TEXT_LIMIT, flat: bool = False
) -> dict[str, Any]:
    """A JSON-native copy of a summary that every store can hold, cut to the limits.

    Strings are cleaned and cut to `text_limit` characters; numbers that JSON cannot
    carry become text; tuples become lists; keys become text as JSON writes them;
    anything else becomes its repr, as does every non-scalar value when `flat`. Below
    DEPTH_LIMIT levels a value becomes a marker. A dict or list keeps its first
    ITEMS_LIMIT entries, and the whole stops once SUMMARY_BYTES_LIMIT is spent; what
    was left out is counted under a `…` key (a dict) or in a last `…` item (a list).
    Never raises.
    """
    walk = _Walk(SUMMARY_BYTES_LIMIT - _MARKER_ROOM, text_limit, flat)
    return _bound_dict(value, 1, walk)


def _bound(value: Any, depth: int, walk: _Walk) -> Any:
    if value is None or isinstance(value, (bool, int, float)):
        number = None if value is None else json_number(value)
        if isinstance(number, str):
            return _fit(walk, number)
        walk.take(26)  # the longest number JSON writes, and its comma
        return number
    if isinstance(value, str):
        return _fit(walk, value)
    if walk.flat or not isinstance(value, (Mapping, list, tuple)):
        return _fit(walk, safe_repr(value))
    if depth > DEPTH_LIMIT:
        return f"{CUT} nested deeper than {DEPTH_LIMIT} levels (DEPTH_LIMIT)"
    if isinstance(value, Mapping):
        return _bound_dict(value, depth, walk)
    return _bound_list(value, depth, walk)


def _fit(walk: _Walk, text: str) -> str:
    """The cleaned text, or `…` once the summary has no room left for it."""
    fitted = walk.text(text)
    return CUT if fitted is None else fitted


def _bound_dict(value: Mapping[Any, Any], depth: int, walk: _Walk) -> dict[str, Any]:
    out: dict[str, Any] = {}
    try:
        items = list(value.items())
    except Exception:
        return {CUT: f"unreadable {type(value).__name__}"}
    walk.take(2)
    kept = 0
    for index, (key, item) in enumerate(items):
        if key == CUT and isinstance(item, str):  # an earlier cut's marker: kept as it is
            out[CUT] = _fit(walk, item)
            continue
        name = walk.text(_key_text(key), NAME_LIMIT) if kept < ITEMS_LIMIT else None
        if name is None or walk.left <= 0:
            out[CUT] = _left_out(len(items) - index, "entries")
            break
        out[name] = _bound(item, depth + 1, walk)
        kept += 1
    return out


def _bound_list(value: list[Any] | tuple[Any, ...], depth: int, walk: _Walk) -> list[Any]:
    out: list[Any] = []
    walk.take(2)
    for index, item in enumerate(value):
        if index >= ITEMS_LIMIT or walk.left <= 0:
            if index == len(value) - 1 and _is_marker(item):  # an earlier cut's marker
                out.append(item)
            else:
                out.append(f"{CUT} {_left_out(len(value) - index, 'items')}")
            break
        out.append(_bound(item, depth + 1, walk))
    return out


def _is_marker(item: object) -> bool:
    return isinstance(item, str) and item.startswith(f"{CUT} ") and len(item) < 200


def _left_out(count: int, what: str) -> str:
    return f"{count:,} more {what} not stored (ITEMS_LIMIT, SUMMARY_BYTES_LIMIT)"


def _key_text(key: object) -> str:
    """A key as JSON writes it (7 -> "7", True -> "true"); any other key as its repr."""
    if isinstance(key, str):
        return key
    if key is None or isinstance(key, bool):
        return "null" if key is None else ("true" if key else "false")
    if isinstance(key, (int, float)):
        return str(json_number(key))
    return safe_repr(key)


def is_plain(value: Mapping[Any, Any]) -> bool:
    """True when `bounded_summary(value)` is sure to equal `dict(value)`: text keys and
    clean scalar values (a job's counters), short enough to need no walk."""
    if len(value) > ITEMS_LIMIT:
        return False
    room = (SUMMARY_BYTES_LIMIT - _MARKER_ROOM) // 8  # JSON takes up to 6 bytes a character
    for key, item in value.items():
        if type(key) is not str or not is_clean(key, NAME_LIMIT):
            return False
        size = _plain_size(item)
        if size is None:
            return False
        room -= len(key) + size
        if room < 0:
            return False
    return True


def _plain_size(item: object) -> int | None:
    """About what a clean scalar takes (None: not one)."""
    if item is None or isinstance(item, bool):
        return 8
    if isinstance(item, str):
        return len(item) + 8 if is_clean(item, TEXT_LIMIT) else None
    if isinstance(item, float):
        return 8 if math.isfinite(item) else None
    if isinstance(item, int):
        return 8 if item in JSON_INTS else None
    return None
