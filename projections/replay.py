"""Rebuilding every read model from the event store, beside the live ones, then swapping.

Monitoring stays online throughout: the rebuild fills shadow tables (`<table>__rebuild`)
while the live tables keep serving (and the projector keeps updating them), then one
transaction drops the live tables, renames the shadows into their place and sets the
tracking position to the last event the rebuild folded in. A projector running
meanwhile simply continues from that position on the new tables.

The rebuild uses the same fold as the projector (so its result equals the incremental
one) but keeps every run in memory and bulk-loads rows (COPY on PostgreSQL, multi-row
INSERTs on SQLite), building indexes once at the end; a reader thread folds the next
batch while this one writes the last (replay_reader.py). That is what makes it fast.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from operator import attrgetter

from ledger import DatabaseSettings, utcnow
from projections import activity, runs_index, stats, timeline, tracking
from projections import audit as audit_log
from projections.db import Connection
from projections.events import EventLog
from projections.projector import READ_MODELS, RunFolder
from projections.replay_reader import FoldingReader
from projections.schema import REBUILD_SUFFIX, Table

SQLITE_CACHE_KIB = 256 * 1024  # the rebuild connection's page cache (SQLite's default: 2 MiB)
Progress = Callable[[int, int], None]  # (events folded so far, events expected in all)


@dataclass(frozen=True)
class ReplayResult:
    events: int
    runs: int
    position: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds if self.seconds else 0.0


def replay(
    settings: DatabaseSettings,
    *,
    batch_size: int = 20_000,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> ReplayResult:
    """Rebuilds the runs index, timeline, audit log, stats and activity, then swaps them in.

    `now` places the activity model's retention cutoff (default: the clock at the end).
    """
    started = time.perf_counter()
    # The fold allocates millions of small acyclic objects and keeps every run: the cyclic
    # collector would walk that growing heap again and again for nothing to free.
    collecting = gc.isenabled()
    gc.disable()
    try:
        return _replay(settings, batch_size, progress, started, now)
    finally:
        if collecting:
            gc.enable()


def _replay(
    settings: DatabaseSettings,
    batch_size: int,
    progress: Progress | None,
    started: float,
    now: datetime | None,
) -> ReplayResult:
    with Connection(settings, autocommit=True) as conn:
        with _shadow_build_session(conn):
            _create_shadows(conn)
            expected = EventLog(settings).count_after(conn, 0)
            folder, position, events = _load_events(conn, settings, batch_size, expected, progress)
            # In id order: the primary key's b-tree then grows at its end, page after page.
            runs = sorted(folder.runs.values(), key=attrgetter("id"))
            with conn.transaction():
                runs_index.insert_all(conn, runs, REBUILD_SUFFIX)
                stats.insert_counts(conn, (r.stats_key() for r in runs), REBUILD_SUFFIX)
                oldest = activity.cutoff(now or utcnow())  # what the projector keeps now
                activity.insert_counts(conn, map(activity.key, runs), oldest, REBUILD_SUFFIX)
        if conn.is_postgres:  # built once, after the bulk load, under their shadow names
            for table in READ_MODELS:
                for statement in table.index_sql(REBUILD_SUFFIX, REBUILD_SUFFIX):
                    conn.execute(statement)
        _swap(conn, position)
    return ReplayResult(events, len(folder.runs), position, time.perf_counter() - started)


@contextmanager
def _shadow_build_session(conn: Connection) -> Iterator[None]:
    """This connection's settings while it fills the shadow tables, and only then.

    Shadow rows are rebuilt from the event store if lost, so their commits need not wait
    for the disk: SQLite's `synchronous=NORMAL` (in WAL mode: no fsync per commit, never
    corruption) and PostgreSQL's `synchronous_commit=off` (a crash may lose the last
    commits, never consistency). Both are per connection: the event store, the live
    tables and other sessions keep their settings, and the swap commits durably,
    flushing everything before it. A larger SQLite page cache keeps the primary keys'
    b-trees in memory while rows arrive in event order.
    """
    if conn.is_postgres:
        conn.execute("SET synchronous_commit = off")
        try:
            yield
        finally:
            conn.execute("RESET synchronous_commit")
        return
    synchronous = int(conn.execute("PRAGMA synchronous")[0][0])
    conn.execute(f"PRAGMA synchronous = {min(synchronous, 1)}")  # 1: NORMAL
    conn.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
    checkpoint = int(conn.execute("PRAGMA wal_autocheckpoint")[0][0])
    # Checkpoint every 16,384 WAL pages (64 MiB) rather than at nearly every batch commit.
    conn.execute(f"PRAGMA wal_autocheckpoint = {max(checkpoint, 16384)}")
    try:
        yield
    finally:
        conn.execute(f"PRAGMA synchronous = {synchronous}")
        conn.execute(f"PRAGMA wal_autocheckpoint = {checkpoint}")


def _create_shadows(conn: Connection) -> None:
    with conn.transaction():
        for table in READ_MODELS:
            conn.execute(f"DROP TABLE IF EXISTS {{s}}{table.name}{REBUILD_SUFFIX}")
            table.create(conn, REBUILD_SUFFIX, with_indexes=False)


def _load_events(
    conn: Connection,
    settings: DatabaseSettings,
    batch_size: int,
    expected: int,
    progress: Progress | None,
) -> tuple[RunFolder, int, int]:
    """Writes the timeline and audit rows while the reader folds the next batch."""
    position = events = 0
    # Up to the head seen now: under a steady stream of writes the rebuild still ends,
    # and the projector carries on from where it stopped.
    head = EventLog(settings).head(conn)
    with FoldingReader(settings, batch_size, head) as reader:
        for batch in reader.batches():
            with conn.transaction():
                timeline.insert(conn, batch.timeline_rows, REBUILD_SUFFIX)
                audit_log.insert(conn, batch.audit_rows, REBUILD_SUFFIX)
            position = batch.position
            events += batch.events
            if progress:
                progress(events, max(expected, events))
    return reader.folder, position, events


def _swap(conn: Connection, position: int) -> None:
    """Puts the shadow tables in the live ones' place, atomically, at `position`."""
    with conn.transaction():
        tracking.TABLE.create(conn)
        tracking.lock_position(conn)  # waits for a running projector's batch to commit
        for table in READ_MODELS:
            _swap_table(conn, table)
        tracking.set_position(conn, position)


def _swap_table(conn: Connection, table: Table) -> None:
    shadow = f"{table.name}{REBUILD_SUFFIX}"
    conn.execute(f"DROP TABLE IF EXISTS {{s}}{table.name}")
    conn.execute(f"ALTER TABLE {{s}}{shadow} RENAME TO {table.name}")
    if not conn.is_postgres:
        # SQLite cannot rename an index: build them now. Readers keep their WAL
        # snapshot of the old tables meanwhile; only writers wait.
        for statement in table.index_sql():
            conn.execute(statement)
        return
    conn.execute(f'ALTER INDEX {{s}}"{shadow}_pkey" RENAME TO "{table.name}_pkey"')
    for old, new in zip(table.index_names(REBUILD_SUFFIX), table.index_names(), strict=True):
        conn.execute(f"ALTER INDEX {{s}}{old} RENAME TO {new}")
