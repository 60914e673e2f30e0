"""The read API over the read models: scoped queries returning typed rows.

The web app, the `runledger runs` command and the reconciler use `MonitoringView`;
nothing here touches the event store or writes a row. Every method takes the reader's
`Scope` first and has no default for it: outside its scope a run or an audit entry is
None, exactly as if it did not exist, and no count includes it. Freshness is computed at
query time with `ledger.lifecycle`.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import AbstractContextManager
from datetime import datetime
from typing import Any, Protocol, TypeVar
from uuid import UUID

from psycopg_pool import PoolTimeout

from ledger import DatabaseSettings, utcnow
from projections import activity as run_activity
from projections import counts as counting
from projections import tracking
from projections.audit_query import audit_page, get_entry
from projections.db import DISCONNECTED, Connection
from projections.pool import ReadConnections
from projections.reconcile_query import reconcile_candidates
from projections.rows import (
    ActivityBucket,
    AuditEntry,
    AuditFilters,
    AuditPage,
    Counts,
    ReconcileCandidate,
    RunFilters,
    RunRow,
    RunsPage,
    StatsRow,
    TimelinePage,
)
from projections.run_list import get_run, list_runs
from projections.scope import Scope
from projections.timeline_query import timeline_page

T = TypeVar("T")
MAX_LIMIT = 200
DEFAULT_LIMIT = 50


def clamp_limit(limit: int) -> int:
    """Pages hold 1 to 200 rows, whatever is asked."""
    return max(1, min(MAX_LIMIT, int(limit)))


class Connections(Protocol):
    """What lends the queries their connections: by default a `ReadConnections` pool.
    `wait`: how long to wait for a connection, where there is a wait (None: the default)."""

    def connection(self, wait: float | None = None) -> AbstractContextManager[Connection]: ...

    def close(self) -> None: ...


class MonitoringView:
    """Queries over the runs index, timeline, audit log and stats of one ledger database.

    Safe to share between threads: each query borrows a connection of its own (a pool on
    PostgreSQL, one per thread on SQLite), and one that the database dropped is replaced
    and the query tried once more.
    """

    def __init__(
        self,
        settings: DatabaseSettings,
        *,
        pool_size: int = 10,
        connections: Connections | None = None,
    ) -> None:
        """`connections` replaces the pool, e.g. with the one connection of a one-shot
        command (a pool retries an unreachable server for seconds, logging each try)."""
        self.settings = settings
        self.connections = connections or ReadConnections(settings, max_size=pool_size)

    def close(self) -> None:
        self.connections.close()

    def position(self) -> int:
        """The ledger position the read models reflect (the projector's tracking row). The
        projector writes its rows and this position in one transaction, so nothing a read
        returns changes while it holds: a cache keyed by it is exact."""
        return self._query(tracking.read_position)

    def _query(self, work: Callable[[Connection], T]) -> T:
        for attempt in (1, 2):
            try:
                with self.connections.connection() as conn:
                    return work(conn)
            except DISCONNECTED as error:
                # A pool that waited in vain for a connection gave the database its time
                # already: a second wait would only double the caller's (a 503 in 10 s).
                if attempt == 2 or isinstance(error, PoolTimeout):
                    raise
        raise AssertionError("unreachable")

    # -- runs -----------------------------------------------------------------------------

    def get_run(self, scope: Scope, run_id: UUID, now: datetime | None = None) -> RunRow | None:
        at = now or utcnow()
        if scope.is_empty:
            return None
        return self._query(lambda conn: get_run(conn, scope, run_id, at))

    def list_runs(
        self,
        scope: Scope,
        filters: RunFilters | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
        now: datetime | None = None,
    ) -> RunsPage:
        """Runs newest first (by queued time, then id); `cursor` pages older or newer."""
        at, wanted, size = now or utcnow(), filters or RunFilters(), clamp_limit(limit)
        if scope.narrowed(wanted.workspace).is_empty:
            return RunsPage([], None, None)
        return self._query(lambda conn: list_runs(conn, scope, wanted, size, cursor, at))

    def timeline(
        self,
        scope: Scope,
        run_id: UUID,
        *,
        cursor: str | None = None,
        limit: int = MAX_LIMIT,
        fold_heartbeats: bool = True,
    ) -> TimelinePage | None:
        """One run's events oldest first, or None for a run outside the scope (or unknown)."""
        size = clamp_limit(limit)
        if scope.is_empty:
            return None

        def work(conn: Connection) -> TimelinePage | None:
            run = get_run(conn, scope, run_id, utcnow())
            if run is None:
                return None
            return timeline_page(conn, run_id, run.version, cursor, size, fold_heartbeats)

        return self._query(work)

    def counts(
        self,
        scope: Scope,
        *,
        workspace: str | None = None,
        operation_type: str | None = None,
        now: datetime | None = None,
    ) -> Counts:
        at = now or utcnow()
        if scope.narrowed(workspace).is_empty:
            return Counts(0, {}, {}, {}, {}, {}, 0)
        return self._query(
            lambda conn: counting.counts(
                conn, scope, at, workspace=workspace, operation_type=operation_type
            )
        )

    def activity(
        self,
        scope: Scope,
        *,
        since: datetime,
        until: datetime,
        workspace: str | None = None,
        operation_type: str | None = None,
    ) -> list[ActivityBucket]:
        """Runs ended per 5-minute bucket starting in [since, until), oldest bucket first.

        One entry per (bucket, outcome, ended_by) with any runs, summed over the scope's
        workspaces (narrowed to `workspace`) and over operation types (unless one is
        given). Buckets are UTC, aligned to 300 s; 24 hours are 288 buckets. Kept for
        `activity.HORIZON` (8 days): older buckets are gone. Served by the primary key
        (leading column `bucket_start`) or, scoped, by `(workspace, bucket_start)`.
        """
        if scope.narrowed(workspace).is_empty or since >= until:
            return []
        return self._query(
            lambda conn: run_activity.buckets(
                conn, scope, since, until, workspace=workspace, operation_type=operation_type
            )
        )

    def reconcile_candidates(
        self, scope: Scope, idle_since: datetime, limit: int
    ) -> list[ReconcileCandidate]:
        """Queued or running runs with no sign of life since `idle_since`, oldest first.

        A run qualifies when its status is `queued` or `running` and its
        `last_activity_at` (start, heartbeat, retry; the queued time for a run that never
        started) is at or before `idle_since`. Ordered by `last_activity_at`, then id;
        at most `limit` rows. Each carries its policy's thresholds and `stale_at`, so the
        caller decides per run (e.g. heal only when `stale_at <= now`, or sooner when
        arq has no trace of the job).

        Served by the partial index over active runs (projections/reconcile_query.py): its
        cost grows with the active runs, never with the completed history.
        """
        if scope.is_empty:
            return []
        return self._query(lambda conn: reconcile_candidates(conn, scope, idle_since, limit))

    # -- audit, stats, metrics --------------------------------------------------------------

    def audit(
        self,
        scope: Scope,
        filters: AuditFilters | None = None,
        *,
        limit: int = DEFAULT_LIMIT,
        cursor: str | None = None,
    ) -> AuditPage:
        """Audit entries newest first; `cursor` pages older or newer."""
        wanted, size = filters or AuditFilters(), clamp_limit(limit)
        if scope.narrowed(wanted.workspace).is_empty:
            return AuditPage([], None, None)
        return self._query(lambda conn: audit_page(conn, scope, wanted, size, cursor))

    def audit_entry(self, scope: Scope, position: int) -> AuditEntry | None:
        if scope.is_empty:
            return None
        return self._query(lambda conn: get_entry(conn, scope, position))

    def stats(self, scope: Scope) -> list[StatsRow]:
        """Run counts per workspace, operation type, status, outcome and reason."""
        if scope.is_empty:
            return []
        return self._query(lambda conn: counting.stats_rows(conn, scope))

    def metrics(self, now: datetime | None = None) -> tuple[dict[Any, int], dict[str, int]]:
        """Runs per (type, status, outcome, reason) and stale runs per type, every workspace.

        For /metrics, which carries no workspace names: not scoped because it shows none.
        """
        at = now or utcnow()
        return self._query(
            lambda conn: (counting.metric_counts(conn), counting.stale_per_type(conn, at))
        )

    def ping(self) -> None:
        """Raises when the database does not answer (for /healthz)."""
        self._query(lambda conn: conn.execute("SELECT 1"))
