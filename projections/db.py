"""One small connection layer over the ledger's database, PostgreSQL or SQLite.

The read models live beside the event store so that view rows and the tracking position
commit in one transaction. SQL is written once, SQLite-style (`?` placeholders, `{s}`
where a table name needs the PostgreSQL schema), and translated here. Times are stored
as canonical UTC ISO-8601 strings on SQLite (so text order is time order) and as
`timestamptz` on PostgreSQL; JSON as `jsonb` on PostgreSQL and text on SQLite.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from functools import lru_cache
from itertools import chain
from typing import Any, Literal

import psycopg

from ledger import DatabaseSettings

Kind = Literal["sqlite", "postgresql"]
Row = tuple[Any, ...]

# Errors that mean "the database went away or is not answering": the runner reconnects.
DISCONNECTED: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlite3.OperationalError,
)

_TYPES = {
    "postgresql": {
        "uuid": "uuid",
        "ts": "timestamptz",
        "json": "jsonb",
        "float": "double precision",
        "bigint": "bigint",
    },
    "sqlite": {"uuid": "TEXT", "ts": "TEXT", "json": "TEXT", "float": "REAL", "bigint": "INTEGER"},
}


def iso_utc(moment: datetime) -> str:
    """The one text form of a time the read models store and compare."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def canonical_time(text: str) -> str:
    """An event's stored ISO timestamp, normalised to `iso_utc` (fast when already UTC)."""
    if len(text) == 32 and text.endswith("+00:00"):
        return text
    return iso_utc(datetime.fromisoformat(text))


class Connection:
    """A connection to the ledger's database with one SQL dialect for both stores."""

    def __init__(
        self, settings: DatabaseSettings, *, autocommit: bool = False, raw: Any = None
    ) -> None:
        """Opens a connection, or wraps `raw` (one lent by a pool, which keeps owning it)."""
        self.kind: Kind = settings.kind
        self.schema = settings.schema
        self._raw: Any
        if raw is not None:
            self._raw = raw
        elif self.kind == "postgresql":
            self._raw = psycopg.connect(
                settings.conninfo(), autocommit=autocommit, connect_timeout=5
            )
        else:
            # isolation_level=None: transactions are begun explicitly (BEGIN IMMEDIATE
            # takes SQLite's write lock up front, so a batch never fails half way).
            self._raw = sqlite3.connect(
                settings.sqlite_path, isolation_level=None, timeout=30, check_same_thread=False
            )
            self._raw.execute("PRAGMA journal_mode=WAL")

    @property
    def is_postgres(self) -> bool:
        return self.kind == "postgresql"

    def sql(self, text: str) -> str:
        return _translate(text, self.kind, self.schema)

    def execute(self, text: str, params: Sequence[Any] = ()) -> list[Row]:
        cursor = self._raw.execute(self.sql(text), tuple(params))
        if cursor.description is None:
            return []
        return [tuple(row) for row in cursor.fetchall()]

    def executemany(self, text: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        with self._cursor() as cursor:
            cursor.executemany(self.sql(text), rows)

    def bulk_insert(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """Appends rows fast: COPY on PostgreSQL, multi-row INSERTs on SQLite."""
        cols = ", ".join(columns)
        if not self.is_postgres:
            self._insert_many_rows(f"INSERT INTO {table} ({cols}) VALUES ", len(columns), rows)
            return
        statement = self.sql(f"COPY {{s}}{table} ({cols}) FROM STDIN")
        with self._raw.cursor() as cursor, cursor.copy(statement) as copy:
            for row in rows:
                copy.write_row(row)

    def _insert_many_rows(self, insert: str, width: int, rows: Iterable[Sequence[Any]]) -> None:
        """As many rows per statement as SQLite binds (32,766 values by default).

        The sqlite3 module releases the GIL around each step, and each step of
        `executemany` inserts one row: beside a busy thread (replay's reader), taking the
        GIL back a million times costs more than the inserts. One step per thousands of
        rows lets the other thread run while SQLite works.
        """
        per = max(1, min(4096, self._raw.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width))
        group = f"({', '.join('?' * width)})"
        rows = list(rows)
        for start in range(0, len(rows), per):
            chunk = rows[start : start + per]
            values = ", ".join([group] * len(chunk))  # the full-size statement is cached
            self._raw.execute(insert + values, list(chain.from_iterable(chunk)))

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        if self.is_postgres:
            with self._raw.transaction():
                yield self
            return
        self._raw.execute("BEGIN IMMEDIATE")
        try:
            yield self
        except BaseException:
            self._raw.execute("ROLLBACK")
            raise
        self._raw.execute("COMMIT")

    @contextmanager
    def _cursor(self) -> Iterator[Any]:
        cursor = self._raw.cursor()
        try:
            yield cursor
        finally:
            cursor.close()

    def close(self) -> None:
        with suppress(*DISCONNECTED):  # closing a connection whose server is gone
            self._raw.close()

    def __enter__(self) -> Connection:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- values in and out --------------------------------------------------------------------

    def time_out(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)  # the server's zone is not the API's business
        return datetime.fromisoformat(str(value))

    def time_in(self, moment: datetime) -> Any:
        return moment if self.is_postgres else iso_utc(moment)

    def json_out(self, value: Any) -> Any:
        if value is None or not isinstance(value, str):
            return value
        return json.loads(value)


@lru_cache(maxsize=512)
def _translate(text: str, kind: Kind, schema: str) -> str:
    types = _TYPES[kind]
    if kind == "postgresql":
        prefix = f'"{schema}".'
        return text.replace("?", "%s").format(s=prefix, **types)
    return text.format(s="", **types)
