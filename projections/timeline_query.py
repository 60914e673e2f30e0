"""Reading one run's timeline a page at a time, with runs of heartbeats folded.

A long job may heartbeat ten thousand times; the operator wants the other events and
"1,204 heartbeats, 10:02-10:31, last progress 80/100". Heartbeats between two other
events have consecutive versions, so `version - ROW_NUMBER()` is constant along each
such run (gaps and islands): the database folds them, and only each island's last
heartbeat is read in full. Every other event is kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from projections.cursors import decode_position_cursor, encode_position_cursor
from projections.db import Connection, iso_utc
from projections.rows import TimelineEntry, TimelinePage

FOLDED = "heartbeats"  # the `event` of an entry standing for several heartbeats
_COLUMNS = "run_id, version, position, at, event, actor, attempt, details"
_CURSOR_KIND = "t"


def after_version(cursor: str | None) -> int:
    return 0 if cursor is None else decode_position_cursor(cursor, _CURSOR_KIND)[1]


def timeline_page(
    conn: Connection, run_id: UUID, events: int, cursor: str | None, limit: int, fold: bool
) -> TimelinePage:
    """Entries after `cursor`, oldest first; `events` is the run's event count (its version)."""
    after = after_version(cursor)
    if fold:
        entries = _folded(conn, str(run_id), after, limit + 1)
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM {{s}}run_timeline WHERE run_id = ? AND version > ? "
            "ORDER BY version LIMIT ?",
            (str(run_id), after, limit + 1),
        )
        entries = [entry(conn, row) for row in rows]
    more = len(entries) > limit
    entries = entries[:limit]
    last = _last_version(entries[-1]) if entries else after
    next_cursor = encode_position_cursor(_CURSOR_KIND, "newer", last) if more else None
    return TimelinePage(entries, next_cursor, events)


def _last_version(item: TimelineEntry) -> int:
    return int(item.details["last_version"]) if item.event == FOLDED else item.version


def _folded(conn: Connection, run_id: str, after: int, limit: int) -> list[TimelineEntry]:
    others = conn.execute(
        f"SELECT {_COLUMNS} FROM {{s}}run_timeline WHERE run_id = ? AND version > ? "
        "AND event <> 'heartbeat' ORDER BY version LIMIT ?",
        (run_id, after, limit),
    )
    islands = conn.execute(
        "SELECT MIN(version), MAX(version), COUNT(*), MIN(at) FROM ("
        "SELECT version, at, version - ROW_NUMBER() OVER (ORDER BY version) AS island "
        "FROM {s}run_timeline WHERE run_id = ? AND version > ? AND event = 'heartbeat'"
        ") AS beats GROUP BY island ORDER BY MIN(version) LIMIT ?",
        (run_id, after, limit),
    )
    lasts = _rows_at(conn, run_id, [int(island[1]) for island in islands])
    merged = [(int(row[1]), entry(conn, row)) for row in others]
    for first, last, count, first_at in islands:
        beat = entry(conn, lasts[int(last)])
        merged.append(
            (int(first), beat if count == 1 else _fold(conn, beat, first, count, first_at))
        )
    merged.sort(key=lambda pair: pair[0])
    return [item for _, item in merged[:limit]]


def _rows_at(conn: Connection, run_id: str, versions: list[int]) -> dict[int, Sequence[Any]]:
    found: dict[int, Sequence[Any]] = {}
    for start in range(0, len(versions), 500):
        chunk = versions[start : start + 500]
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM {{s}}run_timeline WHERE run_id = ? "
            f"AND version IN ({', '.join('?' * len(chunk))})",
            (run_id, *chunk),
        )
        found.update((int(row[1]), row) for row in rows)
    return found


def _fold(
    conn: Connection, last: TimelineEntry, first: Any, count: Any, first_at: Any
) -> TimelineEntry:
    started = conn.time_out(first_at)
    assert started is not None
    details = {
        "count": int(count),
        "first_at": iso_utc(started),
        "last_at": iso_utc(last.at),
        "first_version": int(first),
        "last_version": last.version,
        "last_progress": dict(last.details.get("progress") or {}),
    }
    return TimelineEntry(
        last.run_id, int(first), last.position, started, FOLDED, last.actor, last.attempt, details
    )


def entry(conn: Connection, row: Sequence[Any]) -> TimelineEntry:
    at = conn.time_out(row[3])
    assert at is not None
    return TimelineEntry(
        UUID(str(row[0])), int(row[1]), int(row[2]), at, row[4], row[5], row[6],
        conn.json_out(row[7]),
    )  # fmt: skip
