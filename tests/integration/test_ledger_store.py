"""RunLedger against real stores: every test runs on SQLite and on PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from ledger import (
    CompleteRun,
    DatabaseSettings,
    Effect,
    FailByQueue,
    IllegalTransitionError,
    OperationPolicy,
    OperationRun,
    Outcome,
    ReasonCode,
    RecordHeartbeat,
    RunLedger,
    RunNotFoundError,
    RunStatus,
    StartRun,
)
from ledger.run import TERMINAL_EVENTS
from tests import ledger_calls
from workers.committer import CommitRefusedError, LocalCommitter

POLICY = OperationPolicy(timeout=60, max_tries=3)
WORKER = "worker:host-a:101"


def queue_run(ledger: RunLedger, key: str | None = None) -> OperationRun:
    result = ledger.queue(
        operation_type="inventory.sync",
        workspace="acme",
        policy=POLICY,
        params_summary={"tenant": "t1"},
        idempotency_key=key,
    )
    return ledger_calls.get_run(ledger, result.run_id)


def test_appended_transitions_reload_into_the_same_state(ledger: RunLedger) -> None:
    run = queue_run(ledger)
    ledger_calls.start(ledger, run.id, attempt=1, worker_id=WORKER, actor=WORKER)
    ledger_calls.heartbeat(
        ledger, run.id, attempt=1, actor=WORKER, progress={"done": 2, "total": 9}
    )
    ledger_calls.complete(
        ledger,
        run.id,
        attempt=1,
        reason_code=ReasonCode.JOB_SUCCEEDED,
        actor=WORKER,
        summary={"rows": 9},
    )

    reloaded = ledger_calls.get_run(
        RunLedger(DatabaseSettings.from_url(ledger.settings.url)), run.id
    )
    assert reloaded.status is RunStatus.COMPLETED and reloaded.outcome is Outcome.SUCCEEDED
    assert reloaded.progress == {"done": 2, "total": 9} and reloaded.summary == {"rows": 9}
    assert reloaded.policy == POLICY and reloaded.params_summary == {"tenant": "t1"}
    names = [type(e).__name__ for e in ledger_calls.run_events(ledger, run.id)]
    assert names == ["Queued", "Started", "Heartbeat", "Completed"]


def test_a_repeated_enqueue_with_the_same_key_returns_the_same_run(ledger: RunLedger) -> None:
    first = ledger.queue(
        operation_type="t", workspace="acme", policy=POLICY, idempotency_key="order-7"
    )
    second = ledger.queue(
        operation_type="t", workspace="acme", policy=POLICY, idempotency_key="order-7"
    )
    other_ws = ledger.queue(
        operation_type="t", workspace="beta", policy=POLICY, idempotency_key="order-7"
    )
    assert first.created and not second.created
    assert first.run_id == second.run_id != other_ws.run_id
    assert len(ledger_calls.run_events(ledger, first.run_id)) == 1


def test_an_unknown_run_is_reported_as_not_found(ledger: RunLedger) -> None:
    import uuid

    with pytest.raises(RunNotFoundError):
        ledger_calls.start(ledger, uuid.uuid4(), attempt=1, worker_id=WORKER, actor=WORKER)


def test_two_writers_racing_to_end_one_run_leave_exactly_one_terminal_event(
    ledger: RunLedger,
) -> None:
    other = RunLedger(DatabaseSettings.from_url(ledger.settings.url))
    for _ in range(5):
        run = queue_run(ledger)
        ledger_calls.start(ledger, run.id, attempt=1, worker_id=WORKER, actor=WORKER)
        barrier = threading.Barrier(2)

        def complete(run: OperationRun = run, barrier: threading.Barrier = barrier) -> Effect:
            barrier.wait()
            return ledger_calls.complete(
                ledger, run.id, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, actor=WORKER
            ).effect

        def reconcile(run: OperationRun = run, barrier: threading.Barrier = barrier) -> Effect:
            barrier.wait()
            return ledger_calls.reconcile_stale(
                other, run.id, reason_code=ReasonCode.RECONCILER_STALE_RUNNING, evidence={"n": 1}
            ).effect

        with ThreadPoolExecutor(2) as pool:
            a, b = pool.submit(complete), pool.submit(reconcile)
            effects = [a.result(), b.result()]
        terminal = [
            e for e in ledger_calls.run_events(ledger, run.id) if isinstance(e, TERMINAL_EVENTS)
        ]
        assert len(terminal) == 1, effects
        assert sorted(effects) == [
            Effect.APPLIED,
            Effect.LATE if terminal[0].actor == "reconciler" else Effect.UNCHANGED,
        ]
    other.close()


def test_a_terminal_run_never_changes(ledger: RunLedger) -> None:
    run = queue_run(ledger)
    ledger_calls.fail_by_queue(
        ledger,
        run.id,
        attempt=0,
        reason_code=ReasonCode.QUEUE_EXPIRED,
        actor=WORKER,
        error="job expired",
    )
    before = ledger.state(run.id)
    ledger_calls.start(ledger, run.id, attempt=1, worker_id=WORKER, actor=WORKER)
    ledger_calls.complete(
        ledger, run.id, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, actor=WORKER
    )
    ledger_calls.reconcile_stale(
        ledger, run.id, reason_code=ReasonCode.RECONCILER_JOB_LOST, evidence={}
    )
    after = ledger.state(run.id)
    assert (after.status, after.outcome, after.reason_code, after.completed_at) == (
        before.status,
        before.outcome,
        before.reason_code,
        before.completed_at,
    )
    names = [type(e).__name__ for e in ledger_calls.run_events(ledger, run.id)]
    assert names == ["Queued", "QueueFailed", "LateSignalRecorded", "LateSignalRecorded"]


def test_many_runs_transitions_commit_in_one_batch(ledger: RunLedger) -> None:
    runs = [queue_run(ledger) for _ in range(20)]
    commands = [StartRun(r.id, WORKER, attempt=1, worker_id=WORKER) for r in runs]
    commands += [
        CompleteRun(r.id, WORKER, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED) for r in runs
    ]
    results = ledger.execute_many(commands)
    assert [r.effect for r in results if not isinstance(r, Exception)] == [Effect.APPLIED] * 40
    assert all(ledger.state(r.id).outcome is Outcome.SUCCEEDED for r in runs)


def test_a_refused_command_in_a_batch_does_not_hold_back_the_others(ledger: RunLedger) -> None:
    queued, started = queue_run(ledger), queue_run(ledger)
    ledger_calls.start(ledger, started.id, attempt=1, worker_id=WORKER, actor=WORKER)
    results = ledger.execute_many(
        [
            RecordHeartbeat(queued.id, WORKER, attempt=1),  # illegal: never started
            FailByQueue(started.id, WORKER, attempt=1, reason_code=ReasonCode.QUEUE_TIMEOUT),
        ]
    )
    assert isinstance(results[0], IllegalTransitionError)
    assert ledger.state(started.id).reason_code is ReasonCode.QUEUE_TIMEOUT
    assert ledger.state(queued.id).status is RunStatus.QUEUED


async def test_group_commit_tells_every_caller_when_its_transition_is_durable(
    ledger: RunLedger,
) -> None:
    runs = [queue_run(ledger) for _ in range(50)]
    committer = LocalCommitter(RunLedger, ledger.settings, ledger.clock)
    try:
        transitions = await asyncio.gather(
            *(committer.commit(StartRun(r.id, WORKER, attempt=1, worker_id=WORKER)) for r in runs)
        )
        assert all(t.effect is Effect.APPLIED for t in transitions)
        # Durable: a separate application sees every start.
        fresh = RunLedger(DatabaseSettings.from_url(ledger.settings.url))
        assert all(fresh.state(r.id).status is RunStatus.RUNNING for r in runs)
        fresh.close()
        with pytest.raises(CommitRefusedError, match=IllegalTransitionError.__name__):
            await committer.commit(RecordHeartbeat(queue_run(ledger).id, WORKER, attempt=1))
    finally:
        await committer.aclose()
    assert committer.batches_committed < 50  # batched, not one transaction per command


def test_an_old_heartbeat_without_progress_is_upcast_on_reload(ledger: RunLedger) -> None:
    run = queue_run(ledger)
    ledger_calls.start(ledger, run.id, attempt=1, worker_id=WORKER, actor=WORKER)
    # Store a version-1 Heartbeat as an older runledger wrote it: no progress, no class_version.
    stored = ledger.mapper.to_stored_event(
        OperationRun.Heartbeat(
            originator_id=run.id,
            originator_version=3,
            timestamp=ledger.clock(),
            actor=WORKER,
            attempt=1,
            progress={"x": 1},
        )
    )
    state = json.loads(stored.state)
    state.pop("progress")
    state.pop("class_version", None)
    old = type(stored)(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state).encode(),
    )
    ledger.recorder.insert_events([old])
    reloaded = ledger_calls.get_run(ledger, run.id)
    assert reloaded.heartbeats == 1 and reloaded.progress == {}
