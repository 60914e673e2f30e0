"""Fixtures of the web tests: per store, one ledger filled by a real worker (module-wide,
since filling it takes seconds), a real `runledger web` over it, and tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger import DatabaseSettings, utcnow
from projections.pool import ReadConnections
from runledger.wiring import migrate_all
from tests.conftest import POSTGRES_URL, REDIS_URL
from tests.web.server import WORKER_JOBS, FilledLedger, WebServer, fill_ledger
from web.tokens import TokenStore


@dataclass
class Served:
    filled: FilledLedger
    server: WebServer

    @property
    def url(self) -> str:
        return self.server.url

    def token(self, workspaces: list[str], capabilities: list[str] | None = None) -> str:
        """A new token for an operator with these workspaces and capabilities."""
        connections = ReadConnections(self.filled.settings, max_size=1)
        try:
            store = TokenStore(connections)
            _, token = store.create(
                f"op-{uuid.uuid4().hex[:6]}", workspaces, capabilities or [], utcnow()
            )
        finally:
            connections.close()
        return token


def _postgres_schema_url(schema: str) -> str:
    import psycopg

    admin = DatabaseSettings.from_url(POSTGRES_URL).conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{POSTGRES_URL}?schema={schema}"


def _drop_schema(schema: str) -> None:
    import psycopg

    admin = DatabaseSettings.from_url(POSTGRES_URL).conninfo()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A real `runledger web` over a ledger a real worker filled, on each store."""
    request.getfixturevalue("postgres_server")
    request.getfixturevalue("redis_server")
    schema = f"t_{uuid.uuid4().hex[:16]}"
    if request.param == "sqlite":
        url = f"sqlite:///{Path(tmp_path_factory.mktemp('web')) / 'runledger.db'}"
    else:
        url = _postgres_schema_url(schema)
    list(migrate_all(DatabaseSettings.from_url(url)))
    env = {
        "RUNLEDGER_DATABASE_URL": url,
        "RUNLEDGER_REDIS_URL": REDIS_URL,
        "RUNLEDGER_QUEUE_NAME": f"runledger-test:{uuid.uuid4().hex[:12]}",
        "RUNLEDGER_JOBS": WORKER_JOBS,
    }
    filled = fill_ledger(env)
    server = WebServer(env).start()
    try:
        yield Served(filled, server)
    finally:
        server.stop()
        if request.param == "postgresql":
            _drop_schema(schema)
