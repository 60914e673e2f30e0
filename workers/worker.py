"""LedgerWorker: an arq Worker that records every ending of every tracked job.

arq's hooks never see a job's result or exception, and none runs for the endings where
no job code runs. The two places that see every ending are the worker's own
`finish_job` (arq decided: finished, or re-queued) and `finish_failed_job` (expired,
undeserializable, aborted before start, unknown function, tries exhausted). This class
records the ledger transition there, and waits for it to be durable, *before* arq writes
its result: if the worker dies in between, arq redelivers a job whose run is already
terminal, and the next attempt is skipped with a LateSignalRecorded.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import time
from signal import Signals
from typing import IO, Any

from arq.cron import CronJob
from arq.jobs import deserialize_result
from arq.worker import Worker
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ledger import Actor
from ledger.application import Clock, utcnow
from workers.claims import start_claimed
from workers.committer import Committer, LocalCommitter, ProcessCommitter
from workers.execution import TRACKER_KEY, arq_function
from workers.operations import OperationRegistry
from workers.settings import DEFAULT_INTERVAL_SECONDS, QUEUE_KEY, SETTINGS_KEY, WorkerSettings
from workers.timing import ARQ_DEFAULT_JOB_TIMEOUT, check_worker_timing
from workers.tracking import JobTracker
from workers.worker_ledger import worker_ledger

log = logging.getLogger(__name__)

# What a Redis that is restarting, failing over or unreachable raises: the worker waits
# it out (REDIS_BACKOFF, doubling up to REDIS_MAX_BACKOFF) instead of exiting. arq's own
# loop lets it escape and the worker dies, and with it the reconciler cron that would
# heal the runs whose jobs a restarted Redis lost.
REDIS_UNAVAILABLE: tuple[type[BaseException], ...] = (
    RedisConnectionError,
    RedisTimeoutError,
    OSError,
)
REDIS_BACKOFF = 0.5
REDIS_MAX_BACKOFF = 2.0


def cron_jobs_for(
    operations: OperationRegistry, reconcile_interval: int = DEFAULT_INTERVAL_SECONDS
) -> list[CronJob]:
    """The cron jobs every runledger worker runs beside its operations: the stale-run
    reconciler, every `reconcile_interval` seconds (unique per tick, so a fleet
    runs one pass per tick). Their timeouts count in the redelivery window the timing
    guard checks; the reconciler's is the longest operation timeout, so it adds nothing.
    """
    from workers.reconcile_cron import reconcile_cron_job  # a burst worker runs none

    timeouts = [op.policy.timeout for op in operations if op.policy.timeout is not None]
    return [reconcile_cron_job(operation_timeouts=timeouts, interval=reconcile_interval)]


class LedgerWorker(Worker):
    def __init__(
        self,
        operations: OperationRegistry,
        tracker: JobTracker,
        *,
        cron_jobs: list[CronJob] | None = None,
        **kwargs: Any,
    ) -> None:
        ctx = {**kwargs.pop("ctx", {}), TRACKER_KEY: tracker}
        kwargs.setdefault("allow_abort_jobs", True)
        # Bridging relies on arq's default: re-queue on Retry and on cancellation.
        kwargs["retry_jobs"] = True
        super().__init__(
            functions=[arq_function(op) for op in operations],
            cron_jobs=cron_jobs,
            ctx=ctx,
            **kwargs,
        )
        self.operations = operations
        self.tracker = tracker
        # The wrapper tells an abort from a timeout by this set (the same object arq fills).
        tracker.aborting = self.aborting_tasks
        self.shutting_down = False
        self._redis_down_since: float | None = None
        self._redis_backoff = REDIS_BACKOFF
        self._finishing: set[asyncio.Future[None]] = set()  # endings being recorded

    def handle_sig(self, signum: Signals) -> None:
        self.shutting_down = True
        super().handle_sig(signum)

    def handle_sig_wait_for_completion(self, signum: Signals) -> None:
        self.shutting_down = True
        super().handle_sig_wait_for_completion(signum)

    async def start_jobs(self, job_ids: list[bytes]) -> None:
        """arq's start_jobs, minus the jobs this worker is running, claiming as many as
        it has free slots for in one round trip (workers/claims.py)."""
        await start_claimed(self, job_ids)

    async def _poll_iteration(self) -> None:
        """arq's poll (claim, aborts, reaping, health, cron), surviving a Redis outage.

        While Redis does not answer, each poll fails fast; the worker logs it, waits
        (backing off to REDIS_MAX_BACKOFF) and polls again, and jobs already running go
        on. A job's ending is in the ledger before arq writes its result, so one whose
        result could not be written is skipped when arq hands it out again.
        """
        try:
            await super()._poll_iteration()
        except REDIS_UNAVAILABLE as error:
            if self._redis_down_since is None:
                self._redis_down_since = time.monotonic()
                log.warning(
                    "Redis unavailable (%s: %s); polling again, backing off up to %g s",
                    type(error).__name__,
                    error,
                    REDIS_MAX_BACKOFF,
                )
            await asyncio.sleep(self._redis_backoff)
            self._redis_backoff = min(self._redis_backoff * 2, REDIS_MAX_BACKOFF)
            return
        if self._redis_down_since is not None:
            down = time.monotonic() - self._redis_down_since
            log.warning("Redis answers again after %.1f s: polling as usual", down)
            self._redis_down_since, self._redis_backoff = None, REDIS_BACKOFF

    async def finish_job(
        self,
        job_id: str,
        finish: bool,
        result_data: bytes | None,
        result_timeout_s: float | None,
        keep_result_forever: bool,
        incr_score: int | None,
        keep_in_progress: float | None,
    ) -> None:
        self._track_finishing()
        await self.tracker.record_end(job_id, finished=finish, shutting_down=self.shutting_down)
        if not finish and self.shutting_down and keep_in_progress is not None:
            # arq keeps the in-progress key (60 s) only for cron jobs (arq 0.28.0, run_job).
            # A cron pass cut short by shutdown is not re-queued: the next tick runs one.
            # Re-queued, it would sit behind that key, blocking a burst worker's drain
            # and running a pass whose tick has long gone.
            finish = True
        await super().finish_job(
            job_id,
            finish,
            result_data,
            result_timeout_s,
            keep_result_forever,
            incr_score,
            keep_in_progress,
        )

    async def finish_failed_job(self, job_id: str, result_data: bytes | None) -> None:
        self._track_finishing()
        try:
            result = deserialize_result(result_data or b"", deserializer=self.job_deserializer)
        except Exception:
            log.warning("job %s failed in the queue; its result is unreadable", job_id)
        else:
            await self.tracker.record_queue_failure(job_id, result.result, result.job_try)
        await super().finish_failed_job(job_id, result_data)

    def _track_finishing(self) -> None:
        """Notes the task recording a job's ending (arq runs it under `asyncio.shield`)."""
        task = asyncio.current_task()
        if task is not None:
            self._finishing.add(task)
            task.add_done_callback(self._finishing.discard)

    async def _settle_jobs(self) -> None:
        """Waits for every job task, and every ending being recorded, before arq closes.

        A SIGTERM that lands while a job's ending is being recorded cancels the job's
        task at arq's `asyncio.shield(self.finish_job(...))`: the ending goes on in a
        task of its own, and arq's close() would raise the job task's CancelledError
        (a traceback, exit 1) and stop the committer under that ending, losing it.
        """
        await asyncio.gather(*self.tasks.values(), return_exceptions=True)
        await asyncio.gather(*self._finishing, return_exceptions=True)
        for job_id, task in list(self.tasks.items()):
            if task.cancelled():
                del self.tasks[job_id]  # its ending was recorded just above

    async def close(self) -> None:
        try:
            await self._settle_jobs()
            await super().close()
        finally:
            # Drain what jobs submitted last (bounded), then stop the committer process.
            await self.tracker.close()


