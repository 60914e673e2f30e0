"""The reconciler against real Redis, a real arq worker, and both stores.

Each of arq's answers gets its own test: in progress (leave it), result stored (bridge
it at once), no trace (job lost after the grace), queued or deferred (heal only past
the threshold). Time is a shared fake clock for the ledger and the reconciler; arq's own
record is real.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from arq import Worker
from arq.connections import ArqRedis

from ledger import (
    DatabaseSettings,
    EndedBy,
    OperationPolicy,
    OperationRun,
    Outcome,
    ReasonCode,
    RunLedger,
    RunStatus,
)
from projections.runner import CatchUpRunner
from tests import ledger_calls
from workers import QueueSettings
from workers.reconcile_cron import CaughtUpCandidates, IndexCandidates
from workers.reconciler import Reconciler

POLICY = OperationPolicy(timeout=5, max_tries=1, stale_queued_after=600, stale_running_after=300)
WORKER = "worker:host-a:101"
GRACE = 30.0


class Clock:
    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Setup:
    settings: DatabaseSettings
    ledger: RunLedger
    redis: ArqRedis
    queue: QueueSettings
    clock: Clock

    def reconciler(self, *, caught_up: bool = True) -> Reconciler:
        candidates = (
            CaughtUpCandidates(self.settings) if caught_up else IndexCandidates(self.settings)
        )
        return Reconciler(
            RunLedger(self.settings),
            candidates,
            self.redis,
            queue_name=self.queue.queue_name,
            grace=GRACE,
            clock=self.clock,
        )

    def queue_run(self, *, started: bool) -> UUID:
        run_id = self.ledger.queue(
            operation_type="rtest.job", workspace="acme", policy=POLICY
        ).run_id
        if started:
            ledger_calls.start(self.ledger, run_id, attempt=1, worker_id=WORKER, actor=WORKER)
        return run_id

    async def enqueue(self, run_id: UUID, function: str = "rtest.job", **kwargs: Any) -> None:
        job = await self.redis.enqueue_job(
            function, _job_id=str(run_id), _queue_name=self.queue.queue_name, **kwargs
        )
        assert job is not None

    def events(self, run_id: UUID) -> list[str]:
        return [type(e).__name__ for e in ledger_calls.run_events(self.ledger, run_id)]

    def reconciled(self, run_id: UUID) -> OperationRun.ReconciledStale:
        [event] = [
            e
            for e in ledger_calls.run_events(self.ledger, run_id)
            if type(e).__name__ == "ReconciledStale"
        ]
        return event  # type: ignore[no-any-return]


@pytest.fixture
async def setup(migrated_url: str, redis_server: str, queue_name: str) -> AsyncIterator[Setup]:
    settings = DatabaseSettings.from_url(migrated_url)
    clock = Clock()
    ledger = RunLedger(settings, clock=clock)
    queue = QueueSettings(redis_server, queue_name)
    redis = queue.client()
    yield Setup(settings, ledger, redis, queue, clock)
    await redis.aclose()
    ledger.close()


async def test_run_126_a_run_left_running_past_its_threshold_is_resolved_once(setup: Setup) -> None:
    orphan = setup.queue_run(started=True)
    await setup.enqueue(orphan)  # arq holds it for redelivery, as after a worker crash
    done = setup.queue_run(started=True)
    ledger_calls.complete(
        setup.ledger, done, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, actor=WORKER
    )
    setup.clock.advance(POLICY.stale_running_after + 1)
    fresh = setup.queue_run(started=True)
    await setup.enqueue(fresh)

    report = await setup.reconciler().run_once()

    state = setup.ledger.state(orphan)
    assert (state.status, state.outcome, state.ended_by, state.reason_code) == (
        RunStatus.COMPLETED,
        Outcome.FAILED,
        EndedBy.RECONCILER,
        ReasonCode.RECONCILER_STALE_RUNNING,
    )
    evidence = setup.reconciled(orphan).evidence
    assert evidence["previous_status"] == "running"
    assert evidence["arq_job_state"] == "queued"
    assert evidence["threshold_seconds"] == POLICY.stale_running_after
    assert evidence["idle_seconds"] >= POLICY.stale_running_after
    assert setup.events(fresh) == ["Queued", "Started"]
    assert setup.events(done) == ["Queued", "Started", "Completed"]
    # The healed run's job no longer waits in arq; the fresh one's still does.
    assert report.jobs_removed == 1
    assert await setup.redis.zscore(setup.queue.queue_name, str(orphan)) is None
    assert await setup.redis.zscore(setup.queue.queue_name, str(fresh)) is not None

    before = {r: setup.events(r) for r in (orphan, fresh, done)}
    again = await setup.reconciler().run_once()
    assert [h for h in again.healed if h.applied] == []
    assert {r: setup.events(r) for r in (orphan, fresh, done)} == before


async def test_a_job_arq_has_in_progress_is_left_alone_however_old(setup: Setup) -> None:
    run_id = setup.queue_run(started=True)
    release = asyncio.Event()

    async def hold(ctx: dict[str, Any]) -> None:
        await release.wait()

    worker = Worker(
        functions=[_named(hold, "rtest.job")],
        redis_pool=setup.redis,
        queue_name=setup.queue.queue_name,
        poll_delay=0.01,
        handle_signals=False,
    )
    await setup.enqueue(run_id)
    task = asyncio.create_task(worker.async_run())
    try:
        await _until(lambda: setup.redis.exists(f"arq:in-progress:{run_id}"))
        setup.clock.advance(10 * POLICY.stale_running_after)
        report = await setup.reconciler().run_once()
        assert report.healed == []
        assert report.skipped == {"arq has the job in progress: it is executing": 1}
        assert setup.events(run_id) == ["Queued", "Started"]
    finally:
        release.set()
        await asyncio.sleep(0)
        task.cancel()
        await worker.close()


@pytest.mark.parametrize(
    ("succeeds", "outcome"), [(True, Outcome.SUCCEEDED), (False, Outcome.FAILED)]
)
async def test_a_result_arq_stored_is_bridged_at_once(
    setup: Setup, succeeds: bool, outcome: Outcome
) -> None:
    """A plain arq worker ran the job and the ledger never heard: arq's result decides."""
    run_id = setup.queue_run(started=True)

    async def job(ctx: dict[str, Any]) -> str:
        if not succeeds:
            raise RuntimeError("disk full")
        return "ok"

    await setup.enqueue(run_id)
    worker = Worker(
        functions=[_named(job, "rtest.job")],
        redis_pool=setup.redis,
        queue_name=setup.queue.queue_name,
        burst=True,
        poll_delay=0.01,
        handle_signals=False,
        max_tries=1,
    )
    await worker.async_run()
    await worker.close()
    setup.clock.advance(GRACE)  # well inside the 300 s threshold

    await setup.reconciler().run_once()

    state = setup.ledger.state(run_id)
    assert state.reason_code is ReasonCode.RECONCILER_QUEUE_RESULT and state.outcome is outcome
    evidence = setup.reconciled(run_id).evidence
    assert evidence["arq_job_state"] == "complete"
    assert evidence["arq_result"]["success"] is succeeds
    if not succeeds:
        assert "disk full" in evidence["arq_result"]["error"]


