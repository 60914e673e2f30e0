"""Running a real LedgerWorker in-process against real Redis, and reading its record."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any
from uuid import UUID

from ledger import RunLedger
from tests import ledger_calls
from workers import (
    LedgerWorker,
    OperationRegistry,
    QueueSettings,
    WorkerSettings,
    build_worker,
    load_operations,
)

JOBS = "tests.worker_jobs"


def served(*, leave_out: tuple[str, ...] = ("wtest.unserved",)) -> OperationRegistry:
    return OperationRegistry(op for op in load_operations(JOBS) if op.name not in leave_out)


def make_worker(
    ledger: RunLedger, redis_url: str, queue_name: str, **settings: Any
) -> LedgerWorker:
    # No reconciler cron: these tests are about one job's path (the cron has its own e2e).
    settings = {
        "burst": True,
        "poll_delay": 0.01,
        "handle_signals": False,
        "cron_jobs": [],
        **settings,
    }
    queue = QueueSettings(redis_url, queue_name)
    heartbeat = settings.pop("heartbeat_interval", 1.0)
    worker_settings = WorkerSettings(ledger.settings, queue, heartbeat_interval=heartbeat)
    return build_worker(served(), worker_settings, clock=ledger.clock, **settings)


async def run_burst(worker: LedgerWorker) -> None:
    """Runs the worker until its queue is empty, then closes it (flushing the ledger)."""
    try:
        await worker.async_run()
    finally:
        await worker.close()


def timeline(ledger: RunLedger, run_id: UUID) -> list[tuple[Any, ...]]:
    """The run's events as (name, attempt, reason) tuples: what the tests assert on."""
    rows: list[tuple[Any, ...]] = []
    for event in ledger_calls.run_events(ledger, run_id):
        name = type(event).__name__
        if name == "Queued":
            rows.append((name,))
        elif name == "LateSignalRecorded":
            rows.append((name, event.attempt, event.signal))
        elif name == "RetryScheduled":
            rows.append((name, event.attempt, event.reason))
        elif name in ("Completed", "QueueFailed", "ReconciledStale"):
            rows.append((name, getattr(event, "attempt", None), event.reason_code))
        else:
            rows.append((name, event.attempt))
    return rows


def assert_each_succeeded_once(ledger: RunLedger, run_ids: Iterable[UUID]) -> None:
    """Each run was started once, on its first attempt, and completed as succeeded."""
    for run_id in run_ids:
        assert timeline(ledger, run_id) == [
            ("Queued",),
            ("Started", 1),
            ("Completed", 1, "job.succeeded"),
        ], run_id


async def eventually(
    probe: Callable[[], Any], *, timeout: float = 20.0, every: float = 0.02
) -> Any:
    """Polls `probe` (run off the loop) until it returns something truthy, or fails."""
    deadline = time.monotonic() + timeout
    while True:
        value = await asyncio.to_thread(probe)
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {probe}")
        await asyncio.sleep(every)


async def eventually_async(
    probe: Callable[[], Awaitable[Any]], *, timeout: float = 20.0, every: float = 0.01
) -> Any:
    """`eventually` for probes that are coroutines (Redis reads)."""
    deadline = time.monotonic() + timeout
    while not (value := await probe()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s: {probe}")
        await asyncio.sleep(every)
    return value


def has_event(ledger: RunLedger, run_id: UUID, row: tuple[Any, ...]) -> bool:
    return row in timeline(ledger, run_id)
