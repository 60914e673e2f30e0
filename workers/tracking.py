"""JobTracker: turns what happened to an arq job into the ledger command that records it.

The job wrapper notes what the job did (returned, raised, asked for a retry, was
cancelled); the worker's `finish_job` adds what arq decided (finished, or re-queued) and
records the matching transition before arq writes its own result. `finish_failed_job`
covers the endings where no job code runs, from the failed result arq is about to store.
Recording never raises: a failing write is retried by the committer, and an error that
refuses a command is logged, never allowed to crash the worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import IO, Any

from arq.jobs import SerializationError
from arq.worker import JobExecutionFailed

from ledger import (
    CompleteRun,
    FailByQueue,
    ReasonCode,
    RetryReason,
    RunCommand,
    RunNotFoundError,
    ScheduleRetry,
)
from ledger.limits import TEXT_LIMIT, clean_text, safe_repr, safe_str
from ledger.summaries import bounded_summary, is_plain
from workers.committer import Committed, Committer
from workers.job_logs import guard_job_logs
from workers.operations import JobOutcome, Operation

log = logging.getLogger(__name__)

# The reason a RetryScheduled gives when the job itself raised arq's Retry.
RETRY_REQUESTED = RetryReason.REQUESTED
# arq re-queues a job cancelled outside shutdown, timeout and abort (the job cancelled itself).
CANCELLED_OUTSIDE_SHUTDOWN = RetryReason.CANCELLED
# Names a file the worker appends one `COMMAND SECONDS` line to per durable command: the
# time from a hook handing it to the committer to its commit (see JobTracker.commit).
COMMIT_LATENCY_VAR = "RUNLEDGER_COMMIT_LATENCY_LOG"


class Verdict(StrEnum):
    """What the wrapper saw the job do."""

    RETURNED = "returned"
    RAISED = "raised"
    RETRY = "retry"
    CANCELLED = "cancelled"  # timeout or shutdown: arq's finish flag tells which
    ABORTED = "aborted"
    SKIPPED = "skipped"  # the run was already terminal: the job did not run
    UNTRACKED = "untracked"  # no run in the ledger


@dataclass
class JobTrack:
    """One attempt of one tracked job, from the wrapper to `finish_job`."""

    job_id: str
    run_id: uuid.UUID
    attempt: int
    operation: Operation
    verdict: Verdict | None = None
    outcome: JobOutcome | None = None
    error: str | None = None
    defer_seconds: float = 0.0
    progress: dict[str, Any] = field(default_factory=dict)


def json_safe(value: Mapping[str, Any]) -> dict[str, Any]:
    """A copy that every store can encode and hold, cut to the summary limits
    (ledger.limits): one odd value must not fail a whole batch, or a projection."""
    try:
        if is_plain(value):
            return dict(value)  # the common case (counters, names): nothing to convert
    except Exception:
        pass  # a mapping that cannot be read as one: the walk says so
    return bounded_summary(value)


def describe_exception(error: BaseException) -> str:
    """`Type: message`, cleaned and cut to TEXT_LIMIT characters; never raises."""
    text = safe_str(error).strip()
    kind = type(error).__name__
    return clean_text(f"{kind}: {text}" if text else kind, TEXT_LIMIT)


def retry_command(track: JobTrack, *, shutting_down: bool, actor: str) -> ScheduleRetry:
    """The command recording that arq will run the job again, and why."""
    if track.verdict is Verdict.RETRY:
        reason = RETRY_REQUESTED
    elif track.verdict is Verdict.CANCELLED and shutting_down:
        reason = RetryReason.WORKER_SHUTDOWN
    else:
        reason = CANCELLED_OUTSIDE_SHUTDOWN
    return ScheduleRetry(
        track.run_id,
        actor,
        attempt=track.attempt,
        reason=reason,
        defer_seconds=track.defer_seconds,
        error=track.error,
    )


def end_command(
    track: JobTrack, *, finished: bool, shutting_down: bool, actor: str
) -> RunCommand | None:
    """The command recording how arq ended one attempt (`finished`: arq will not re-run it)."""
    run, attempt = track.run_id, track.attempt
    if track.verdict in (None, Verdict.SKIPPED, Verdict.UNTRACKED):
        return None
    if not finished:
        return retry_command(track, shutting_down=shutting_down, actor=actor)
    if track.verdict is Verdict.RETURNED and track.outcome is not None:
        summary = json_safe(track.outcome.summary)
        return CompleteRun(
            run, actor, attempt=attempt, reason_code=track.outcome.reason_code, summary=summary
        )
    if track.verdict is Verdict.ABORTED:
        return FailByQueue(
            run,
            actor,
            attempt=attempt,
            reason_code=ReasonCode.QUEUE_ABORTED,
            error="aborted while running",
        )
    if track.verdict is Verdict.CANCELLED:
        # A finished cancelled job is arq's timeout: shutdown and self-cancels are re-queued.
        error = f"TimeoutError: exceeded its {track.operation.policy.timeout:g} s timeout"
        return FailByQueue(
            run, actor, attempt=attempt, reason_code=ReasonCode.QUEUE_TIMEOUT, error=error
        )
    summary = {"error": track.error} if track.error else {}
    return CompleteRun(
        run, actor, attempt=attempt, reason_code=ReasonCode.JOB_EXCEPTION, summary=summary
    )


def queue_failure_reason(error: object) -> ReasonCode | None:
    """The reason code of a failed result arq stores without running the job, or None."""
    if isinstance(error, asyncio.CancelledError):
        return ReasonCode.QUEUE_ABORTED  # aborted before it started
    if isinstance(error, SerializationError):
        return ReasonCode.QUEUE_DESERIALIZE_ERROR
    if not isinstance(error, JobExecutionFailed):
        return None
    # arq 0.28.0 tells these apart by message only (worker.py run_job); pinned and tested.
    text = str(error)
    if text == "job expired":
        return ReasonCode.QUEUE_EXPIRED
    if text.startswith("function ") and text.endswith(" not found"):
        return ReasonCode.QUEUE_FUNCTION_MISSING
    if text.startswith("max ") and text.endswith(" retries exceeded"):
        return ReasonCode.QUEUE_MAX_TRIES_EXCEEDED
    return None


def run_id_of(job_id: str) -> uuid.UUID | None:
    """The run a job id names, or None for jobs that are not runs (cron jobs)."""
    try:
        return uuid.UUID(job_id)
    except ValueError:
        return None


class JobTracker:
    """A worker's bridge to the ledger: commits through its committer."""

    def __init__(
        self,
        committer: Committer,
        *,
        actor: str,
        worker_id: str,
        heartbeat_interval: float = 1.0,
        latency_log: IO[str] | None = None,
    ) -> None:
        """`latency_log`: where `commit` writes each durable command's latency (opt-in,
        for load tests; None, the default, costs one comparison per commit)."""
        self.committer = committer
        self.actor = actor
        self.worker_id = worker_id
        self.heartbeat_interval = heartbeat_interval
        self.latency_log = latency_log
        self._tracks: dict[str, JobTrack] = {}
        self.aborting: set[str] = set()  # replaced by the worker's own set (see LedgerWorker)
        guard_job_logs()  # a job's exception must not crash the worker that logs it

    def begin(self, job_id: str, attempt: int, declared: Operation) -> JobTrack:
        track = JobTrack(job_id, uuid.UUID(job_id), attempt, declared)
        self._tracks[job_id] = track
        return track

    def pop(self, job_id: str) -> JobTrack | None:
        return self._tracks.pop(job_id, None)

    async def commit(self, command: RunCommand) -> Committed:
        """Waits until the command is durable, without blocking the event loop.

        Cancelling the wait (a timeout, a shutdown) does not cancel the command, which
        still lands, in order, before whatever this job records next: the committer
        only settles a waiter that is still waited on.

        With a `latency_log`, a durable command appends `COMMAND SECONDS` to it: from
        this call (the hook handing the transition over) to the committer process's
        reply that its transaction committed, pace, pipe and batching included. Nothing
        is kept in memory; a refused or abandoned command writes no line.
        """
        if self.latency_log is None:
            return await self.committer.commit(command)
        began = time.perf_counter()
        committed = await self.committer.commit(command)
        self.latency_log.write(f"{type(command).__name__} {time.perf_counter() - began:.6f}\n")
        return committed

    async def record(self, command: RunCommand | None) -> Committed | None:
        """Commits a command; never raises (a worker must outlive any ledger trouble)."""
        if command is None:
            return None
        try:
            return await self.commit(command)
        except RunNotFoundError:
            log.debug("job %s is not a run in the ledger; nothing recorded", command.run_id)
        except Exception:
            log.exception("could not record %s for run %s", type(command).__name__, command.run_id)
        return None

    async def record_end(self, job_id: str, *, finished: bool, shutting_down: bool) -> None:
        track = self.pop(job_id)
        if track is None:
            return  # not a tracked operation (a cron job), or the wrapper never ran
        command = end_command(
            track, finished=finished, shutting_down=shutting_down, actor=self.actor
        )
        await self.record(command)

    async def record_queue_failure(self, job_id: str, error: object, attempt: int) -> None:
        """Records a failure arq reached without running job code (no hook runs then)."""
        self.pop(job_id)
        run_id = run_id_of(job_id)
        reason = queue_failure_reason(error)
        if run_id is None:
            return
        if reason is None:
            log.warning(
                "job %s failed in the queue with %s: left to the reconciler",
                job_id,
                clean_text(safe_repr(error), TEXT_LIMIT),
            )
            return
        if isinstance(error, BaseException):
            text = describe_exception(error)
        else:
            text = clean_text(safe_str(error), TEXT_LIMIT)
        await self.record(
            FailByQueue(run_id, self.actor, attempt=attempt, reason_code=reason, error=text)
        )

    async def close(self) -> None:
        """Commits what is still pending (bounded), then stops the committer process."""
        try:
            await self.committer.aclose()
        finally:
            if self.latency_log is not None:
                self.latency_log.close()
