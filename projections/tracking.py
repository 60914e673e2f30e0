"""The projector's tracking position: the last ledger position its read models include.

It is written in the same transaction as the view rows, and read with a row lock at the
start of each batch, so two projectors (or a projector and a replay's swap) never
process the same events twice: the second waits, then sees the advanced position.
"""

from __future__ import annotations

from projections.db import Connection
from projections.schema import Table

NAME = "monitoring"  # the one projection that owns every read model in this package

TABLE = Table(
    name="projection_tracking",
    columns=(("name", "TEXT NOT NULL"), ("position", "{bigint} NOT NULL")),
    primary_key=("name",),
)


def ensure(conn: Connection, name: str = NAME) -> None:
    conn.execute(
        "INSERT INTO {s}projection_tracking (name, position) VALUES (?, 0) "
        "ON CONFLICT (name) DO NOTHING",
        (name,),
    )


def lock_position(conn: Connection, name: str = NAME) -> int:
    """The position, locked until this transaction ends (SQLite's BEGIN IMMEDIATE
    already holds the database's write lock)."""
    lock = " FOR UPDATE" if conn.is_postgres else ""
    rows = conn.execute(
        f"SELECT position FROM {{s}}projection_tracking WHERE name = ?{lock}", (name,)
    )
    if not rows:
        ensure(conn, name)
        return lock_position(conn, name)
    return int(rows[0][0])


def read_position(conn: Connection, name: str = NAME) -> int:
    rows = conn.execute("SELECT position FROM {s}projection_tracking WHERE name = ?", (name,))
    return int(rows[0][0]) if rows else 0


def set_position(conn: Connection, position: int, name: str = NAME) -> None:
    conn.execute("UPDATE {s}projection_tracking SET position = ? WHERE name = ?", (position, name))
