"""The run timeline: one row per event of a run, in the run's own order."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from projections.db import Connection
from projections.events import LedgerEvent
from projections.schema import Table

TABLE = Table(
    name="run_timeline",
    columns=(
        ("run_id", "{uuid} NOT NULL"),
        ("version", "{bigint} NOT NULL"),
        ("position", "{bigint} NOT NULL"),
        ("at", "{ts} NOT NULL"),
        ("event", "TEXT NOT NULL"),
        ("actor", "TEXT NOT NULL"),
        ("attempt", "INTEGER"),
        ("details", "{json} NOT NULL"),
    ),
    primary_key=("run_id", "version"),
)


def row(event: LedgerEvent, details: str) -> tuple[Any, ...]:
    """`details` is the event's data as canonical JSON (encoded once per event)."""
    attempt = event.data.get("attempt")
    return (
        event.run_id,
        event.version,
        event.position,
        event.at,
        event.kind,
        event.actor,
        attempt if isinstance(attempt, int) else None,
        details,
    )


def insert(conn: Connection, rows: Iterable[tuple[Any, ...]], suffix: str = "") -> None:
    conn.bulk_insert(f"{TABLE.name}{suffix}", TABLE.column_names, rows)
