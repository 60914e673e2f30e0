"""A mixed ledger workload with every event type, shared by the projection tests."""

from __future__ import annotations

from uuid import UUID, uuid4

from ledger import OperationPolicy, ReasonCode, RunLedger
from tests import ledger_calls

FAST = OperationPolicy(timeout=30, max_tries=3, stale_queued_after=600, stale_running_after=120)
SLOW = OperationPolicy(timeout=300, max_tries=5, stale_queued_after=3600, stale_running_after=900)
W1 = "worker:host-a:101"
W2 = "worker:host-b:202"


def mixed_workload(ledger: RunLedger, rounds: int = 1) -> dict[str, UUID]:
    """Runs in every state and every ending; returns the last round's run ids by role."""
    runs: dict[str, UUID] = {}
    for n in range(rounds):
        runs = _one_round(ledger, n)
    return runs


def _queue(ledger: RunLedger, workspace: str, kind: str, n: int) -> UUID:
    policy = FAST if kind == "inventory.sync" else SLOW
    return ledger.queue(
        operation_type=kind, workspace=workspace, policy=policy, params_summary={"n": n}
    ).run_id


def _one_round(ledger: RunLedger, n: int) -> dict[str, UUID]:
    r = {
        "queued": _queue(ledger, "acme", "inventory.sync", n),
        "running": _queue(ledger, "acme", "inventory.sync", n),
        "retried": _queue(ledger, "acme", "report.build", n),
        "queue_failed": _queue(ledger, "beta", "inventory.sync", n),
        "stale": _queue(ledger, "beta", "report.build", n),
        "lost": _queue(ledger, "beta", "inventory.sync", n),
        "partial": _queue(ledger, "acme", "report.build", n),
    }
    ledger_calls.start(ledger, r["running"], attempt=1, worker_id=W1, actor=W1)
    ledger_calls.heartbeat(
        ledger, r["running"], attempt=1, actor=W1, progress={"done": 1, "total": 4}
    )
    ledger_calls.heartbeat(
        ledger, r["running"], attempt=1, actor=W1, progress={"done": 2, "total": 4}
    )
    ledger_calls.start(ledger, r["retried"], attempt=1, worker_id=W1, actor=W1)
    ledger_calls.schedule_retry(
        ledger, r["retried"], attempt=1, reason="retry.requested", defer_seconds=5, actor=W1
    )
    ledger_calls.start(ledger, r["retried"], attempt=2, worker_id=W2, actor=W2)
    ledger_calls.complete(
        ledger,
        r["retried"],
        attempt=2,
        reason_code=ReasonCode.JOB_SUCCEEDED,
        actor=W2,
        summary={"rows": 9},
    )
    ledger_calls.start(ledger, r["queue_failed"], attempt=1, worker_id=W2, actor=W2)
    ledger_calls.fail_by_queue(
        ledger,
        r["queue_failed"],
        attempt=1,
        reason_code=ReasonCode.QUEUE_TIMEOUT,
        actor=W2,
        error="TimeoutError()",
    )
    # The job's own completion arrives after the queue failed it: recorded, state unchanged.
    ledger_calls.complete(
        ledger, r["queue_failed"], attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, actor=W2
    )
    ledger_calls.start(ledger, r["stale"], attempt=1, worker_id=W1, actor=W1)
    ledger_calls.reconcile_stale(
        ledger,
        r["stale"],
        reason_code=ReasonCode.RECONCILER_STALE_RUNNING,
        evidence={"previous_status": "running", "arq": "queued"},
    )
    ledger_calls.reconcile_stale(
        ledger, r["lost"], reason_code=ReasonCode.RECONCILER_JOB_LOST, evidence={"arq": "not_found"}
    )
    ledger_calls.start(ledger, r["partial"], attempt=1, worker_id=W1, actor=W1)
    ledger_calls.complete(
        ledger,
        r["partial"],
        attempt=1,
        reason_code=ReasonCode.JOB_PARTIALLY_SUCCEEDED,
        actor=W1,
        summary={"ok": 3, "failed": 1},
    )
    return r


def bulk_runs(ledger: RunLedger, runs: int, per_save: int = 250) -> None:
    """Many completed runs (four events each), saved many aggregates per transaction."""
    from datetime import timedelta

    from ledger import OperationRun, utcnow

    start = utcnow()
    for first in range(0, runs, per_save):
        batch = []
        for n in range(first, min(first + per_save, runs)):
            at = start + timedelta(milliseconds=n)
            run = OperationRun.queue(
                run_id=uuid4(),
                workspace=f"ws{n % 3}",
                operation_type="bulk.op",
                policy=FAST,
                actor="system",
                at=at,
            )
            run.start(attempt=1, worker_id=W1, actor=W1, at=at)
            run.heartbeat(attempt=1, progress={"n": n}, actor=W1, at=at)
            run.complete(
                attempt=1, reason_code=ReasonCode.JOB_SUCCEEDED, summary={}, actor=W1, at=at
            )
            batch.append(run)
        ledger.save(*batch)
