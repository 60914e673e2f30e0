"""The job wrapper: what runs inside arq for every tracked operation.

It appends `Started` (and waits for it to be durable) before any job code runs, skips a
job whose run is already terminal, hands the job a `RunContext` for heartbeats, and
notes what the job did for the worker's `finish_job` to record.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any
from uuid import UUID

from arq import Retry
from arq.worker import Function, func

from ledger import Effect, RecordHeartbeat, RunNotFoundError, RunStatus, StartRun
from workers.errors import UntrackedJobError
from workers.operations import JobOutcome, Operation
from workers.tracking import JobTrack, JobTracker, Verdict, describe_exception, json_safe

TRACKER_KEY = "runledger_tracker"
RUN_KEY = "run"  # ctx["run"]: the job's RunContext


class RunContext:
    """What a job knows about its run; `await ctx["run"].heartbeat(done=3, total=10)`.

    Heartbeats are coalesced: at most one is written per `interval` seconds (the
    tracker's `heartbeat_interval`, 1 s by default). One that comes sooner returns False
    at once and its counters ride on the next heartbeat that is written, so a chatty job
    costs one write a second, not one per item, while stale thresholds (minutes) still
    see a recent sign of life. `force=True` writes now.
    """

    def __init__(self, tracker: JobTracker, track: JobTrack) -> None:
        self._tracker = tracker
        self._track = track
        self._last_written: float | None = None
        self._writing = False

    @property
    def run_id(self) -> UUID:
        return self._track.run_id

    @property
    def attempt(self) -> int:
        return self._track.attempt

    @property
    def operation_type(self) -> str:
        return self._track.operation.name

    @property
    def progress(self) -> dict[str, Any]:
        return dict(self._track.progress)

    async def heartbeat(
        self, progress: Mapping[str, Any] | None = None, /, *, force: bool = False, **counters: Any
    ) -> bool:
        """Records a sign of life with progress counters; True when it was written."""
        self._track.progress.update(json_safe({**(progress or {}), **counters}))
        now = time.monotonic()
        recent = (
            self._last_written is not None
            and now - self._last_written < self._tracker.heartbeat_interval
        )
        if self._writing or (recent and not force):
            return False
        self._writing, self._last_written = True, now
        try:
            command = RecordHeartbeat(
                self.run_id, self._tracker.actor, attempt=self.attempt, progress=self.progress
            )
            await self._tracker.commit(command)
        finally:
            self._writing = False
        return True


def arq_function(declared: Operation) -> Function:
    """The arq function serving one operation: its name, timeout and max_tries."""

    async def run_operation(ctx: dict[str, Any], **params: Any) -> Any:
        return await execute(declared, ctx, params)

    run_operation.__qualname__ = f"run_operation[{declared.name}]"
    return func(
        run_operation,
        name=declared.name,
        timeout=declared.policy.timeout,
        max_tries=declared.policy.max_tries,
    )


async def execute(declared: Operation, ctx: dict[str, Any], params: dict[str, Any]) -> Any:
    tracker: JobTracker = ctx[TRACKER_KEY]
    track = tracker.begin(ctx["job_id"], ctx["job_try"], declared)
    try:
        return await _run(tracker, track, ctx, params)
    except Retry as retry:
        raise _retry(track, retry) from None
    except asyncio.CancelledError:
        # Abort marks the job before cancelling it, with no await in between (arq 0.28.0).
        aborted = track.job_id in tracker.aborting
        track.verdict = Verdict.ABORTED if aborted else Verdict.CANCELLED
        raise
    except UntrackedJobError:
        raise
    except Exception as error:
        track.verdict, track.error = Verdict.RAISED, describe_exception(error)
        raise


async def _run(
    tracker: JobTracker, track: JobTrack, ctx: dict[str, Any], params: dict[str, Any]
) -> dict[str, Any]:
    start = StartRun(
        track.run_id, tracker.actor, attempt=track.attempt, worker_id=tracker.worker_id
    )
    try:
        started = await tracker.commit(start)
    except RunNotFoundError:
        track.verdict = Verdict.UNTRACKED
        raise UntrackedJobError(track.job_id, track.operation.name) from None
    # A completed run never runs its job again: `late` on the first commit, `unchanged`
    # when a committer that died before replying had already recorded the late start.
    if started.effect is Effect.LATE or started.status is RunStatus.COMPLETED:
        track.verdict = Verdict.SKIPPED
        return {"skipped": f"run already {started.status} ({started.reason_code})"}
    ctx[RUN_KEY] = RunContext(tracker, track)
    value = await track.operation.function(ctx, **params)
    outcome = JobOutcome.from_return(value)
    track.verdict, track.outcome = Verdict.RETURNED, outcome
    # A plain dict, so arq's stored result can be read without importing runledger.
    return {
        "outcome": str(outcome.reason_code).removeprefix("job."),
        "reason_code": str(outcome.reason_code),
        "summary": json_safe(outcome.summary),
    }


def _retry(track: JobTrack, retry: Retry) -> Retry:
    """The Retry to hand arq: the policy's retry_defer when the job named no defer."""
    track.verdict = Verdict.RETRY
    defer_ms = retry.defer_score
    if defer_ms is None and track.operation.policy.retry_defer > 0:
        retry = Retry(defer=track.operation.policy.retry_defer)
        defer_ms = retry.defer_score
    track.defer_seconds = (defer_ms or 0) / 1000
    track.error = "Retry" + (f" in {track.defer_seconds:g} s" if defer_ms else "")
    return retry
