"""The job wrapper never runs the job of a completed run, whatever its start reported."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from ledger import Effect, OperationPolicy, ReasonCode, RunStatus
from ledger.commands import RunCommand
from workers.committer import Committed
from workers.execution import TRACKER_KEY, execute
from workers.operations import Operation
from workers.tracking import JobTracker, Verdict

RAN: list[str] = []


async def job(ctx: dict[str, Any]) -> None:
    RAN.append(ctx["job_id"])


DECLARED = Operation(name="unit.job", function=job, policy=OperationPolicy(timeout=5))


class FakeCommitter:
    """Answers every start as the ledger would for a run that already completed."""

    def __init__(self, effect: Effect) -> None:
        self.effect = effect

    async def commit(self, command: RunCommand) -> Committed:
        return Committed(self.effect, RunStatus.COMPLETED, str(ReasonCode.RECONCILER_JOB_LOST))


@pytest.mark.parametrize("effect", [Effect.LATE, Effect.UNCHANGED])
async def test_the_job_of_a_completed_run_is_skipped(effect: Effect) -> None:
    tracker = JobTracker(FakeCommitter(effect), actor="worker:h:1", worker_id="h:1")  # type: ignore[arg-type]
    job_id = str(uuid.uuid4())
    ctx = {TRACKER_KEY: tracker, "job_id": job_id, "job_try": 2}
    result = await execute(DECLARED, ctx, {})
    assert RAN == []
    assert result == {"skipped": "run already completed (reconciler.job_lost)"}
    track = tracker.pop(job_id)
    assert track is not None and track.verdict is Verdict.SKIPPED
