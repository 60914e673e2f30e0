"""Every way arq can end a job, through a real LedgerWorker and real Redis, as the ledger
records it on each store (SQLite and PostgreSQL): the exact events, reason codes and
attempts."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import uuid4

import pytest
from arq.constants import abort_jobs_ss, job_key_prefix
from arq.cron import cron
from arq.jobs import Job, JobStatus
from arq.utils import timestamp_ms
from arq.worker import Worker

from ledger import ReasonCode, RunLedger
from tests import ledger_calls, worker_jobs
from tests.integration.worker_helpers import (
    assert_each_succeeded_once,
    eventually,
    eventually_async,
    has_event,
    make_worker,
    run_burst,
    timeline,
)
from workers import LedgerWorker, RunClient, claims, load_operations

pytestmark = pytest.mark.timeout(60)


async def test_a_returning_job_completes_its_run_as_succeeded_with_its_summary(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.succeed", workspace="acme", params={"items": 7})
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [
        ("Queued",),
        ("Started", 1),
        ("Completed", 1, "job.succeeded"),
    ]
    state = ledger.state(run_id)
    assert (state.outcome, state.ended_by, state.summary) == ("succeeded", "job", {"items": 7})


@pytest.mark.parametrize(
    ("operation_type", "reason", "summary"),
    [
        ("wtest.partial", "job.partially_succeeded", {"ok": 2, "failed": 1}),
        ("wtest.fail", "job.failed", {"why": "bad input"}),
    ],
)
async def test_an_outcome_object_reports_partial_success_or_failure_by_the_job(
    client: RunClient,
    ledger: RunLedger,
    redis_server: str,
    queue_name: str,
    operation_type: str,
    reason: str,
    summary: dict[str, int | str],
) -> None:
    run_id = await client.enqueue(operation_type, workspace="acme")
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [("Queued",), ("Started", 1), ("Completed", 1, reason)]
    assert ledger.state(run_id).summary == summary


async def test_an_exception_ends_the_run_as_job_exception_without_a_retry(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.explode", workspace="acme")
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [
        ("Queued",),
        ("Started", 1),
        ("Completed", 1, "job.exception"),
    ]
    assert ledger.state(run_id).summary == {"error": "ValueError: boom"}


async def test_a_timeout_ends_the_run_as_queue_timeout(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.hang", workspace="acme")
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [
        ("Queued",),
        ("Started", 1),
        ("QueueFailed", 1, "queue.timeout"),
    ]
    assert ledger.state(run_id).outcome == "failed"
    result = await Job(str(run_id), client.redis, _queue_name=queue_name).result_info()
    assert result is not None and isinstance(result.result, asyncio.TimeoutError)


async def test_a_retry_is_recorded_and_the_next_attempt_completes(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.retry", workspace="acme")
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [
        ("Queued",),
        ("Started", 1),
        ("RetryScheduled", 1, "retry.requested"),
        ("Started", 2),
        ("Completed", 2, "job.succeeded"),
    ]
    retry = ledger_calls.run_events(ledger, run_id)[2]
    assert retry.defer_seconds == pytest.approx(0.05)


async def test_exhausted_retries_end_the_run_as_max_tries_exceeded(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.always_retry", workspace="acme")
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [
        ("Queued",),
        ("Started", 1),
        ("RetryScheduled", 1, "retry.requested"),
        ("Started", 2),
        ("RetryScheduled", 2, "retry.requested"),
        ("QueueFailed", 3, "queue.max_tries_exceeded"),
    ]
    # The policy's retry_defer applies when the job's Retry names none.
    assert ledger_calls.run_events(ledger, run_id)[2].defer_seconds == pytest.approx(0.02)
    assert ledger.state(run_id).attempts == 2


async def test_an_abort_while_running_ends_the_run_as_aborted(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.hang", workspace="acme")
    worker = asyncio.create_task(run_burst(make_worker(ledger, redis_server, queue_name)))
    await eventually(lambda: has_event(ledger, run_id, ("Started", 1)))
    job = Job(str(run_id), client.redis, _queue_name=queue_name)
    assert await job.abort(timeout=10, poll_delay=0.02) is True
    await worker
    assert timeline(ledger, run_id) == [
        ("Queued",),
        ("Started", 1),
        ("QueueFailed", 1, "queue.aborted"),
    ]
    assert ledger.state(run_id).outcome == "cancelled"


async def test_an_abort_before_start_ends_the_queued_run_as_aborted(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.succeed", workspace="acme")
    job = Job(str(run_id), client.redis, _queue_name=queue_name)
    abort = asyncio.create_task(job.abort(timeout=10, poll_delay=0.02))
    await eventually_async(lambda: client.redis.zscore(abort_jobs_ss, str(run_id)))
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert await abort is True
    assert timeline(ledger, run_id) == [("Queued",), ("QueueFailed", 1, "queue.aborted")]
    assert str(run_id) not in worker_jobs.EXECUTED


async def test_a_shutdown_cancellation_schedules_a_retry_and_the_next_worker_finishes(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.hang", workspace="acme")
    first = make_worker(ledger, redis_server, queue_name, burst=False)
    running = asyncio.create_task(first.async_run())
    await eventually(lambda: has_event(ledger, run_id, ("Started", 1)))
    first.handle_sig(signal.SIGTERM)  # what arq's SIGTERM handler calls
    with pytest.raises(asyncio.CancelledError):
        await running
    # The cancelled job records its ending before arq re-queues it; then close the worker
    # (with handle_signals=False, close() would cancel a still-running job a second time).
    await asyncio.gather(*first.tasks.values())
    await first.close()
    assert timeline(ledger, run_id)[-1] == ("RetryScheduled", 1, "retry.worker_shutdown")
    assert not ledger.state(run_id).is_terminal

    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [
        ("Queued",),
        ("Started", 1),
        ("RetryScheduled", 1, "retry.worker_shutdown"),
        ("Started", 2),
        ("Completed", 2, "job.succeeded"),
    ]


async def _sleeping_cron(ctx: dict[str, Any]) -> None:
    await asyncio.sleep(30)


async def test_a_cron_pass_cut_short_by_shutdown_leaves_nothing_queued(
    ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    # Its only run is the one at startup: its next tick is hours away (a tick due during
    # the test would queue a new pass, and that one rightly stays queued).
    far_hour = (datetime.now().hour + 12) % 24
    tick = cron(
        _sleeping_cron,
        name="wtest:cron",
        hour={far_hour},
        run_at_startup=True,
        unique=True,
        timeout=5,
    )
    first = make_worker(ledger, redis_server, queue_name, burst=False, cron_jobs=[tick])
    running = asyncio.create_task(first.async_run())
    await eventually(lambda: first.job_tasks, timeout=10)
    redis = first.pool
    try:
        first.handle_sig(signal.SIGTERM)
        with pytest.raises(asyncio.CancelledError):
            await running
        await asyncio.gather(*first.tasks.values())
        left_queued = await redis.zcard(queue_name)
    finally:
        await first.close()
    # Re-queued, the pass would sit behind arq's 60 s cron in-progress key: a burst
    # worker started now would wait for it instead of exiting on an empty queue.
    assert left_queued == 0


async def test_an_expired_job_ends_the_run_as_expired(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.succeed", workspace="acme", expires=0.05)
    key = job_key_prefix + str(run_id)

    async def expired() -> bool:
        return not await client.redis.exists(key)

    await eventually_async(expired)
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [("Queued",), ("QueueFailed", 1, "queue.expired")]
    assert str(run_id) not in worker_jobs.EXECUTED


async def test_a_job_for_a_function_the_worker_lacks_ends_as_function_missing(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.unserved", workspace="acme")
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [
        ("Queued",),
        ("QueueFailed", 1, "queue.function_missing"),
    ]
    assert "wtest.unserved" in (ledger.state(run_id).summary["error"])


async def test_an_undeserializable_job_ends_as_deserialize_error(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    declared = load_operations("tests.worker_jobs").get("wtest.succeed")
    run_id = ledger.queue(
        operation_type="wtest.succeed", workspace="acme", policy=declared.policy
    ).run_id
    await client.redis.set(job_key_prefix + str(run_id), b"\x80 not a pickle")
    await client.redis.zadd(queue_name, {str(run_id): timestamp_ms()})
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [
        ("Queued",),
        ("QueueFailed", 1, "queue.deserialize_error"),
    ]


async def test_a_job_whose_run_is_already_terminal_is_skipped_and_says_so(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.succeed", workspace="acme")
    ledger_calls.reconcile_stale(
        ledger, run_id, reason_code=ReasonCode.RECONCILER_STALE_QUEUED, evidence={}
    )
    await run_burst(make_worker(ledger, redis_server, queue_name))
    assert timeline(ledger, run_id) == [
        ("Queued",),
        ("ReconciledStale", None, "reconciler.stale_queued"),
        ("LateSignalRecorded", 1, "started"),
    ]
    assert str(run_id) not in worker_jobs.EXECUTED


async def test_heartbeats_carry_progress_and_chatty_ones_are_coalesced(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    run_id = await client.enqueue("wtest.heartbeat", workspace="acme")
    await run_burst(make_worker(ledger, redis_server, queue_name, heartbeat_interval=60))
    events = ledger_calls.run_events(ledger, run_id)
    beats = [e.progress for e in events if type(e).__name__ == "Heartbeat"]
    assert beats == [{"done": 1, "total": 3}, {"done": 3, "total": 3}]
    assert ledger.state(run_id).summary == {"written": [True, False, True]}
    assert ledger.state(run_id).last_activity_at >= events[2].timestamp


async def test_a_job_enqueued_around_the_ledger_fails_in_arq_and_the_worker_carries_on(
    client: RunClient, ledger: RunLedger, redis_server: str, queue_name: str
) -> None:
    stray = str(uuid4())  # a run id the ledger never heard of
    await client.redis.enqueue_job("wtest.succeed", _job_id=stray, _queue_name=queue_name)
    run_id = await client.enqueue("wtest.succeed", workspace="acme")
    await run_burst(make_worker(ledger, redis_server, queue_name))
    result = await Job(stray, client.redis, _queue_name=queue_name).result_info()
    assert result is not None and not result.success
    assert "has no run in the ledger" in str(result.result)
    assert timeline(ledger, run_id)[-1] == ("Completed", 1, "job.succeeded")
    assert await Job(stray, client.redis).status() is JobStatus.complete


def watch_claims(
    monkeypatch: pytest.MonkeyPatch, note: Callable[[list[str], list[int | None]], object]
) -> None:
    """Calls `note(job_ids, scores)` after each batch claim the worker sends to Redis."""
    claim = claims.claim

    async def noted(redis: Any, queue: str, job_ids: list[str], *args: int) -> list[int | None]:
        scores = await claim(redis, queue, job_ids, *args)
        note(job_ids, scores)
        return scores

    monkeypatch.setattr(claims, "claim", noted)


async def test_a_busy_worker_does_not_ask_redis_about_jobs_it_is_running(
    client: RunClient,
    ledger: RunLedger,
    redis_server: str,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_ids = [await client.enqueue("wtest.nap", workspace="acme") for _ in range(8)]
    offered: list[str] = []  # ids a poll read back while this worker ran them
    asked: list[str] = []  # of those, the ones sent on to the claim (a Redis round trip)
    workers: list[LedgerWorker] = []

    def running(worker: Worker, job_ids: list[str]) -> list[str]:
        return [j for j in job_ids if (task := worker.tasks.get(j)) is not None and not task.done()]

    ours = LedgerWorker.start_jobs

    async def offer(self: LedgerWorker, job_ids: list[bytes]) -> None:
        workers.append(self)
        offered.extend(running(self, [j.decode() for j in job_ids]))
        await ours(self, job_ids)

    monkeypatch.setattr(LedgerWorker, "start_jobs", offer)
    watch_claims(monkeypatch, lambda job_ids, _: asked.extend(running(workers[-1], job_ids)))
    await run_burst(make_worker(ledger, redis_server, queue_name, max_jobs=3))
    assert offered, "no poll read back a running job: the test proves nothing"
    assert asked == []
    assert_each_succeeded_once(ledger, run_ids)


async def test_a_worker_claims_a_polls_jobs_in_one_round_trip_and_starts_each_once(
    client: RunClient,
    ledger: RunLedger,
    redis_server: str,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_ids = [await client.enqueue("wtest.nap", workspace="acme") for _ in range(9)]
    batches: list[list[str]] = []

    async def one_by_one(self: Worker, job_ids: list[bytes]) -> None:
        raise AssertionError("arq's own claim, a job at a time, was used")

    watch_claims(monkeypatch, lambda job_ids, _: batches.append(job_ids))
    monkeypatch.setattr(Worker, "start_jobs", one_by_one)
    await run_burst(make_worker(ledger, redis_server, queue_name, max_jobs=9))
    assert max(map(len, batches)) == 9  # the first poll's nine ids: one round trip
    # Every id was claimed (a later poll may send an id whose job has just finished;
    # the script finds it gone). Started once each: no job was claimed twice.
    assert {j for b in batches for j in b} == {str(r) for r in run_ids}
    assert_each_succeeded_once(ledger, run_ids)


async def test_a_worker_at_max_jobs_claims_again_as_its_jobs_end_not_a_poll_later(
    client: RunClient,
    ledger: RunLedger,
    redis_server: str,
    queue_name: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    run_ids = [await client.enqueue("wtest.succeed", workspace="acme") for _ in range(6)]
    polls, claimed_in = 0, []  # the poll each claimed id was claimed in
    poll = LedgerWorker._poll_iteration

    async def counted(self: LedgerWorker) -> None:
        nonlocal polls
        polls += 1
        await poll(self)

    monkeypatch.setattr(LedgerWorker, "_poll_iteration", counted)
    watch_claims(
        monkeypatch, lambda _, scores: claimed_in.extend(polls for s in scores if s is not None)
    )
    # Two slots and a long poll delay: arq's claim loop would take two jobs a poll.
    await run_burst(make_worker(ledger, redis_server, queue_name, max_jobs=2, poll_delay=3))
    assert claimed_in == [1] * 6
    assert_each_succeeded_once(ledger, run_ids)
