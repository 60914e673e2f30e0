"""What the ledger accepts, and how much of it it keeps (docs/workers.md, "Limits").

Names (workspace, operation type, initiator, idempotency key) and a job's params are
*refused* past their limit, by an `InputRefusedError` naming it: the caller can fix
them. What a job reports (its summary, heartbeat counters, failure message) cannot be
refused once the job has run: it is *stored cut*, with a marker saying what was left
out. Every stored text is cleaned the same way on both stores: NUL (PostgreSQL's text
and jsonb refuse it) and lone surrogates (UTF-8 cannot encode them) become U+FFFD.

Pure, and nothing here recurses deeper than DEPTH_LIMIT: no input, however nested (or
cyclic), reaches Python's recursion limit.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ledger.errors import LedgerError

NAME_LIMIT = 200  # characters of a workspace, operation type, initiator or idempotency key
PARAMS_BYTES_LIMIT = 1024 * 1024  # a job's params as arq stores them (pickled)
DEPTH_LIMIT = 32  # nesting levels: params deeper are refused, summaries deeper are cut
TEXT_LIMIT = 8_000  # characters of one stored text: a failure message, a summary's string
PARAM_TEXT_LIMIT = 200  # characters of one param's value in the Queued event's summary
ITEMS_LIMIT = 1_000  # entries of one dict or list in a stored summary (params summary too)
SUMMARY_BYTES_LIMIT = 64 * 1024  # one stored summary (or params summary), as UTF-8 JSON

REPLACEMENT = "\ufffd"
CUT = "…"  # ends a cut text; also the key (of a dict) or last item (of a list) of a cut
DOCS = 'docs/workers.md, "Limits"'

_UNSAFE = re.compile("[\x00\ud800-\udfff]")  # NUL and lone surrogates
_INT_RANGE = range(-(2**63), 2**64)  # the integers every JSON reader (orjson too) takes
# Room kept for the markers of a cut summary (one per open dict or list, at most
# DEPTH_LIMIT of them), so that a summary with its markers stays within its limit.
_MARKER_ROOM = 8 * 1024
_JSON = json.JSONEncoder(ensure_ascii=False).encode


class InputRefusedError(LedgerError):
    """Input past one of the limits above; the message names the limit and its value."""

    def __init__(self, message: str, *, limit: str, hint: str = "") -> None:
        super().__init__(message, hint=hint or f"see {DOCS}")
        self.limit = limit  # the limit's name here, e.g. "NAME_LIMIT"


# -- refused: names ---------------------------------------------------------------------


def check_name(what: str, name: object, *, strict: bool = True) -> str:
    """`name` when it is usable as a `what` (workspace, operation type...), else refused.

    A name is 1 to NAME_LIMIT printable characters with no leading or trailing
    whitespace: the rule tokens apply to the workspaces they grant (web/tokens.py), so
    a run is never recorded under a name that no token can grant and no filter can
    match. HTML, quotes and path separators are printable: they are stored as given,
    and every view escapes them. Not `strict` (the ledger's own check, under every
    caller): only what no store can hold, or no one can read, is refused: an empty or
    blank name, one past NAME_LIMIT, a NUL or a lone surrogate.
    """
    rule = (
        f"a {what} is 1 to {NAME_LIMIT} printable characters, no leading or trailing "
        f"whitespace: NAME_LIMIT in {DOCS}"
    )
    if not isinstance(name, str):
        message = f"the {what} must be text, not {type(name).__name__}"
        raise InputRefusedError(message, limit="NAME_LIMIT", hint=rule)
    problem = _name_problem(name, strict)
    if problem:
        raise InputRefusedError(
            f"the {what} {shown(name)} {problem}", limit="NAME_LIMIT", hint=rule
        )
    return name


def _name_problem(name: str, strict: bool) -> str:
    if not name:
        return "is empty"
    if not name.strip():
        return "is only whitespace"
    if len(name) > NAME_LIMIT:
        return f"is {len(name):,} characters, over the {NAME_LIMIT}-character NAME_LIMIT"
    if not strict:
        return "holds a NUL or a lone surrogate" if not is_clean(name, NAME_LIMIT) else ""
    if name != name.strip():
        return "starts or ends with whitespace"
    if not name.isprintable():
        return "holds a control character (NUL, a newline...) or another unprintable one"
    return ""


def shown(value: object, limit: int = 60) -> str:
    """A short, escaped, one-line rendering of a value, for an error message."""
    text = value if isinstance(value, str) else safe_repr(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit]!r}{CUT} ({len(text):,} characters)"


# -- refused: params --------------------------------------------------------------------


def check_depth(what: str, value: object) -> None:
    """Refuses a value that nests dicts and lists more than DEPTH_LIMIT levels deep.

    Iterative: a 1,000-level value is measured without reaching Python's recursion
    limit, which pickling it (or taking its repr) meets as a raw RecursionError. A
    container shared by several parents is walked once (per depth it is met at).
    """
    deepest: dict[int, int] = {}  # id of a container -> the deepest level it was met at
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        children: Any
        if isinstance(item, Mapping):
            children = item.values()
        elif isinstance(item, (list, tuple, set, frozenset)):
            children = item
        else:
            continue
        if depth > DEPTH_LIMIT:
            raise too_deep(what)
        if deepest.get(id(item), 0) >= depth:
            continue
        deepest[id(item)] = depth
        stack.extend((child, depth + 1) for child in children)


def too_deep(what: str) -> InputRefusedError:
    return InputRefusedError(
        f"{what}: more than {DEPTH_LIMIT} levels of nesting, "
        f"past the {DEPTH_LIMIT}-level DEPTH_LIMIT",
        limit="DEPTH_LIMIT",
        hint="flatten it, or pass a reference (a key, a URL) that the job reads",
    )


def check_params_size(size: int) -> None:
    """Refuses params whose pickled form (what arq stores in Redis) is too large."""
    if size > PARAMS_BYTES_LIMIT:
        raise InputRefusedError(
            f"the params are {size:,} bytes pickled, over the {PARAMS_BYTES_LIMIT:,}-byte "
            "(1 MiB) PARAMS_BYTES_LIMIT",
            limit="PARAMS_BYTES_LIMIT",
            hint="pass a reference (a key, a URL) and let the job fetch the data",
        )


# -- stored cut: texts ------------------------------------------------------------------


def clean_text(text: str, limit: int = TEXT_LIMIT) -> str:
    """At most `limit` characters (then `…`), with NUL and lone surrogates as U+FFFD."""
    if len(text) > limit:
        text = text[:limit] + CUT
    if text.isascii():
        return text.replace("\x00", REPLACEMENT) if "\x00" in text else text
    return _UNSAFE.sub(REPLACEMENT, text)


def is_clean(text: str, limit: int) -> bool:
    """True when `clean_text(text, limit)` is `text` itself."""
    if len(text) > limit:
        return False
    return "\x00" not in text if text.isascii() else _UNSAFE.search(text) is None


def safe_repr(value: object) -> str:
    """repr(value), or a placeholder when repr fails (too deep, a broken __repr__)."""
    return _made(repr, "repr", value)


def safe_str(value: object) -> str:
    """str(value), or a placeholder when str fails (too deep, a broken __str__)."""
    return _made(str, "text", value)


def _made(make: Any, what: str, value: object) -> str:
    try:
        return str(make(value))
    except Exception as error:
        kind = type(value).__name__
        return f"<the {what} of a {kind} could not be made: {type(error).__name__}>"


def json_number(value: int | float) -> int | float | str:
    """A number as every JSON reader takes it; others (NaN, 10**100) as their text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, bool) or value in _INT_RANGE:
        return value
    try:
        return clean_text(str(value), PARAM_TEXT_LIMIT)
    except ValueError:  # past Python's limit on the digits of an int's text
        return f"<an integer of {value.bit_length():,} bits>"


# -- stored cut: summaries --------------------------------------------------------------


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
        return 8 if item in _INT_RANGE else None
    return None
