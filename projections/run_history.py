"""What a run's timeline adds to its row, for the explanation: the latest start and
heartbeat, the retries, the late signals and the fields of the event that ended it.

The timeline may be partial (paged, or of a run still being projected) and may fold
consecutive heartbeats into one `heartbeats` entry ({"count", "first_at", "last_at",
"last_progress"}); both forms of heartbeat are read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from projections.rows import TimelineEntry

__all__ = ["RunHistory", "read_history"]


@dataclass
class RunHistory:
    """What a run's timeline tells beyond its row (read by `read_history`)."""

    start: TimelineEntry | None = None  # the latest Started
    beat_at: datetime | None = None  # the latest heartbeat, plain or folded
    beat_progress: dict[str, Any] = field(default_factory=dict)
    beats: int = 0
    retries: list[TimelineEntry] = field(default_factory=list)
    late: list[str] = field(default_factory=list)  # the signal of each late arrival
    ending: dict[str, Any] = field(default_factory=dict)  # the terminal event's fields


def read_history(timeline: Sequence[TimelineEntry]) -> RunHistory:
    """Folds a timeline, oldest first; entries of kinds it does not know are skipped."""
    history = RunHistory()
    for entry in timeline:
        reader = _READERS.get(entry.event)
        if reader is not None:  # an event kind this version does not know adds nothing
            reader(history, entry, entry.details or {})
    return history


def _started(history: RunHistory, entry: TimelineEntry, details: Mapping[str, Any]) -> None:
    history.start = entry


def _heartbeat(history: RunHistory, entry: TimelineEntry, details: Mapping[str, Any]) -> None:
    history.beat_at = entry.at
    history.beat_progress = dict(details.get("progress") or {})
    history.beats += 1


def _heartbeats(history: RunHistory, entry: TimelineEntry, details: Mapping[str, Any]) -> None:
    last_at = details.get("last_at")
    try:
        history.beat_at = datetime.fromisoformat(last_at) if last_at else entry.at
    except (TypeError, ValueError):
        history.beat_at = entry.at
    history.beat_progress = dict(details.get("last_progress") or {})
    count = details.get("count")
    history.beats += count if isinstance(count, int) else 1


def _retry(history: RunHistory, entry: TimelineEntry, details: Mapping[str, Any]) -> None:
    history.retries.append(entry)


def _late(history: RunHistory, entry: TimelineEntry, details: Mapping[str, Any]) -> None:
    history.late.append(str(details.get("signal") or "signal"))


def _ending(history: RunHistory, entry: TimelineEntry, details: Mapping[str, Any]) -> None:
    history.ending = dict(details)


_READERS: dict[str, Callable[[RunHistory, TimelineEntry, Mapping[str, Any]], None]] = {
    "started": _started,
    "heartbeat": _heartbeat,
    "heartbeats": _heartbeats,
    "retry_scheduled": _retry,
    "late_signal_recorded": _late,
    "completed": _ending,
    "queue_failed": _ending,
    "reconciled_stale": _ending,
}
