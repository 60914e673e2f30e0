"""The audit log: every ledger event as an entry (when, actor, action, workspace, run, details).

Entries are keyed by the event's position in the ledger and ordered by `(at, position)`:
by when each event happened, the position breaking ties. Ordering by the same column the
time filters bound is what lets `since` and `until` start a page inside an index instead
of walking every newer entry to the window: `at` and `position` grow together, but not
strictly (a worker's event can commit after a later one of another worker's), and the
planner cannot know they do. Every index ends in `at DESC, position DESC`, so each
filter, alone or with a time window, reads what its page shows.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projections.db import Connection
from projections.events import LedgerEvent
from projections.schema import Index, Table

TABLE = Table(
    name="audit_log",
    columns=(
        ("position", "{bigint} NOT NULL"),
        ("at", "{ts} NOT NULL"),
        ("actor", "TEXT NOT NULL"),
        ("action", "TEXT NOT NULL"),
        ("workspace", "TEXT NOT NULL"),
        ("operation_type", "TEXT NOT NULL DEFAULT ''"),  # added later: see migrate.py
        ("run_id", "{uuid} NOT NULL"),
        ("details", "{json} NOT NULL"),
    ),
    primary_key=("position",),
    indexes=(
        Index("by_time", "at DESC, position DESC"),
        Index("by_workspace_time", "workspace, at DESC, position DESC"),
        Index("by_run_time", "run_id, at DESC, position DESC"),
        Index("by_actor_time", "actor, at DESC, position DESC"),
        Index("by_action_time", "action, at DESC, position DESC"),
        Index("by_type_time", "operation_type, at DESC, position DESC"),
    ),
    # The indexes of the log when it was ordered by position alone: `runledger migrate`
    # drops them from a store an older version created.
    retired_indexes=("by_workspace", "by_at", "by_run", "by_actor", "by_action", "by_type"),
)


def action_of(kind: str) -> str:
    return f"run.{kind}"


def row(event: LedgerEvent, workspace: str, operation_type: str, details: str) -> tuple[Any, ...]:
    return (
        event.position,
        event.at,
        event.actor,
        action_of(event.kind),
        workspace,
        operation_type,
        event.run_id,
        details,
    )


def insert(conn: Connection, rows: Iterable[tuple[Any, ...]], suffix: str = "") -> None:
    conn.bulk_insert(f"{TABLE.name}{suffix}", TABLE.column_names, rows)
