"""Fixtures of the web tests: per store, one ledger filled by a real worker (module-wide,
since filling it takes seconds), a real `runledger web` over it, and tokens."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from ledger import DatabaseSettings, utcnow
from projections.pool import ReadConnections
from runledger.wiring import migrate_all
from tests.conftest import REDIS_URL, store_url
from tests.web.client import Api, Ledger
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


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    """A real `runledger web` over a ledger a real worker filled, on each store."""
    request.getfixturevalue("postgres_server")
    request.getfixturevalue("redis_server")
    with store_url(request.param, tmp_path_factory.mktemp("web")) as url:
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


@pytest.fixture(scope="module")
def api(served: Served) -> Iterator[Api]:
    """The served API with a token for every workspace."""
    client = Api(served.url, served.token(["*"]))
    yield client
    client.close()


@pytest.fixture(scope="module")
def known(served: Served) -> Ledger:
    """What the fixture's worker put in the ledger, read back once."""
    return Ledger.read(served.url, served.token(["*"]), served.filled.runs)
