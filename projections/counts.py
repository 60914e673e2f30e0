"""Exact run counts within a scope, the stats rows, and the figures /metrics exports.

All read the stats model (one row per workspace, type, status, outcome and reason: its
size follows the kinds of runs, never their number), and stale runs are counted through
the partial index over active runs, so none grows with the completed history.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from ledger import EndedBy, Outcome, ReasonCode, RunStatus
from projections import stats
from projections.db import Connection
from projections.rows import Counts, StatsRow
from projections.runs_index import ACTIVE
from projections.scope import Scope
from projections.where import Where

MetricKey = tuple[str, str, str, str]  # operation_type, status, outcome, reason_code


def counts(
    conn: Connection,
    scope: Scope,
    now: datetime,
    *,
    workspace: str | None = None,
    operation_type: str | None = None,
) -> Counts:
    where = Where().within(scope.narrowed(workspace)).equals("operation_type", operation_type)
    rows = conn.execute(
        "SELECT status, outcome, reason_code, SUM(runs) FROM {s}run_stats"
        f"{where.sql()} GROUP BY status, outcome, reason_code",
        where.params,
    )
    status, outcome, ended_by, reason, failed_by = _tally(rows)
    return Counts(
        total=sum(status.values()),
        by_status=dict(status),
        by_outcome=dict(outcome),
        by_ended_by={e.value: ended_by[e.value] for e in EndedBy if ended_by[e.value]},
        by_reason_code=dict(reason),
        failed_by=dict(failed_by),
        stale=stale_count(conn, where, now),
    )


def _tally(rows: Iterable[Sequence[Any]]) -> tuple[Counter[str], ...]:
    """Runs by status, outcome, ended_by, reason code, and ended_by of the failed ones."""
    status: Counter[str] = Counter()
    outcome: Counter[str] = Counter()
    ended_by: Counter[str] = Counter()
    reason: Counter[str] = Counter()
    failed_by: Counter[str] = Counter()
    for run_status, run_outcome, reason_code, runs in rows:
        n = int(runs)
        status[run_status] += n
        if run_outcome:
            outcome[run_outcome] += n
        if reason_code:
            reason[reason_code] += n
            by = ReasonCode(reason_code).ended_by
            ended_by[by.value] += n
            if run_outcome == Outcome.FAILED:
                failed_by[by.value] += n
    return status, outcome, ended_by, reason, failed_by


def stale_count(conn: Connection, where: Where, now: datetime) -> int:
    stale = Where().add(f"{ACTIVE} AND stale_at <= ?", conn.time_in(now))
    stale.parts += where.parts
    stale.params += where.params
    return int(
        conn.execute(f"SELECT COUNT(*) FROM {{s}}runs_index{stale.sql()}", stale.params)[0][0]
    )


def metric_counts(conn: Connection) -> dict[MetricKey, int]:
    """Runs per type, status, outcome and reason over every workspace (no workspace label)."""
    rows = conn.execute(
        "SELECT operation_type, status, outcome, reason_code, SUM(runs) FROM {s}run_stats "
        "GROUP BY operation_type, status, outcome, reason_code"
    )
    return {(r[0], r[1], r[2], r[3]): int(r[4]) for r in rows}


def stale_per_type(conn: Connection, now: datetime) -> dict[str, int]:
    rows = conn.execute(
        f"SELECT operation_type, COUNT(*) FROM {{s}}runs_index WHERE {ACTIVE} AND stale_at <= ? "
        "GROUP BY operation_type",
        (conn.time_in(now),),
    )
    return {r[0]: int(r[1]) for r in rows}


def stats_rows(conn: Connection, scope: Scope) -> list[StatsRow]:
    """Run counts per workspace, operation type, status, outcome and reason."""
    cols = ", ".join(stats.TABLE.column_names)
    where = Where().within(scope)
    rows = conn.execute(
        f"SELECT {cols} FROM {{s}}run_stats{where.sql()} "
        "ORDER BY workspace, operation_type, status, outcome, reason_code",
        where.params,
    )
    return [_stats_row(r) for r in rows]


def _stats_row(r: Any) -> StatsRow:
    return StatsRow(
        r[0],
        r[1],
        RunStatus(r[2]),
        Outcome(r[3]) if r[3] else None,
        ReasonCode(r[4]) if r[4] else None,
        int(r[5]),
    )
