"""Listing runs from the runs index: scoped, filtered, keyset-paged newest first.

Every filter has an index that serves it in the list's order (see runs_index.TABLE), so
a page costs the same with ten thousand runs as with ten million: no filter makes the
database read or sort the whole table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger import EndedBy, Freshness, Outcome, ReasonCode, RunStatus, freshness_by
from projections import runs_index
from projections.cursors import decode_run_cursor, encode_run_cursor
from projections.db import Connection
from projections.rows import RunFilters, RunRow, RunsPage
from projections.runs_index import ACTIVE, COMPLETED
from projections.scope import Scope
from projections.where import Where

RUN_COLUMNS = ", ".join(runs_index.COLUMNS)


def run_conditions(conn: Connection, scope: Scope, filters: RunFilters, now: datetime) -> Where:
    where = Where().within(scope.narrowed(filters.workspace))
    # `==`, not `is`: the API and the CLI pass the parsed query's text ("completed"),
    # which equals the StrEnum member but is not it.
    if filters.status == RunStatus.COMPLETED:
        where.add(COMPLETED)  # the predicates of the partial indexes, verbatim
    elif filters.status is not None:
        # SQLite uses a partial index only when its predicate is in the query verbatim.
        # PostgreSQL proves ACTIVE from `status = ?` alone, and given both it multiplies
        # their selectivities (a few rows estimated where there are thousands) and makes
        # the IN list an index condition that loses by_workspace_status's order: a sort.
        if not conn.is_postgres:
            where.add(ACTIVE)
        where.equals("status", filters.status)
    for column in ("operation_type", "outcome", "ended_by", "reason_code"):
        where.equals(column, getattr(filters, column))
    if filters.freshness is not None:
        op = "<=" if filters.freshness == Freshness.STALE else ">"
        # Only queued and running runs have a `stale_at`, so the comparison alone selects
        # them (and implies the predicate of `runs_index_live_by_queued`). ACTIVE is left
        # out on purpose: PostgreSQL would multiply the two selectivities, not knowing one
        # implies the other, and estimate a few rows where there are thousands, then sort
        # every stale run instead of reading the index in the list's order.
        where.add(f"stale_at {op} ?", conn.time_in(now))
    if filters.queued_after is not None:
        where.add("queued_at >= ?", conn.time_in(filters.queued_after))
    if filters.queued_before is not None:
        where.add("queued_at < ?", conn.time_in(filters.queued_before))
    return where


def list_runs(
    conn: Connection,
    scope: Scope,
    filters: RunFilters,
    limit: int,
    cursor: str | None,
    now: datetime,
) -> RunsPage:
    where = run_conditions(conn, scope, filters, now)
    direction = "older"
    if cursor is not None:
        direction, queued_at, run_id = decode_run_cursor(cursor)
        op = "<" if direction == "older" else ">"
        stamp = conn.time_in(queued_at)
        # The first bound is implied by the rest; it is what lets the index start at the
        # cursor instead of reading (and skipping) every row before it.
        where.add(
            f"queued_at {op}= ? AND (queued_at {op} ? OR (queued_at = ? AND id {op} ?))",
            stamp, stamp, stamp, str(run_id),
        )  # fmt: skip
    order = "DESC" if direction == "older" else "ASC"
    rows = conn.execute(
        f"SELECT {RUN_COLUMNS} FROM {{s}}runs_index{where.sql()} "
        f"ORDER BY queued_at {order}, id {order} LIMIT ?",
        [*where.params, limit + 1],
    )
    runs = [run_row(conn, row, now) for row in rows[:limit]]
    more = len(rows) > limit
    if direction == "newer":
        runs.reverse()
    if not runs:
        return RunsPage([], None, None)
    older = more if direction == "older" else True
    newer = cursor is not None and (more if direction == "newer" else True)
    return RunsPage(
        runs,
        encode_run_cursor("older", runs[-1].queued_at, runs[-1].id) if older else None,
        encode_run_cursor("newer", runs[0].queued_at, runs[0].id) if newer else None,
    )


def get_run(conn: Connection, scope: Scope, run_id: UUID, now: datetime) -> RunRow | None:
    where = Where().add("id = ?", str(run_id)).within(scope)
    rows = conn.execute(f"SELECT {RUN_COLUMNS} FROM {{s}}runs_index{where.sql()}", where.params)
    return run_row(conn, rows[0], now) if rows else None


def _time(conn: Connection, value: Any) -> datetime:
    moment = conn.time_out(value)
    assert moment is not None
    return moment


def run_row(conn: Connection, row: Sequence[Any], now: datetime) -> RunRow:
    """A runs-index row as a RunRow, its freshness read off the stored `stale_at` (the
    column the freshness filters compare, so a row and a filter always agree)."""
    v = dict(zip(runs_index.COLUMNS, row, strict=True))
    stale_at = conn.time_out(v["stale_at"])
    fields: dict[str, Any] = {
        **v,
        "id": UUID(str(v["id"])),
        "status": RunStatus(v["status"]),
        "outcome": Outcome(v["outcome"]) if v["outcome"] else None,
        "ended_by": EndedBy(v["ended_by"]) if v["ended_by"] else None,
        "reason_code": ReasonCode(v["reason_code"]) if v["reason_code"] else None,
        "queued_at": _time(conn, v["queued_at"]),
        "started_at": conn.time_out(v["started_at"]),
        "last_activity_at": _time(conn, v["last_activity_at"]),
        "completed_at": conn.time_out(v["completed_at"]),
        "stale_at": stale_at,
        "params_summary": conn.json_out(v["params_summary"]),
        "progress": conn.json_out(v["progress"]),
        "summary": conn.json_out(v["summary"]),
        "freshness": freshness_by(stale_at, now),
    }
    return RunRow(**fields)
