"""Times as the pages show them: relative ("3 min ago"), with the exact UTC time on hover.

The server writes the relative text so a page reads right without JavaScript;
web/static/times.js rewrites the same `<time>` elements as the clock moves, or in UTC
or local time when the operator switches. Both sides round the same way (keep
`relative` and times.js's `relative` in step).
"""

from __future__ import annotations

from datetime import UTC, datetime

from projections.wording import clock, duration

__all__ = ["clock_text", "exact", "moment", "relative", "seconds_text"]

_STEPS = ((86_400, "d"), (3_600, "h"), (60, "min"), (1, "s"))
_JUST_NOW = 10  # seconds either side of now that read "just now"


def moment(value: str | datetime | None) -> datetime | None:
    """A datetime from the documents' ISO text (or a datetime), in UTC."""
    if value is None:
        return None
    found = datetime.fromisoformat(value) if isinstance(value, str) else value
    return found.replace(tzinfo=UTC) if found.tzinfo is None else found.astimezone(UTC)


def relative(value: str | datetime | None, now: datetime) -> str:
    """ "just now", "45 s ago", "3 min ago", "2 h ago", "4 d ago"; "in 5 min" ahead."""
    when = moment(value)
    if when is None:
        return "—"
    seconds = (when - now).total_seconds()
    size = abs(seconds)
    if size < _JUST_NOW:
        return "just now"
    step, unit = next((s, u) for s, u in _STEPS if size >= s)
    text = f"{int(size // step)} {unit}"
    return f"in {text}" if seconds > 0 else f"{text} ago"


def exact(value: str | datetime | None, *, seconds: bool = True) -> str:
    """ "2026-03-04 10:30:02 UTC": what the hover title and UTC mode show."""
    when = moment(value)
    if when is None:
        return "—"
    return when.strftime("%Y-%m-%d %H:%M:%S UTC" if seconds else "%Y-%m-%d %H:%M UTC")


def clock_text(value: str | datetime | None, now: datetime) -> str:
    """ "20:07:30 UTC" on the day of `now`, with the date on any other day (as the
    explanations write times: projections.wording.clock)."""
    when = moment(value)
    return "—" if when is None else clock(when, now)


def seconds_text(seconds: float | None) -> str:
    """A span between two events: "+2.1 s", "+14 min"; "" for the first of a page."""
    if seconds is None:
        return ""
    return f"+{duration(seconds)}"
