"""The read API over the read models: pure queries returning typed rows.

The web app and the reconciler use `MonitoringView`; nothing here touches the event
store or writes a row. Freshness is computed at query time with `ledger.lifecycle`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Any, TypeVar
from uuid import UUID

from ledger import (
    DatabaseSettings,
    EndedBy,
    Outcome,
    ReasonCode,
    RunStatus,
    freshness,
    utcnow,
)
from projections import audit, runs_index, stats
from projections.db import DISCONNECTED, Connection
from projections.rows import (
    AuditEntry,
    AuditPage,
    ReconcileCandidate,
    RunFilters,
    RunRow,
    RunsPage,
    StatsRow,
    TimelineEntry,
)
from projections.runs_index import ACTIVE

T = TypeVar("T")
_RUN_COLUMNS = ", ".join(runs_index.COLUMNS)
_AUDIT_COLUMNS = ", ".join(audit.TABLE.column_names)


class MonitoringView:
    """Queries over the runs index, timeline, audit log and stats of one ledger database.

    Holds one connection (opened on first use, reopened once if the database dropped it);
    safe to share between threads, which take turns.
    """

    def __init__(self, settings: DatabaseSettings) -> None:
        self.settings = settings
        self._conn: Connection | None = None
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def _query(self, work: Callable[[Connection], T]) -> T:
        with self._lock:
            for attempt in (1, 2):
                if self._conn is None:
                    self._conn = Connection(self.settings, autocommit=True)
                try:
                    return work(self._conn)
                except DISCONNECTED:
                    self._conn.close()
                    self._conn = None
                    if attempt == 2:
                        raise
        raise AssertionError("unreachable")

    # -- runs -----------------------------------------------------------------------------

    def get_run(self, run_id: UUID, now: datetime | None = None) -> RunRow | None:
        at = now or utcnow()

        def work(conn: Connection) -> RunRow | None:
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM {{s}}runs_index WHERE id = ?", (str(run_id),)
            )
            return _run_row(conn, rows[0], at) if rows else None

        return self._query(work)

    def list_runs(
        self,
        filters: RunFilters | None = None,
        limit: int = 50,
        cursor: str | None = None,
        now: datetime | None = None,
    ) -> RunsPage:
        """Runs newest first (by queued time, then id), `limit` per page."""
        at = now or utcnow()
        wanted = filters or RunFilters()
        if wanted.workspaces is not None and not wanted.workspaces:
            return RunsPage([], None)

        def work(conn: Connection) -> RunsPage:
            where, params = _run_conditions(conn, wanted, at)
            if cursor:
                queued_at, run_id = _decode_cursor(cursor)
                where.append("(queued_at < ? OR (queued_at = ? AND id < ?))")
                stamp = conn.time_in(queued_at)
                params += [stamp, stamp, run_id]
            clause = f" WHERE {' AND '.join(where)}" if where else ""
            rows = conn.execute(
                f"SELECT {_RUN_COLUMNS} FROM {{s}}runs_index{clause} "
                "ORDER BY queued_at DESC, id DESC LIMIT ?",
                [*params, limit + 1],
            )
            runs = [_run_row(conn, row, at) for row in rows[:limit]]
            more = len(rows) > limit
            return RunsPage(runs, _encode_cursor(runs[-1]) if more and runs else None)

        return self._query(work)

    def reconcile_candidates(self, idle_since: datetime, limit: int) -> list[ReconcileCandidate]:
        """Queued or running runs with no sign of life since `idle_since`, oldest first.

        A run qualifies when its status is `queued` or `running` and its
        `last_activity_at` (start, heartbeat, retry; the queued time for a run that never
        started) is at or before `idle_since`. Ordered by `last_activity_at`, then id;
        at most `limit` rows. Each carries its policy's thresholds and `stale_at`, so the
        caller decides per run (e.g. heal only when `stale_at <= now`, or sooner when
        arq has no trace of the job).

        Served by the partial index `runs_index_active_by_activity`, which holds only
        queued/running runs: its cost grows with the active runs, never with the
        completed history. The index's predicate is repeated verbatim below so both
        PostgreSQL and SQLite can prove it applies.
        """

        def work(conn: Connection) -> list[ReconcileCandidate]:
            rows = conn.execute(
                "SELECT id, status, operation_type, workspace, attempts, queued_at, "
                "last_activity_at, stale_queued_after, stale_running_after, stale_at "
                f"FROM {{s}}runs_index WHERE {ACTIVE} AND last_activity_at <= ? "
                "ORDER BY last_activity_at, id LIMIT ?",
                (conn.time_in(idle_since), limit),
            )
            return [_candidate(conn, row) for row in rows]

        return self._query(work)

    # -- timeline, audit, stats -------------------------------------------------------------

    def timeline(self, run_id: UUID) -> list[TimelineEntry]:
        """Every event of one run, oldest first (empty for an unknown run)."""

        def work(conn: Connection) -> list[TimelineEntry]:
            rows = conn.execute(
                "SELECT run_id, version, position, at, event, actor, attempt, details "
                "FROM {s}run_timeline WHERE run_id = ? ORDER BY version",
                (str(run_id),),
            )
            return [
                TimelineEntry(
                    UUID(str(r[0])),
                    r[1],
                    r[2],
                    _time(conn, r[3]),
                    r[4],
                    r[5],
                    r[6],
                    conn.json_out(r[7]),
                )
                for r in rows
            ]

        return self._query(work)

    def audit(
        self,
        *,
        workspaces: Collection[str] | None = None,
        run_id: UUID | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        before: int | None = None,
        limit: int = 50,
    ) -> AuditPage:
        """Audit entries newest first; `before` (a position) pages to older ones."""
        if workspaces is not None and not workspaces:
            return AuditPage([], None)

        def work(conn: Connection) -> AuditPage:
            where: list[str] = []
            params: list[Any] = []
            if workspaces is not None:
                where.append(f"workspace IN ({', '.join('?' * len(workspaces))})")
                params += sorted(workspaces)
            for column, value in (("run_id", run_id), ("actor", actor), ("action", action)):
                if value is not None:
                    where.append(f"{column} = ?")
                    params.append(str(value))
            for op, moment in ((">=", since), ("<", until)):
                if moment is not None:
                    where.append(f"at {op} ?")
                    params.append(conn.time_in(moment))
            if before is not None:
                where.append("position < ?")
                params.append(before)
            clause = f" WHERE {' AND '.join(where)}" if where else ""
            rows = conn.execute(
                f"SELECT {_AUDIT_COLUMNS} FROM {{s}}audit_log{clause} "
                "ORDER BY position DESC LIMIT ?",
                [*params, limit + 1],
            )
            entries = [_audit_entry(conn, row) for row in rows[:limit]]
            more = len(rows) > limit and entries
            return AuditPage(entries, entries[-1].position if more else None)

        return self._query(work)

    def audit_entry(self, position: int) -> AuditEntry | None:
        def work(conn: Connection) -> AuditEntry | None:
            rows = conn.execute(
                f"SELECT {_AUDIT_COLUMNS} FROM {{s}}audit_log WHERE position = ?", (position,)
            )
            return _audit_entry(conn, rows[0]) if rows else None

        return self._query(work)

    def stats(self, workspaces: Collection[str] | None = None) -> list[StatsRow]:
        """Run counts per workspace, operation type, status, outcome and reason."""
        cols = ", ".join(stats.TABLE.column_names)

        def work(conn: Connection) -> list[StatsRow]:
            where, params = "", list(sorted(workspaces or ()))
            if workspaces is not None:
                if not workspaces:
                    return []
                where = f" WHERE workspace IN ({', '.join('?' * len(params))})"
            rows = conn.execute(
                f"SELECT {cols} FROM {{s}}run_stats{where} "
                "ORDER BY workspace, operation_type, status, outcome, reason_code",
                params,
            )
            return [
                StatsRow(
                    r[0],
                    r[1],
                    RunStatus(r[2]),
                    Outcome(r[3]) if r[3] else None,
                    ReasonCode(r[4]) if r[4] else None,
                    int(r[5]),
                )
                for r in rows
            ]

        return self._query(work)


# -- helpers -----------------------------------------------------------------------------------


def _run_conditions(
    conn: Connection, wanted: RunFilters, now: datetime
) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    params: list[Any] = []
    if wanted.workspaces is not None:
        where.append(f"workspace IN ({', '.join('?' * len(wanted.workspaces))})")
        params += sorted(wanted.workspaces)
    for column in ("status", "operation_type", "outcome", "ended_by", "reason_code"):
        value = getattr(wanted, column)
        if value is not None:
            where.append(f"{column} = ?")
            params.append(str(value))
    if wanted.freshness is not None:
        op = "<=" if wanted.freshness == "stale" else ">"
        where.append(f"{ACTIVE} AND stale_at {op} ?")
        params.append(conn.time_in(now))
    return where, params


def _time(conn: Connection, value: Any) -> datetime:
    moment = conn.time_out(value)
    assert moment is not None
    return moment


def _run_row(conn: Connection, row: Sequence[Any], now: datetime) -> RunRow:
    v = dict(zip(runs_index.COLUMNS, row, strict=True))
    status = RunStatus(v["status"])
    last = _time(conn, v["last_activity_at"])
    fields: dict[str, Any] = {
        **v,
        "id": UUID(str(v["id"])),
        "status": status,
        "outcome": Outcome(v["outcome"]) if v["outcome"] else None,
        "ended_by": EndedBy(v["ended_by"]) if v["ended_by"] else None,
        "reason_code": ReasonCode(v["reason_code"]) if v["reason_code"] else None,
        "queued_at": _time(conn, v["queued_at"]),
        "started_at": conn.time_out(v["started_at"]),
        "last_activity_at": last,
        "completed_at": conn.time_out(v["completed_at"]),
        "stale_at": conn.time_out(v["stale_at"]),
        "params_summary": conn.json_out(v["params_summary"]),
        "progress": conn.json_out(v["progress"]),
        "summary": conn.json_out(v["summary"]),
        "freshness": None,
    }
    run = RunRow(**fields)
    return _with_freshness(run, status, last, now)


def _with_freshness(run: RunRow, status: RunStatus, last: datetime, now: datetime) -> RunRow:
    from dataclasses import replace

    return replace(run, freshness=freshness(status, last, run.policy, now))


def _candidate(conn: Connection, r: Sequence[Any]) -> ReconcileCandidate:
    return ReconcileCandidate(
        run_id=UUID(str(r[0])),
        status=RunStatus(r[1]),
        operation_type=r[2],
        workspace=r[3],
        attempts=int(r[4]),
        queued_at=_time(conn, r[5]),
        last_activity_at=_time(conn, r[6]),
        stale_queued_after=float(r[7]),
        stale_running_after=float(r[8]),
        stale_at=_time(conn, r[9]),
    )


def _audit_entry(conn: Connection, r: Sequence[Any]) -> AuditEntry:
    return AuditEntry(
        int(r[0]), _time(conn, r[1]), r[2], r[3], r[4], UUID(str(r[5])), conn.json_out(r[6])
    )


def _encode_cursor(run: RunRow) -> str:
    return f"{run.queued_at.isoformat()}|{run.id}"


def _decode_cursor(cursor: str) -> tuple[datetime, str]:
    try:
        stamp, _, run_id = cursor.partition("|")
        return datetime.fromisoformat(stamp), str(UUID(run_id))
    except ValueError:
        raise ValueError(f"malformed runs cursor {cursor!r}") from None
