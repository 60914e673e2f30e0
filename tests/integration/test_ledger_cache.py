"""A RunLedger with a run cache (what workers use) never trusts the cache past a conflict."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from eventsourcing.persistence import OperationalError

from ledger import (
    CompleteRun,
    DatabaseSettings,
    Effect,
    OperationPolicy,
    ReasonCode,
    RunLedger,
    RunNotFoundError,
    StartRun,
)
from tests import ledger_calls

WORKER = "worker:host:1"


@pytest.fixture
def cached(migrated_url: str) -> Iterator[RunLedger]:
    app = RunLedger(DatabaseSettings.from_url(migrated_url), cache_size=100)
    yield app
    app.close()


def test_a_cached_run_ended_by_another_process_meanwhile_records_a_late_signal(
    cached: RunLedger, ledger: RunLedger
) -> None:
    run_id = ledger.queue(
        operation_type="t", workspace="w", policy=OperationPolicy(timeout=5)
    ).run_id
    cached.execute(StartRun(run_id, WORKER, attempt=1, worker_id="host:1"))
    # Another process (the reconciler) ends the run behind the cache's back.
    ledger_calls.reconcile_stale(
        ledger, run_id, reason_code=ReasonCode.RECONCILER_STALE_RUNNING, evidence={}
    )
    done = cached.execute(
        CompleteRun(run_id, WORKER, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED)
    )
    assert done.effect is Effect.LATE
    assert done.run.reason_code == "reconciler.stale_running"
    assert [type(e).__name__ for e in ledger_calls.run_events(ledger, run_id)][-1] == (
        "LateSignalRecorded"
    )


def test_a_batch_that_meets_a_conflict_reloads_every_run_it_cached(
    cached: RunLedger, ledger: RunLedger
) -> None:
    policy = OperationPolicy(timeout=5)
    a, b = (ledger.queue(operation_type="t", workspace="w", policy=policy).run_id for _ in "ab")
    cached.execute_many([StartRun(r, WORKER, attempt=1, worker_id="host:1") for r in (a, b)])
    ledger_calls.start(ledger, a, attempt=2, worker_id="other:2", actor="worker:other:2")
    results = cached.execute_many(
        [CompleteRun(r, WORKER, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED) for r in (a, b)]
    )
    assert [r.effect for r in results] == [Effect.APPLIED, Effect.APPLIED]  # type: ignore[union-attr]
    assert ledger.state(a).attempts == 2
    assert ledger.state(b).is_terminal and ledger.state(a).is_terminal


def test_a_worker_ledger_reads_a_batch_of_unseen_runs_at_once_and_refuses_an_unknown_one_alone(
    migrated_url: str, ledger: RunLedger
) -> None:
    from workers.worker import worker_ledger

    policy = OperationPolicy(timeout=5)
    runs = [ledger.queue(operation_type="t", workspace="w", policy=policy).run_id for _ in "abc"]
    unknown = uuid.uuid4()
    worker = worker_ledger(DatabaseSettings.from_url(migrated_url))
    try:
        results = worker.execute_many(
            [StartRun(r, WORKER, attempt=1, worker_id="host:1") for r in [*runs, unknown]]
        )
    finally:
        worker.close()
    assert [getattr(r, "effect", None) for r in results[:3]] == [Effect.APPLIED] * 3
    assert isinstance(results[3], RunNotFoundError)
    assert all(ledger.state(r).attempts == 1 for r in runs)


def test_a_save_the_store_refused_leaves_no_unsaved_event_in_the_cache(
    cached: RunLedger, ledger: RunLedger, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_id = ledger.queue(
        operation_type="t", workspace="w", policy=OperationPolicy(timeout=5)
    ).run_id
    cached.state(run_id)  # cached, at Queued

    def store_down(*_: object) -> None:
        raise OperationalError("server closed the connection")

    monkeypatch.setattr(cached, "save", store_down)
    start = StartRun(run_id, WORKER, attempt=1, worker_id="host:1")
    with pytest.raises(OperationalError):
        cached.execute_many([start])
    monkeypatch.undo()
    # The retry after the outage applies Started again: it was never saved.
    assert cached.execute_many([start])[0].effect is Effect.APPLIED  # type: ignore[union-attr]
    assert ledger.state(run_id).attempts == 1


def test_a_run_that_a_batch_ends_leaves_the_cache_and_a_live_one_stays(
    cached: RunLedger, ledger: RunLedger
) -> None:
    """Only the runs still in flight stay cached: a worker's memory must not grow with
    every run it ever served (tests/chaos/test_load.py measured +19 % over 10,000 runs)."""
    policy = OperationPolicy(timeout=5)
    ended, live = (ledger.queue(operation_type="t", workspace="w", policy=policy).run_id
                   for _ in "ab")  # fmt: skip
    cached.execute_many([StartRun(r, WORKER, attempt=1, worker_id="host:1") for r in (ended, live)])
    cached.execute_many(
        [CompleteRun(ended, WORKER, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED)]
    )
    cache = cached.repository.cache
    assert cache is not None
    assert cache.get(live) is not None
    with pytest.raises(KeyError):
        cache.get(ended)
    late = cached.execute(StartRun(ended, WORKER, attempt=2, worker_id="host:1"))
    assert late.effect is Effect.LATE  # read again from the store, as it is there
