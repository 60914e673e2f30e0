"""Shared fixtures: real PostgreSQL, SQLite and Redis, each test in its own namespace.

Services are required, not optional: when one is missing the tests that need it fail
with a message saying how to start it (they never skip).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from ledger import DatabaseSettings, RunLedger
from runledger.wiring import migrate_all

POSTGRES_URL = os.environ.get(
    "RUNLEDGER_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
REDIS_URL = os.environ.get("RUNLEDGER_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")


def _admin_conninfo() -> str:
    return DatabaseSettings.from_url(POSTGRES_URL).conninfo()


@pytest.fixture(scope="session")
def postgres_server() -> str:
    import psycopg

    try:
        with psycopg.connect(_admin_conninfo(), connect_timeout=5) as conn:
            conn.execute("SELECT 1")
    except psycopg.OperationalError as error:
        pytest.fail(
            f"PostgreSQL is needed at {POSTGRES_URL} and is not reachable ({error}); "
            "start it with scripts/services",
            pytrace=False,
        )
    return POSTGRES_URL


@pytest.fixture(scope="session")
def redis_server() -> str:
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3)
    try:
        client.ping()
    except redis.ConnectionError as error:
        pytest.fail(
            f"Redis is needed at {REDIS_URL} and is not reachable ({error}); "
            "start it with scripts/services",
            pytrace=False,
        )
    finally:
        client.close()
    return REDIS_URL


@contextmanager
def postgres_schema(base_url: str = POSTGRES_URL) -> Iterator[str]:
    """`base_url` with a schema of its own (created now, dropped on the way out)."""
    import psycopg

    schema = f"t_{uuid.uuid4().hex[:16]}"
    with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{base_url}?schema={schema}"
    finally:
        with psycopg.connect(_admin_conninfo(), autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@contextmanager
def store_url(kind: str, directory: Path) -> Iterator[str]:
    """A fresh ledger database: an SQLite file in `directory` ("sqlite"), or a PostgreSQL
    schema of its own ("postgresql", dropped on the way out)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'runledger.db'}"
        return
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A PostgreSQL URL whose schema is this test's alone (dropped afterwards)."""
    with postgres_schema(postgres_server) as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'runledger.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Both stores: a test using this runs once against SQLite and once against PostgreSQL."""
    name = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(name))


@pytest.fixture
def migrated_url(database_url: str) -> str:
    """`database_url` after `runledger migrate`."""
    list(migrate_all(DatabaseSettings.from_url(database_url)))
    return database_url


@contextmanager
def migrated_ledger(url: str) -> Iterator[RunLedger]:
    """A RunLedger on `url` after `runledger migrate`, closed afterwards."""
    settings = DatabaseSettings.from_url(url)
    list(migrate_all(settings))
    app = RunLedger(settings)
    try:
        yield app
    finally:
        app.close()


@pytest.fixture
def ledger(database_url: str) -> Iterator[RunLedger]:
    with migrated_ledger(database_url) as app:
        yield app


@pytest.fixture
def queue_name() -> str:
    """An arq queue name of this test's alone, so parallel runs never share jobs."""
    return f"runledger-test:{uuid.uuid4().hex[:12]}"
