"""One call per run transition, for tests that hold a RunLedger but no command objects.

The application code builds commands (`ledger.commands`) and calls `RunLedger.execute`
or `execute_many`; these keyword-only shortcuts, and two reads of the store, are what
tests used to call on RunLedger itself: `ledger_calls.start(ledger, run_id, ...)`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from ledger import (
    Actor,
    CompleteRun,
    FailByQueue,
    OperationRun,
    Outcome,
    ReasonCode,
    ReconcileStale,
    RecordHeartbeat,
    RecordLateSignal,
    RunLedger,
    RunNotFoundError,
    ScheduleRetry,
    StartRun,
    Transition,
)


def start(
    ledger: RunLedger, run_id: UUID, *, attempt: int, worker_id: str, actor: str
) -> Transition:
    return ledger.execute(StartRun(run_id, actor, attempt=attempt, worker_id=worker_id))


def heartbeat(
    ledger: RunLedger,
    run_id: UUID,
    *,
    attempt: int,
    actor: str,
    progress: dict[str, Any] | None = None,
) -> Transition:
    return ledger.execute(RecordHeartbeat(run_id, actor, attempt=attempt, progress=progress or {}))


def schedule_retry(
    ledger: RunLedger,
    run_id: UUID,
    *,
    attempt: int,
    reason: str,
    actor: str,
    defer_seconds: float = 0.0,
    error: str | None = None,
) -> Transition:
    command = ScheduleRetry(
        run_id, actor, attempt=attempt, reason=reason, defer_seconds=defer_seconds, error=error
    )
    return ledger.execute(command)


def complete(
    ledger: RunLedger,
    run_id: UUID,
    *,
    attempt: int,
    reason_code: ReasonCode,
    actor: str,
    summary: dict[str, Any] | None = None,
) -> Transition:
    command = CompleteRun(
        run_id, actor, attempt=attempt, reason_code=reason_code, summary=summary or {}
    )
    return ledger.execute(command)


def fail_by_queue(
    ledger: RunLedger,
    run_id: UUID,
    *,
    attempt: int,
    reason_code: ReasonCode,
    actor: str,
    error: str | None = None,
) -> Transition:
    command = FailByQueue(run_id, actor, attempt=attempt, reason_code=reason_code, error=error)
    return ledger.execute(command)


def reconcile_stale(
    ledger: RunLedger,
    run_id: UUID,
    *,
    reason_code: ReasonCode,
    evidence: dict[str, Any],
    outcome: Outcome | None = None,
    observed_last_activity_at: datetime | None = None,
    actor: str = Actor.RECONCILER,
) -> Transition:
    command = ReconcileStale(
        run_id,
        actor,
        reason_code=reason_code,
        evidence=evidence,
        outcome=outcome,
        observed_last_activity_at=observed_last_activity_at,
    )
    return ledger.execute(command)


def record_late_signal(
    ledger: RunLedger,
    run_id: UUID,
    *,
    signal: str,
    attempt: int,
    actor: str,
    details: dict[str, Any] | None = None,
) -> Transition:
    command = RecordLateSignal(run_id, actor, signal=signal, attempt=attempt, details=details or {})
    return ledger.execute(command)


def get_run(ledger: RunLedger, run_id: UUID) -> OperationRun:
    """A run of the caller's own (a copy when it comes from the ledger's cache)."""
    with ledger._writing:
        return ledger._load(run_id, copy=True)


def run_events(ledger: RunLedger, run_id: UUID) -> list[Any]:
    """Every stored event of one run, oldest first."""
    events = list(ledger.events.get(run_id))
    if not events:
        raise RunNotFoundError(run_id)
    return events
