"""SQLite has one writer at a time. A process's writers wait their turn behind another
process's write for as long as the store's lock timeout (SQLITE_LOCK_TIMEOUT) allows,
and closing a ledger lets a write that is waiting for the lock finish first."""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import sqlite3
import threading
from uuid import UUID

import pytest

from ledger import DatabaseSettings, RunLedger, RunStatus, run_id_for_key
from tests.conftest import migrated_ledger
from workers import QueueSettings, RunClient, load_operations

pytestmark = pytest.mark.timeout(60)

JOBS = "tests.worker_jobs"
# Longer than eventsourcing's connection pool lets a writer wait for another (5 s), well
# within the store's lock timeout (30 s): what a long write elsewhere (say, replay's swap
# of the read models on a big ledger) makes every other writer wait.
HELD_FOR = 5.5
KEY = "nightly-2024-06-01"


def hold_the_write_lock(path: str, seconds: float) -> None:
    """Takes SQLite's write lock on a connection of its own, as another process would,
    and lets go of it `seconds` later."""
    held = threading.Event()

    def hold() -> None:
        with sqlite3.connect(path, isolation_level=None) as conn:
            conn.execute("BEGIN IMMEDIATE")
            held.set()
            threading.Event().wait(seconds)  # the other writer's long transaction
            conn.execute("COMMIT")

    threading.Thread(target=hold, daemon=True).start()
    assert held.wait(10)


async def test_concurrent_enqueues_wait_out_another_processs_long_write(
    sqlite_url: str, redis_server: str, queue_name: str
) -> None:
    with migrated_ledger(sqlite_url) as ledger:
        queue = QueueSettings(redis_server, queue_name)
        async with RunClient(ledger, queue.client(), load_operations(JOBS)) as client:
            hold_the_write_lock(ledger.settings.sqlite_path, HELD_FOR)
            results = await asyncio.gather(
                *(client.enqueue("wtest.succeed", workspace="acme") for _ in range(4)),
                return_exceptions=True,  # each failure shows as such
            )
        assert [r for r in results if isinstance(r, BaseException)] == []
        run_ids = [r for r in results if isinstance(r, UUID)]
        assert [ledger.state(r).status for r in run_ids] == [RunStatus.QUEUED] * 4


def give_up_on_an_enqueue_and_shut_down(url: str, redis_url: str, queue_name: str) -> None:
    """An application that stops waiting for an enqueue (a request's deadline) while its
    save waits for the lock, then shuts down, closing its client and the ledger it owns."""
    settings = DatabaseSettings.from_url(url)
    hold_the_write_lock(settings.sqlite_path, 2.0)

    async def serve() -> None:
        queue = QueueSettings(redis_url, queue_name)
        ledger = RunLedger(settings)
        async with RunClient(ledger, queue.client(), load_operations(JOBS), owns_ledger=True) as c:
            enqueue = c.enqueue("wtest.succeed", workspace="acme", idempotency_key=KEY)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(enqueue, timeout=0.5)

    asyncio.run(serve())


def test_shutting_down_while_an_enqueue_waits_for_the_lock_lets_it_finish(
    sqlite_url: str, redis_server: str, queue_name: str
) -> None:
    with migrated_ledger(sqlite_url) as ledger:
        args = (sqlite_url, redis_server, queue_name)
        app = multiprocessing.get_context("spawn").Process(
            target=give_up_on_an_enqueue_and_shut_down, args=args
        )
        app.start()
        app.join(timeout=30)
        assert app.exitcode == 0  # not -11: the ledger closed no connection under the save
        run_id = run_id_for_key("acme", "wtest.succeed", KEY)
        assert ledger.state(run_id).status is RunStatus.QUEUED
