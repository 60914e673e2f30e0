"""What the ledger accepts, and how much of it it keeps (docs/workers.md, "Limits").

Names (workspace, operation type, initiator, idempotency key) and a job's params are
*refused* past their limit, by an `InputRefusedError` naming it: the caller can fix
them. What a job reports (its summary, heartbeat counters, failure message) cannot be
refused once the job has run: it is *stored cut*, with a marker saying what was left
out (a text here, a summary in ledger/summaries.py). Every stored text is cleaned the
same way on both stores: NUL (PostgreSQL's text and jsonb refuse it) and lone
surrogates (UTF-8 cannot encode them) become U+FFFD.

Pure, and nothing here recurses deeper than DEPTH_LIMIT: no input, however nested (or
cyclic), reaches Python's recursion limit.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
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
JSON_INTS = range(-(2**63), 2**64)  # the integers every JSON reader (orjson too) takes


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
    if isinstance(value, bool) or value in JSON_INTS:
        return value
    try:
        return clean_text(str(value), PARAM_TEXT_LIMIT)
    except ValueError:  # past Python's limit on the digits of an int's text
        return f"<an integer of {value.bit_length():,} bits>"
