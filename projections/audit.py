"""The audit log: every ledger event as an entry (when, actor, action, workspace, run, details).

Entries are keyed by the event's position in the ledger, which is also their order:
a cursor over positions pages through the log without gaps or repeats.
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
        Index("by_workspace", "workspace, position DESC"),
        Index("by_at", "at"),
        Index("by_run", "run_id, position DESC"),
        Index("by_actor", "actor, position DESC"),
        Index("by_action", "action, position DESC"),
        Index("by_type", "operation_type, position DESC"),
    ),
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