async def test_a_run_arq_has_no_trace_of_is_lost_after_the_grace_not_the_threshold(
    setup: Setup,
) -> None:
    run_id = setup.queue_run(started=False)  # Queued appended, the enqueue never happened
    setup.clock.advance(GRACE - 1)
    report = await setup.reconciler().run_once()
    assert report.healed == [] and setup.events(run_id) == ["Queued"]
    assert report.skipped == {"no arq trace yet, within the enqueue grace": 1}

    setup.clock.advance(1)
    await setup.reconciler().run_once()
    state = setup.ledger.state(run_id)
    assert state.reason_code is ReasonCode.RECONCILER_JOB_LOST and state.outcome is Outcome.FAILED
    evidence = setup.reconciled(run_id).evidence
    assert evidence["arq_job_state"] == "not_found" and evidence["grace_seconds"] == GRACE
    assert evidence["previous_status"] == "queued"


@pytest.mark.parametrize("defer", [False, True])
async def test_a_job_still_waiting_in_arq_is_healed_only_past_the_threshold(
    setup: Setup, defer: bool
) -> None:
    run_id = setup.queue_run(started=False)
    await setup.enqueue(run_id, _defer_by=3600) if defer else await setup.enqueue(run_id)
    setup.clock.advance(POLICY.stale_queued_after - 1)
    report = await setup.reconciler().run_once()
    assert report.healed == [] and setup.events(run_id) == ["Queued"]

    setup.clock.advance(1)
    report = await setup.reconciler().run_once()
    state = setup.ledger.state(run_id)
    assert state.reason_code is ReasonCode.RECONCILER_STALE_QUEUED
    assert setup.reconciled(run_id).evidence["arq_job_state"] == ("deferred" if defer else "queued")
    assert report.jobs_removed == 1
    assert not await setup.redis.exists(f"arq:job:{run_id}")


