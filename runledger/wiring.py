"""Building the parts from settings: the one place where configuration is read."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from ledger import DatabaseSettings, RunLedger

# Steps `runledger migrate` runs, in order; each creates the tables of one part and
# returns a line saying what it did. Parts that own tables add their step here.
Migration = Callable[[DatabaseSettings], str]


def settings_from_env() -> DatabaseSettings:
    return DatabaseSettings.from_env()


def ensure_schema(settings: DatabaseSettings) -> None:
    """Creates the PostgreSQL schema named in the URL (eventsourcing does not)."""
    if not settings.is_postgres:
        return
    import psycopg
    from psycopg import sql

    with psycopg.connect(settings.conninfo(), autocommit=True, connect_timeout=5) as conn:
        conn.execute(
            sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(settings.schema))
        )


def migrate_event_store(settings: DatabaseSettings) -> str:
    ensure_schema(settings)
    ledger = RunLedger(settings, create_tables=True)
    ledger.close()
    return "event store: ready"


def migrate_read_models(settings: DatabaseSettings) -> str:
    from projections.migrate import migrate_read_models as step

    return step(settings)


def migrate_web(settings: DatabaseSettings) -> str:
    from web.token_schema import migrate_web as step

    return step(settings)


MIGRATIONS: list[Migration] = [migrate_event_store, migrate_read_models, migrate_web]


def migrate_all(settings: DatabaseSettings) -> Iterator[str]:
    for step in MIGRATIONS:
        yield step(settings)
