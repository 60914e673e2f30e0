"""How numbers, durations, times and small dicts read in operator-facing sentences.

One place, so the API, the CLI and the HTML views say "14 min" and "10:42:30 UTC" the
same way. Every function is deterministic: the same input gives the same text, and none
reads a clock (a reference time is passed in when the text depends on one).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from ledger import RetryReason
from ledger.codes import upcast_retry_reason

# RetryScheduled reasons: why arq will run the job again (the API, the CLI and the web
# timeline all say it so).
RETRY_REASON_WORDS: dict[str, str] = {
    RetryReason.REQUESTED: "the job asked for a retry",
    RetryReason.CANCELLED: "the job was cancelled",
    RetryReason.WORKER_SHUTDOWN: "the worker shut down",
}


def retry_reason_words(reason: object) -> str | None:
    """A retry reason in words; None for one without words. A row projected before the
    reasons had their own vocabulary may still hold a v1 string: it reads the same."""
    return RETRY_REASON_WORDS.get(upcast_retry_reason(str(reason)))


_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))
_MAX_VALUE_CHARS = 60
_MAX_PAIRS = 6


def utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive datetime is taken to be UTC already (as the store writes)."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def number(value: float) -> str:
    """30 and 30.0 both read "30"; 0.25 reads "0.25" (g-format, never an exponent for
    whole numbers)."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}"


def duration(seconds: float) -> str:
    """A compact span: "0.5 s", "45 s", "1 min 5 s", "14 min", "1 h 5 min", "2 d 3 h".

    The two largest units are shown, the second only when it is not zero; under 10 s a
    tenth of a second is kept. A negative span (clock skew) reads as zero.
    """
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        return f"{number(round(seconds, 1))} s"
    remaining = round(seconds)
    parts: list[str] = []
    for name, size in _UNITS:
        value, remaining = divmod(remaining, size)
        if value or parts:
            parts.append(f"{value} {name}")
    first, *rest = parts
    if rest and not rest[0].startswith("0 "):
        return f"{first} {rest[0]}"
    return first


def span(start: datetime, end: datetime) -> str:
    """The duration from `start` to `end`, as `duration` writes it."""
    return duration((utc(end) - utc(start)).total_seconds())


def clock(moment: datetime, today: datetime | None = None) -> str:
    """ "19:40:02 UTC" on the day of `today`, "2026-01-02 19:40:02 UTC" on any other day
    (and always when no `today` is given)."""
    moment = utc(moment)
    if today is not None and utc(today).date() == moment.date():
        return moment.strftime("%H:%M:%S UTC")
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def counted(count: int, noun: str, plural: str | None = None) -> str:
    """ "1 attempt", "3 attempts"; `plural` for irregular nouns ("try" / "tries")."""
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


def value_text(value: Any) -> str:
    """One value as an operator reads it: numbers g-formatted, text as is, the rest as
    compact JSON; cut at 60 characters."""
    if isinstance(value, bool) or value is None:
        text = json.dumps(value)
    elif isinstance(value, int | float):
        text = number(value)
    elif isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
    if len(text) > _MAX_VALUE_CHARS:
        return text[: _MAX_VALUE_CHARS - 1] + "…"
    return text


def pairs(mapping: Mapping[str, Any]) -> str:
    """ "rows=120, skipped=3" in the mapping's own order; past six keys, "and N more"."""
    shown = [f"{key}={value_text(value)}" for key, value in list(mapping.items())[:_MAX_PAIRS]]
    hidden = len(mapping) - len(shown)
    if hidden > 0:
        shown.append(f"and {hidden} more")
    return ", ".join(shown)


def progress_text(progress: Mapping[str, Any]) -> str:
    """A job's progress counters: "80/100" when it reports done and total (other keys in
    parentheses), otherwise its counters as k=v; "" when it reported none."""
    done, total = progress.get("done"), progress.get("total")
    if not _is_number(done) or not _is_number(total):
        return pairs(progress)
    others = {k: v for k, v in progress.items() if k not in ("done", "total")}
    text = f"{value_text(done)}/{value_text(total)}"
    return f"{text} ({pairs(others)})" if others else text


def seconds_of(value: Any) -> float | None:
    """A number of seconds read from stored evidence, or None when it is absent or not a
    number (evidence is JSON written by older or newer versions)."""
    return float(value) if _is_number(value) else None


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)
