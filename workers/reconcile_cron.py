"""Running the reconciler: as an arq cron job in every worker, and for `runledger reconcile`.

Before each pass the runs index is caught up with the event store (the catch-up is
exactly-once and safe beside a running projector), so a stopped projector cannot hide
an orphaned run from the reconciler.
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from arq import cron
from arq.cron import CronJob
from redis.asyncio import Redis

from ledger import DatabaseSettings, PolicyError, RunLedger
from projections import MonitoringView, ReconcileCandidate, Scope
from projections.runner import CatchUpRunner
from workers.reconcile_rules import DEFAULT_GRACE_SECONDS
from workers.reconciler import Reconciler, ReconcileReport
from workers.settings import (
    DEFAULT_INTERVAL_SECONDS,
    QUEUE_KEY,
    SETTINGS_KEY,
    QueueSettings,
    reconcile_interval_from,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_SECONDS = 30.0  # for a worker that serves no operation
CRON_NAME = "runledger:reconcile"


class IndexCandidates:
    """The runs index's stale candidates, in every workspace (the reconciler is no operator)."""

    def __init__(self, settings: DatabaseSettings) -> None:
        self.view = MonitoringView(settings, pool_size=2)

    def reconcile_candidates(self, idle_since: datetime, limit: int) -> list[ReconcileCandidate]:
        return self.view.reconcile_candidates(Scope.every_workspace(), idle_since, limit)

    def close(self) -> None:
        self.view.close()


class CaughtUpCandidates(IndexCandidates):
    """The runs index's stale candidates, after catching the index up with the ledger."""

    def __init__(self, settings: DatabaseSettings) -> None:
        super().__init__(settings)
        self.runner = CatchUpRunner(settings)

    def reconcile_candidates(self, idle_since: datetime, limit: int) -> list[ReconcileCandidate]:
        self.runner.run_once()
        return super().reconcile_candidates(idle_since, limit)


@asynccontextmanager
async def open_reconciler(
    settings: DatabaseSettings,
    queue: QueueSettings,
    *,
    grace: float = DEFAULT_GRACE_SECONDS,
    redis: Redis | None = None,
) -> AsyncIterator[Reconciler]:
    """A Reconciler with its own ledger, read-model connection and (unless given) Redis."""
    ledger = RunLedger(settings, bulk_reads=True)
    candidates = CaughtUpCandidates(settings)
    client = redis if redis is not None else queue.client()
    try:
        yield Reconciler(ledger, candidates, client, queue_name=queue.queue_name, grace=grace)
    finally:
        candidates.close()
        ledger.close()
        if redis is None:
            await client.aclose()


def interval_from_env(environ: Mapping[str, str] | None = None) -> int:
    """RUNLEDGER_RECONCILE_INTERVAL (seconds between passes), default 30."""
    return reconcile_interval_from(os.environ if environ is None else environ)


def cron_seconds(interval: int) -> set[int]:
    """The seconds of each minute a reconcile pass starts at; `interval` must divide 60."""
    if interval < 1 or 60 % interval:
        raise PolicyError(
            f"the reconcile interval must be a whole number of seconds dividing 60, got {interval}"
        )
    return set(range(0, 60, interval))


def reconcile_cron_job(
    *,
    operation_timeouts: Sequence[float],
    interval: int = DEFAULT_INTERVAL_SECONDS,
    grace: float = DEFAULT_GRACE_SECONDS,
) -> CronJob:
    """The reconciler as a cron job: unique per tick, so with many workers one pass runs.

    Its timeout is the longest operation timeout, so adding it never widens arq's
    redelivery window that the timing guard checks the policies against. A pass that
    outlives it is cut short; what it appended stays (each batch is its own transaction)
    and the next tick carries on.
    """
    seconds = cron_seconds(interval)

    async def reconcile_stale_runs(ctx: dict[str, Any]) -> dict[str, Any]:
        settings: DatabaseSettings = ctx[SETTINGS_KEY]
        queue: QueueSettings = ctx[QUEUE_KEY]
        async with open_reconciler(settings, queue, grace=grace, redis=ctx["redis"]) as reconciler:
            report: ReconcileReport = await reconciler.run_once()
        # `healed` counts the repairs appended; a run another writer ended first (its job
        # finished during the pass, or another worker's pass got there) is `refused`.
        applied = sum(1 for healed in report.healed if healed.applied)
        return {
            "checked": report.checked,
            "healed": applied,
            "refused": len(report.healed) - applied,
        }

    return cron(
        reconcile_stale_runs,
        name=CRON_NAME,
        second=seconds,
        unique=True,
        run_at_startup=True,
        timeout=max(operation_timeouts, default=DEFAULT_TIMEOUT_SECONDS),
        max_tries=1,
        keep_result=0,
    )
