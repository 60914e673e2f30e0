"""The reconciler's query: queued or running runs idle since a moment, oldest first.

Served by the partial index `runs_index_active_by_activity`, which holds only
queued/running runs: its cost grows with the active runs, never with the completed
history. The index's predicate (`ACTIVE`) is repeated verbatim in the query so both
PostgreSQL and SQLite can prove it applies.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from ledger import RunStatus
from projections.db import Connection
from projections.rows import ReconcileCandidate
from projections.runs_index import ACTIVE
from projections.scope import Scope
from projections.where import Where


def reconcile_candidates(
    conn: Connection, scope: Scope, idle_since: datetime, limit: int
) -> list[ReconcileCandidate]:
    where = Where().add(f"{ACTIVE} AND last_activity_at <= ?", conn.time_in(idle_since))
    where.within(scope)
    rows = conn.execute(
        "SELECT id, status, operation_type, workspace, attempts, queued_at, "
        "last_activity_at, stale_queued_after, stale_running_after, stale_at "
        f"FROM {{s}}runs_index{where.sql()} ORDER BY last_activity_at, id LIMIT ?",
        [*where.params, limit],
    )
    return [_candidate(conn, row) for row in rows]


def _candidate(conn: Connection, r: Any) -> ReconcileCandidate:
    def time(value: Any) -> datetime:
        moment = conn.time_out(value)
        assert moment is not None
        return moment

    return ReconcileCandidate(
        run_id=UUID(str(r[0])),
        status=RunStatus(r[1]),
        operation_type=r[2],
        workspace=r[3],
        attempts=int(r[4]),
        queued_at=time(r[5]),
        last_activity_at=time(r[6]),
        stale_queued_after=float(r[7]),
        stale_running_after=float(r[8]),
        stale_at=time(r[9]),
    )
