"""Fixtures of the integration tests beyond tests/conftest.py's stores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from ledger import RunLedger
from projections import MonitoringView
from workers import QueueSettings, RunClient, load_operations


@pytest.fixture
def view(ledger: RunLedger) -> Iterator[MonitoringView]:
    """The read API over the test's ledger (both stores, as `ledger` is)."""
    view = MonitoringView(ledger.settings)
    yield view
    view.close()


@pytest.fixture
async def client(ledger: RunLedger, redis_server: str, queue_name: str) -> AsyncIterator[RunClient]:
    """A RunClient on the test's ledger and queue, for the operations of tests.worker_jobs."""
    queue = QueueSettings(redis_server, queue_name)
    operations = load_operations("tests.worker_jobs")
    async with RunClient(ledger, queue.client(), operations, queue_name=queue_name) as c:
        yield c
