"""Fixtures of the end-to-end tests: a migrated ledger on each store (SQLite, in a file of
the test's own that every process opens, and PostgreSQL), the environment the
`runledger` processes get, and the worker processes a test starts (killed afterwards).

A test module sets JOBS to the module whose operations its workers serve."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator

import pytest

from ledger import DatabaseSettings, RunLedger
from runledger.wiring import migrate_all


@pytest.fixture
def env(
    request: pytest.FixtureRequest, database_url: str, redis_server: str, queue_name: str
) -> dict[str, str]:
    list(migrate_all(DatabaseSettings.from_url(database_url)))
    return {
        "RUNLEDGER_DATABASE_URL": database_url,
        "RUNLEDGER_REDIS_URL": redis_server,
        "RUNLEDGER_QUEUE_NAME": queue_name,
        "RUNLEDGER_JOBS": request.module.JOBS,
        **getattr(request.module, "EXTRA_ENV", {}),
    }


@pytest.fixture
def env_ledger(env: dict[str, str]) -> Iterator[RunLedger]:
    """A RunLedger on the store the test's processes use."""
    app = RunLedger(DatabaseSettings.from_url(env["RUNLEDGER_DATABASE_URL"]))
    yield app
    app.close()


@pytest.fixture
def workers() -> Iterator[list[subprocess.Popen[str]]]:
    """Processes the test starts; each still running at the end is killed."""
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)
