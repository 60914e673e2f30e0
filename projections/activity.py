"""Run activity: how many runs ended per 5-minute bucket, by outcome and by who ended them.

A run counts once, in the bucket (UTC, `completed_at` floored to 300 s) of the event
that completed it. Maintained by deltas from each batch's fold, like the stats: a run
whose key (bucket, workspace, type, outcome, ended_by) changes is -1 on the old key and
+1 on the new one, and a run that is not completed has no key. The aggregate never
changes a completed run, so in practice this is +1 when a run becomes completed; a late
signal leaves the key as it was and counts nothing.

Retention keeps the table bounded whatever the history: buckets that start before
`cutoff(now)` (the hour of `now`, floored, minus `HORIZON`) are deleted, and deltas for
them are never written. The cutoff moves once an hour, so the DELETE removes something
once an hour at most; each batch pays one descent of the primary key (its leading column
is `bucket_start`) that finds nothing otherwise. A replay applies the same cutoff to the
runs it folded, so it equals the incremental table taken in the same hour.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from projections.db import Connection, iso_utc
from projections.rows import ActivityBucket
from projections.runs_index import RunRecord
from projections.schema import Index, Table
from projections.scope import Scope
from projections.where import Where

BUCKET_SECONDS = 300
HORIZON = timedelta(days=8)  # buckets older than this (to the hour) are deleted

Key = tuple[str, str, str, str, str]  # bucket_start, workspace, operation_type, outcome, ended_by

TABLE = Table(
    name="run_activity",
    columns=(
        ("bucket_start", "{ts} NOT NULL"),
        ("workspace", "TEXT NOT NULL"),
        ("operation_type", "TEXT NOT NULL"),
        ("outcome", "TEXT NOT NULL"),
        ("ended_by", "TEXT NOT NULL"),
        ("runs", "{bigint} NOT NULL"),
    ),
    primary_key=("bucket_start", "workspace", "operation_type", "outcome", "ended_by"),
    # The primary key serves reads over every workspace and the retention DELETE; this
    # one serves a reader scoped to a few workspaces among many.
    indexes=(Index("by_workspace", "workspace, bucket_start"),),
)
_KEY_MATCH = " AND ".join(f"{name} = ?" for name in TABLE.primary_key)


def bucket_of(completed_at: str) -> str:
    """The start of the 5-minute bucket holding a canonical UTC ISO time, in that form."""
    if len(completed_at) == 32 and completed_at.endswith("+00:00"):
        return _bucket_of_minute(completed_at[:16])  # YYYY-MM-DDTHH:MM of ...SS.ffffff+00:00
    return iso_utc(floor_bucket(datetime.fromisoformat(completed_at)))


@lru_cache(maxsize=4096)
def _bucket_of_minute(minute_text: str) -> str:
    """Runs that end close together share a minute: a replay formats each bucket once."""
    minute = int(minute_text[14:16])
    return f"{minute_text[:14]}{minute - minute % 5:02d}:00.000000+00:00"


def floor_bucket(moment: datetime) -> datetime:
    seconds = int(moment.timestamp()) // BUCKET_SECONDS * BUCKET_SECONDS
    return datetime.fromtimestamp(seconds, UTC)


def key(run: RunRecord) -> Key | None:
    """Where a run counts: None until it is completed."""
    if run.completed_at is None or run.outcome is None or run.ended_by is None:
        return None
    return (
        bucket_of(run.completed_at),
        run.workspace,
        run.operation_type,
        run.outcome,
        run.ended_by,
    )


def cutoff(now: datetime, horizon: timedelta = HORIZON) -> str:
    """The oldest bucket start kept at `now`: it moves by whole hours, once an hour."""
    hour = now.astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    return iso_utc(hour - horizon)


def deltas(before: Mapping[str, Key | None], after: Mapping[str, Key | None]) -> Counter[Key]:
    """The count changes of a batch, from each touched run's key before and after it."""
    change: Counter[Key] = Counter()
    for run_id, new in after.items():
        old = before.get(run_id)
        if old == new:
            continue
        if old is not None:
            change[old] -= 1
        if new is not None:
            change[new] += 1
    return change


def apply_deltas(conn: Connection, change: Counter[Key], oldest: str, suffix: str = "") -> None:
    """Adds a batch's changes to buckets from `oldest` on (older ones are not kept)."""
    rows = [(*k, n) for k, n in change.items() if n != 0 and k[0] >= oldest]
    if not rows:
        return
    table = f"{TABLE.name}{suffix}"
    cols = ", ".join(TABLE.column_names)
    pk = ", ".join(TABLE.primary_key)
    conn.executemany(
        f"INSERT INTO {{s}}{table} ({cols}) VALUES (?, ?, ?, ?, ?, ?) "
        f"ON CONFLICT ({pk}) DO UPDATE SET runs = {table}.runs + excluded.runs",
        rows,
    )
    # Only a decremented key can fall to zero: delete those by key, never by a scan.
    emptied = [row[:-1] for row in rows if row[-1] < 0]
    conn.executemany(f"DELETE FROM {{s}}{table} WHERE {_KEY_MATCH} AND runs <= 0", emptied)


def prune(conn: Connection, oldest: str, suffix: str = "") -> None:
    """Deletes the buckets that start before `oldest` (a range of the primary key)."""
    conn.execute(
        f"DELETE FROM {{s}}{TABLE.name}{suffix} WHERE bucket_start < ?",
        (conn.time_in(datetime.fromisoformat(oldest)),),
    )


def insert_counts(
    conn: Connection, keys: Iterable[Key | None], oldest: str, suffix: str = ""
) -> None:
    """Writes counts computed from scratch into an empty table (replay)."""
    counts = Counter(k for k in keys if k is not None and k[0] >= oldest)
    conn.bulk_insert(
        f"{TABLE.name}{suffix}", TABLE.column_names, [(*k, n) for k, n in sorted(counts.items())]
    )


def buckets(
    conn: Connection,
    scope: Scope,
    since: datetime,
    until: datetime,
    *,
    workspace: str | None = None,
    operation_type: str | None = None,
) -> list[ActivityBucket]:
    """Runs ended per bucket starting in [since, until), by outcome and ended_by, summed
    over the scope's workspaces (the caller answers an empty scope itself)."""
    where = Where().add(
        "bucket_start >= ? AND bucket_start < ?", conn.time_in(since), conn.time_in(until)
    )
    where.within(scope.narrowed(workspace)).equals("operation_type", operation_type)
    rows = conn.execute(
        f"SELECT bucket_start, outcome, ended_by, SUM(runs) FROM {{s}}{TABLE.name}"
        f"{where.sql()} GROUP BY bucket_start, outcome, ended_by "
        "ORDER BY bucket_start, outcome, ended_by",
        where.params,
    )
    return [_bucket(conn, row) for row in rows]


def _bucket(conn: Connection, row: Any) -> ActivityBucket:
    start = conn.time_out(row[0])
    assert start is not None
    return ActivityBucket(start=start, outcome=row[1], ended_by=row[2], runs=int(row[3]))