async def test_a_run_that_showed_life_after_the_read_model_saw_it_is_not_healed(
    setup: Setup,
) -> None:
    run_id = setup.queue_run(started=True)
    setup.clock.advance(POLICY.stale_running_after + 1)
    CatchUpRunner(setup.settings).run_once()
    # A heartbeat the read model has not projected yet: the index still says stale.
    ledger_calls.heartbeat(setup.ledger, run_id, attempt=1, actor=WORKER)
    report = await setup.reconciler(caught_up=False).run_once()
    assert report.checked == 1 and report.healed == []
    assert setup.events(run_id) == ["Queued", "Started", "Heartbeat"]


async def test_a_dry_run_decides_but_appends_nothing(setup: Setup) -> None:
    run_id = setup.queue_run(started=False)
    setup.clock.advance(GRACE)
    report = await setup.reconciler().run_once(dry_run=True)
    assert [(h.run_id, h.reason_code, h.applied) for h in report.healed] == [
        (run_id, "reconciler.job_lost", False)
    ]
    assert setup.events(run_id) == ["Queued"]


async def test_two_reconcilers_at_once_leave_each_of_1000_stale_runs_one_reconciliation(
    setup: Setup,
) -> None:
    runs = [
        OperationRun.queue(
            run_id=uuid.uuid4(),
            workspace="acme",
            operation_type="rtest.job",
            policy=POLICY,
            actor="system",
            at=setup.clock(),
        )
        for _ in range(1000)
    ]
    for start in range(0, len(runs), 100):
        setup.ledger.save(*runs[start : start + 100])
    setup.clock.advance(POLICY.stale_queued_after + 1)
    CatchUpRunner(setup.settings).run_once()

    async def both() -> list[Any]:
        first, second = setup.reconciler(caught_up=False), setup.reconciler(caught_up=False)
        return list(await asyncio.gather(first.run_once(), second.run_once()))

    reports = await both()
    applied = sum(1 for report in reports for h in report.healed if h.applied)
    assert applied == 1000
    counts: dict[UUID, int] = {}
    for notification in setup.ledger.recorder.select_notifications(None, 100_000):
        if notification.topic.endswith("ReconciledStale"):
            counts[notification.originator_id] = counts.get(notification.originator_id, 0) + 1
    assert len(counts) == 1000 and set(counts.values()) == {1}


def _named(function: Any, name: str) -> Any:
    from arq.worker import func

    return func(function, name=name)


async def _until(probe: Any, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await probe():
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


async def test_a_run_waiting_in_another_queue_is_looked_for_there_not_taken_for_lost(
    setup: Setup,
) -> None:
    other_queue = f"{setup.queue.queue_name}:other"
    waiting = setup.ledger.queue(
        operation_type="rtest.job", workspace="acme", policy=POLICY, queue_name=other_queue
    ).run_id
    job = await setup.redis.enqueue_job("rtest.job", _job_id=str(waiting), _queue_name=other_queue)
    assert job is not None
    setup.clock.advance(GRACE + 1)  # past the grace: a job with no trace would be lost now

    await setup.reconciler().run_once()
    assert setup.events(waiting) == ["Queued"]  # its queue holds it: it is waiting, not lost

    setup.clock.advance(POLICY.stale_queued_after)
    report = await setup.reconciler().run_once()
    assert setup.reconciled(waiting).reason_code == ReasonCode.RECONCILER_STALE_QUEUED
    assert report.jobs_removed == 1
    assert await setup.redis.zscore(other_queue, str(waiting)) is None
    await setup.redis.delete(other_queue)
