"""Applying a batch of ledger events to every read model, and creating their tables.

`project_batch` is the one place events become rows. The incremental runner calls it
inside the transaction that also moves the tracking position; replay calls the same
fold through `RunFolder`, so a rebuilt model equals the incrementally built one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger import utcnow
from projections import activity, audit, runs_index, stats, timeline, tracking
from projections.db import Connection
from projections.events import EventLog, LedgerEvent
from projections.runs_index import RunRecord
from projections.schema import Table

# Every read model's table (tracking is the runner's own, not a read model).
READ_MODELS: tuple[Table, ...] = (
    runs_index.TABLE,
    timeline.TABLE,
    audit.TABLE,
    stats.TABLE,
    activity.TABLE,
)


def create_tables(conn: Connection) -> list[str]:
    """What `runledger migrate` runs: the live tables, their indexes, the tracking row.

    Returns the columns added to tables an older version created (`table.column`): their
    old rows hold defaults until `runledger replay` rebuilds the read models.
    """
    added: list[str] = []
    with conn.transaction():
        for table in (*READ_MODELS, tracking.TABLE):
            table.create(conn, with_indexes=False)
            added += [f"{table.name}.{name}" for name in table.add_missing_columns(conn)]
            for statement in (*table.drop_retired_indexes_sql(), *table.index_sql()):
                conn.execute(statement)
        tracking.ensure(conn)
    return added


@dataclass
class RunFolder:
    """Folds events into run records and collects the timeline and audit rows they make."""

    runs: dict[str, RunRecord] = field(default_factory=dict)
    timeline_rows: list[tuple[Any, ...]] = field(default_factory=list)
    audit_rows: list[tuple[Any, ...]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)

    def fold(self, events: Sequence[LedgerEvent]) -> None:
        runs = self.runs
        for event in events:
            run = runs_index.fold(runs.get(event.run_id), event)
            if run is not None:
                runs[event.run_id] = run
                self.touched.add(event.run_id)
            details = runs_index.canonical_json(event.data)
            self.timeline_rows.append(timeline.row(event, details))
            workspace, kind = (run.workspace, run.operation_type) if run else ("", "")
            self.audit_rows.append(audit.row(event, workspace, kind, details))

    def take_rows(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        rows = (self.timeline_rows, self.audit_rows)
        self.timeline_rows, self.audit_rows = [], []
        return rows


def project_batch(
    conn: Connection,
    events: Sequence[LedgerEvent],
    suffix: str = "",
    *,
    now: datetime | None = None,
) -> None:
    """Writes one batch into the read models (the caller owns the transaction).

    `now` places the activity model's retention cutoff (default: the clock).
    """
    ids = {event.run_id for event in events}
    loaded = runs_index.load(conn, ids, suffix)
    before: dict[str, stats.Key | None] = {i: r.stats_key() for i, r in loaded.items()}
    ended_before = {i: activity.key(r) for i, r in loaded.items()}  # the fold mutates them
    folder = RunFolder(runs=loaded)
    folder.fold(events)
    changed = [folder.runs[i] for i in sorted(folder.touched)]
    runs_index.upsert(conn, changed, suffix)
    timeline_rows, audit_rows = folder.take_rows()
    timeline.insert(conn, timeline_rows, suffix)
    audit.insert(conn, audit_rows, suffix)
    stats.apply_deltas(conn, stats.deltas(before, {r.id: r.stats_key() for r in changed}), suffix)
    ended = activity.deltas(ended_before, {r.id: activity.key(r) for r in changed})
    activity.apply_deltas(conn, ended, activity.cutoff(now or utcnow()), suffix)


def catch_up_batch(
    conn: Connection, log: EventLog, limit: int, *, now: datetime | None = None
) -> int:
    """Projects the next batch after the tracking position, exactly once; returns its size.

    The position is locked first, so a concurrent projector waits and then starts where
    this one stopped; rows and position commit together or not at all. The activity
    model's old buckets are pruned here too, idle or not (an empty range but once an hour).
    """
    at = now or utcnow()
    with conn.transaction():
        position = tracking.lock_position(conn)
        activity.prune(conn, activity.cutoff(at))
        events = log.read(conn, position, limit)
        if not events:
            return 0
        project_batch(conn, events, now=at)
        tracking.set_position(conn, events[-1].position)
    return len(events)


def catch_up(
    conn: Connection, log: EventLog, batch_size: int = 500, *, now: datetime | None = None
) -> int:
    """Projects batches until none is left; returns how many events were projected."""
    total = 0
    while count := catch_up_batch(conn, log, batch_size, now=now):
        total += count
    return total
