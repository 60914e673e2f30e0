"""Table declarations the read-model modules use to create (and rebuild) their tables.

A table is declared once with dialect-neutral type tokens (`{ts}`, `{json}`, ...). The
same declaration creates the live table (`runledger migrate`) and its shadow copy that
`runledger replay` fills before swapping it in, so both always have the same shape.
"""

from __future__ import annotations

from dataclasses import dataclass

from projections.db import Connection

REBUILD_SUFFIX = "__rebuild"


@dataclass(frozen=True)
class Index:
    suffix: str  # the index is named <table>_<suffix>
    columns: str
    where: str = ""  # a partial index's predicate


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]  # (name, type with constraints)
    primary_key: tuple[str, ...]
    indexes: tuple[Index, ...] = ()
    retired_indexes: tuple[str, ...] = ()  # suffixes of indexes an older version made

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def create_sql(self, suffix: str = "") -> str:
        cols = ", ".join(f"{name} {kind}" for name, kind in self.columns)
        pk = ", ".join(self.primary_key)
        return f"CREATE TABLE IF NOT EXISTS {{s}}{self.name}{suffix} ({cols}, PRIMARY KEY ({pk}))"

    def index_sql(self, suffix: str = "", index_suffix: str = "") -> list[str]:
        """CREATE INDEX statements; `index_suffix` names a shadow table's indexes apart."""
        statements = []
        for index in self.indexes:
            name = f"{self.name}_{index.suffix}{index_suffix}"
            where = f" WHERE {index.where}" if index.where else ""
            statements.append(
                f"CREATE INDEX IF NOT EXISTS {name} "
                f"ON {{s}}{self.name}{suffix} ({index.columns}){where}"
            )
        return statements

    def drop_retired_indexes_sql(self) -> list[str]:
        return [f"DROP INDEX IF EXISTS {{s}}{self.name}_{old}" for old in self.retired_indexes]

    def index_names(self, index_suffix: str = "") -> list[str]:
        return [f"{self.name}_{index.suffix}{index_suffix}" for index in self.indexes]

    def create(self, conn: Connection, suffix: str = "", *, with_indexes: bool = True) -> None:
        conn.execute(self.create_sql(suffix))
        if with_indexes:
            for statement in self.index_sql(suffix, suffix):
                conn.execute(statement)

    def add_missing_columns(self, conn: Connection) -> list[str]:
        """Adds columns a newer version declares to a table an older one created.

        Only columns with a default (or nullable) can be added so; their values in old
        rows are the default until `runledger replay` rebuilds the table from the events.
        """
        if conn.is_postgres:
            rows = conn.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = ? AND table_name = ?",
                (conn.schema, self.name),
            )
        else:
            rows = [(r[1],) for r in conn.execute(f"PRAGMA table_info({self.name})")]
        present = {str(r[0]) for r in rows}
        added = []
        for name, kind in self.columns:
            if name not in present:
                conn.execute(f"ALTER TABLE {{s}}{self.name} ADD COLUMN {name} {kind}")
                added.append(name)
        return added

    def dump(self, conn: Connection, suffix: str = "") -> list[tuple[object, ...]]:
        """Every row in primary-key order: what replay-equals-incremental compares."""
        cols = ", ".join(self.column_names)
        order = ", ".join(self.primary_key)
        return conn.execute(f"SELECT {cols} FROM {{s}}{self.name}{suffix} ORDER BY {order}")
