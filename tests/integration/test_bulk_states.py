"""`RunLedger.states` reads many runs at once (the reconciler's candidates): in bulk on
PostgreSQL with the worker's reader, one read each without it, the same states either way."""

from __future__ import annotations

import uuid

from ledger import (
    CompleteRun,
    DatabaseSettings,
    OperationPolicy,
    ReasonCode,
    RunLedger,
    StartRun,
)

WORKER = "worker:host:1"


def test_many_runs_read_at_once_are_the_runs_read_one_by_one(
    ledger: RunLedger, migrated_url: str
) -> None:
    policy = OperationPolicy(timeout=5)
    ids = [ledger.queue(operation_type="t", workspace="w", policy=policy).run_id for _ in range(7)]
    for run_id in ids[2:]:
        ledger.execute(StartRun(run_id, WORKER, attempt=1, worker_id="host:1"))
    ledger.execute(CompleteRun(ids[3], WORKER, attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED))
    wanted = [*ids, uuid.uuid4()]  # one the store does not hold is left out
    one_by_one = {ledger.state(run_id).id: ledger.state(run_id) for run_id in ids}

    bulk = RunLedger(DatabaseSettings.from_url(migrated_url), bulk_reads=True)
    try:
        assert bulk.bulk_reads == bulk.settings.is_postgres
        for chunk in (1000, 3):  # one query, and several
            read = bulk.states(wanted, chunk=chunk)
            assert sorted(state.id for state in read) == sorted(ids)
            assert {state.id: state for state in read} == one_by_one
    finally:
        bulk.close()
    assert ledger.states([]) == []
    assert sorted(s.id for s in ledger.states(wanted)) == sorted(ids)
