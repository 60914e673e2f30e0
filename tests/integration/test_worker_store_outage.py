"""A ledger outage while a worker runs: writes are retried, the worker neither crashes nor
loses a transition, and the run completes once the store answers again."""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Iterator

import pytest

from ledger import RunLedger
from tests.conftest import migrated_ledger
from tests.integration.worker_helpers import eventually, make_worker, run_burst, timeline
from workers import QueueSettings, RunClient, load_operations

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def sqlite_ledger(sqlite_url: str) -> Iterator[RunLedger]:
    """SQLite only: a renamed table is an outage there (OperationalError, retried), but a
    permanent UndefinedTable on PostgreSQL, whose outage is a restart (test_projector_process)."""
    with migrated_ledger(sqlite_url) as app:
        yield app


def rename_events_table(path: str, old: str, new: str) -> None:
    with sqlite3.connect(path, timeout=30) as conn:
        conn.execute(f"ALTER TABLE {old} RENAME TO {new}")


async def test_the_worker_waits_out_a_store_outage_and_records_everything_after(
    sqlite_ledger: RunLedger,
    redis_server: str,
    queue_name: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = sqlite_ledger.settings.sqlite_path
    queue = QueueSettings(redis_server, queue_name)
    operations = load_operations("tests.worker_jobs")
    async with RunClient(sqlite_ledger, queue.client(), operations) as client:
        run_id = await client.enqueue("wtest.succeed", workspace="acme", params={"items": 1})
    rename_events_table(path, "stored_events", "stored_events_away")  # the store "goes down"
    caplog.set_level(logging.WARNING, logger="workers.committer.server")
    worker = asyncio.create_task(run_burst(make_worker(sqlite_ledger, redis_server, queue_name)))
    await eventually(lambda: any("retrying" in r.getMessage() for r in caplog.records))
    assert not worker.done()  # the worker is waiting for the store, not crashed
    rename_events_table(path, "stored_events_away", "stored_events")
    await worker
    assert timeline(sqlite_ledger, run_id) == [
        ("Queued",),
        ("Started", 1),
        ("Completed", 1, "job.succeeded"),
    ]
