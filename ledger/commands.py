"""Commands: one per run transition. Each names its run and applies itself to it.

Commands are plain values, so a caller can hand them to `RunLedger.execute` one at a time
or to `RunLedger.execute_many` to share one transaction with others (as a worker's
committer does).
`at` is when the signal happened; left out, the ledger's clock supplies it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from ledger.codes import Outcome, ReasonCode, RetryReason
from ledger.run import Effect, OperationRun


@dataclass(frozen=True)
class RunCommand:
    run_id: UUID
    actor: str
    at: datetime | None = field(default=None, kw_only=True)

    def apply(self, run: OperationRun, at: datetime) -> Effect:
        raise NotImplementedError


@dataclass(frozen=True)
class StartRun(RunCommand):
    attempt: int
    worker_id: str

    def apply(self, run: OperationRun, at: datetime) -> Effect:
        return run.start(attempt=self.attempt, worker_id=self.worker_id, actor=self.actor, at=at)


@dataclass(frozen=True)
class RecordHeartbeat(RunCommand):
    attempt: int
    progress: dict[str, Any] = field(default_factory=dict)

    def apply(self, run: OperationRun, at: datetime) -> Effect:
        return run.heartbeat(attempt=self.attempt, progress=self.progress, actor=self.actor, at=at)


@dataclass(frozen=True)
class ScheduleRetry(RunCommand):
    attempt: int
    reason: RetryReason | str  # a RetryReason, or the string of one (from the wire)
    defer_seconds: float = 0.0
    error: str | None = None

    def apply(self, run: OperationRun, at: datetime) -> Effect:
        return run.schedule_retry(
            attempt=self.attempt,
            reason=self.reason,
            defer_seconds=self.defer_seconds,
            error=self.error,
            actor=self.actor,
            at=at,
        )


@dataclass(frozen=True)
class CompleteRun(RunCommand):
    attempt: int
    reason_code: ReasonCode
    summary: dict[str, Any] = field(default_factory=dict)

    def apply(self, run: OperationRun, at: datetime) -> Effect:
        return run.complete(
            attempt=self.attempt,
            reason_code=self.reason_code,
            summary=self.summary,
            actor=self.actor,
            at=at,
        )


@dataclass(frozen=True)
class FailByQueue(RunCommand):
    attempt: int
    reason_code: ReasonCode
    error: str | None = None

    def apply(self, run: OperationRun, at: datetime) -> Effect:
        return run.fail_by_queue(
            attempt=self.attempt,
            reason_code=self.reason_code,
            error=self.error,
            actor=self.actor,
            at=at,
        )


@dataclass(frozen=True)
class ReconcileStale(RunCommand):
    reason_code: ReasonCode
    evidence: dict[str, Any] = field(default_factory=dict)
    outcome: Outcome | None = None
    observed_last_activity_at: datetime | None = None

    def apply(self, run: OperationRun, at: datetime) -> Effect:
        return run.reconcile_stale(
            reason_code=self.reason_code,
            evidence=self.evidence,
            outcome=self.outcome,
            observed_last_activity_at=self.observed_last_activity_at,
            actor=self.actor,
            at=at,
        )


@dataclass(frozen=True)
class RecordLateSignal(RunCommand):
    signal: str
    attempt: int
    details: dict[str, Any] = field(default_factory=dict)

    def apply(self, run: OperationRun, at: datetime) -> Effect:
        return run.record_late_signal(
            signal=self.signal, attempt=self.attempt, details=self.details, actor=self.actor, at=at
        )