def worker_actor() -> tuple[str, str]:
    """This process's actor (`worker:HOST:PID`) and worker id (`HOST:PID`)."""
    host, pid = socket.gethostname(), os.getpid()
    return Actor.worker(host, pid), f"{host}:{pid}"


def open_committer(settings: WorkerSettings, clock: Clock) -> Committer:
    """The worker's committer: in a process of its own, or on a thread of this one."""
    kind = LocalCommitter if settings.committer_in_process else ProcessCommitter
    return kind(worker_ledger, settings.database, clock)


def build_worker(
    operations: OperationRegistry,
    settings: WorkerSettings,
    *,
    clock: Clock = utcnow,
    cron_jobs: list[CronJob] | None = None,
    **arq_settings: Any,
) -> LedgerWorker:
    """A LedgerWorker for these operations; refuses (TimingViolationError) a misaligned one.

    `clock` stamps the transitions; `arq_settings` are arq's own (burst, max_jobs,
    poll_delay, handle_signals...). A burst worker runs no cron job by default: it drains
    the queue and exits, and a cron job would keep refilling it.
    """
    if cron_jobs is None and arq_settings.get("burst"):
        cron_jobs = []
    elif cron_jobs is None:
        cron_jobs = cron_jobs_for(operations, settings.reconcile_interval)
    check_worker_timing(
        operations, cron_jobs, arq_settings.get("job_timeout", ARQ_DEFAULT_JOB_TIMEOUT)
    )
    actor, worker_id = worker_actor()
    tracker = JobTracker(
        open_committer(settings, clock),
        actor=actor,
        worker_id=worker_id,
        heartbeat_interval=settings.heartbeat_interval,
        latency_log=_latency_log(settings.commit_latency_log),
    )
    arq_settings.setdefault("redis_settings", settings.queue.redis_settings())
    return LedgerWorker(
        operations,
        tracker,
        cron_jobs=cron_jobs,
        queue_name=settings.queue.queue_name,
        # What the reconciler cron job connects to: this worker's own stores.
        ctx={SETTINGS_KEY: settings.database, QUEUE_KEY: settings.queue},
        **arq_settings,
    )


def _latency_log(path: str | None) -> IO[str] | None:
    """The commit latency file, line-buffered in append mode: each line is one write
    with O_APPEND, so workers sharing the file never interleave and a SIGKILL loses
    nothing written. Closed by the tracker's close, after the committer's drain."""
    return open(path, "a", buffering=1) if path else None
