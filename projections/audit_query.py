"""Reading the audit log: scoped, filtered, keyset-paged by `(at, position)`, newest first.

Each equality filter has an index `(column, at DESC, position DESC)`, the scope uses
`(workspace, at DESC, position DESC)` and the unfiltered log `(at DESC, position DESC)`,
so a page, with or without a time window, reads what it shows, not the log.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from projections import audit
from projections.cursors import Direction, decode_audit_cursor, encode_audit_cursor
from projections.db import Connection
from projections.rows import AuditEntry, AuditFilters, AuditPage
from projections.scope import Scope
from projections.where import Where

AUDIT_COLUMNS = ", ".join(audit.TABLE.column_names)


def audit_conditions(conn: Connection, scope: Scope, filters: AuditFilters) -> Where:
    where = Where().within(scope.narrowed(filters.workspace))
    for column in ("operation_type", "run_id", "actor", "action"):
        where.equals(column, getattr(filters, column))
    if filters.since is not None:
        where.add("at >= ?", conn.time_in(filters.since))
    if filters.until is not None:
        where.add("at < ?", conn.time_in(filters.until))
    return where


def audit_page(
    conn: Connection, scope: Scope, filters: AuditFilters, limit: int, cursor: str | None
) -> AuditPage:
    where = audit_conditions(conn, scope, filters)
    direction: Direction = "older"
    if cursor is not None:
        direction, at, position = decode_audit_cursor(cursor)
        _after(where, conn, direction, at, position)
    order = "DESC" if direction == "older" else "ASC"
    rows = conn.execute(
        f"SELECT {AUDIT_COLUMNS} FROM {{s}}audit_log{where.sql()} "
        f"ORDER BY at {order}, position {order} LIMIT ?",
        [*where.params, limit + 1],
    )
    entries = [audit_entry(conn, row) for row in rows[:limit]]
    more = len(rows) > limit
    if direction == "newer":
        entries.reverse()
    if not entries:
        return AuditPage([], None, None)
    older = more if direction == "older" else True
    newer = cursor is not None and (more if direction == "newer" else True)
    return AuditPage(
        entries,
        encode_audit_cursor("older", entries[-1].at, entries[-1].position) if older else None,
        encode_audit_cursor("newer", entries[0].at, entries[0].position) if newer else None,
    )


def _after(
    where: Where, conn: Connection, direction: Direction, at: datetime, position: int
) -> None:
    """The entries past a cursor's `(at, position)`. The plain bound on `at` in front is
    implied by the rest; it gives the index a place to start instead of the log's end."""
    moment = conn.time_in(at)
    if direction == "older":
        where.add("at <= ?", moment).add(
            "(at < ? OR (at = ? AND position < ?))", moment, moment, position
        )
    else:
        where.add("at >= ?", moment).add(
            "(at > ? OR (at = ? AND position > ?))", moment, moment, position
        )


def get_entry(conn: Connection, scope: Scope, position: int) -> AuditEntry | None:
    where = Where().add("position = ?", position).within(scope)
    rows = conn.execute(f"SELECT {AUDIT_COLUMNS} FROM {{s}}audit_log{where.sql()}", where.params)
    return audit_entry(conn, rows[0]) if rows else None


def audit_entry(conn: Connection, r: Sequence[Any]) -> AuditEntry:
    at = conn.time_out(r[1])
    assert at is not None
    return AuditEntry(int(r[0]), at, r[2], r[3], r[4], r[5], UUID(str(r[6])), conn.json_out(r[7]))
